"""Compare 2-5 runs: held-out accuracy and mean reward per round overlaid, one colour per
run, and their configs side by side with the fields that differ marked."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import PlotextPlot

from ..compare_data import ConfigRow, RunCurves, config_rows, load_comparison, plot_titles
from ..run_colors import rgb
from ..widgets.accuracy_plot import round_axes

DIFF_MARK = "≠"
VALUE_MIN_WIDTH = 12   # the narrowest a run's column of the config table gets


def value_width(total: int, field_width: int, n_runs: int) -> int:
    """The widest a run's config column may be so that all runs fit in ``total`` cells (a
    long value, such as an imported run's file path or hash, is cut rather than pushing the
    other runs off the screen)."""
    # the border and scroll bar, the mark column, the field column, one cell of padding each side
    room = total - 4 - 3 - (field_width + 2) - 2 * n_runs
    return max(VALUE_MIN_WIDTH, room // max(1, n_runs))


class CurvesPlot(PlotextPlot):
    """One curve per run (its colour), values 0-1 per round."""

    can_focus = True

    def __init__(self, series: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series = series        # "heldout" or "reward"
        self.curves: dict[str, list[tuple[int, float]]] = {}

    def show(self, runs: list[RunCurves], rounds: list[int]) -> None:
        """Each run's curve over ``rounds`` (the same x axis for both plots)."""
        self.curves = {r.run_id: getattr(r, self.series) for r in runs}
        plt = self.plt
        plt.clear_data()
        rounds = rounds or [0, 1]
        for run in runs:
            points = getattr(run, self.series)
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], color=rgb(run.color), marker="hd")
        round_axes(plt, rounds)
        self.refresh()


def legend(runs: list[RunCurves]) -> Text:
    """Each run's colour, name and its last held-out accuracy and mean reward."""
    out = Text()
    for run in runs:
        out.append("■ ", style=run.color)
        out.append(run.name, style=f"bold {run.color}")
        acc = f"R{run.heldout[-1][0]} {run.heldout[-1][1]:.1%}" if run.heldout else "–"
        if run.heldout and run.heldout_of:
            acc += f" ({run.heldout_of})"
        reward = f"R{run.reward[-1][0]} {run.reward[-1][1]:.2f}" if run.reward else "–"
        out.append(f"  held-out {acc} · mean reward {reward}\n", style="")
    out.rstrip()
    return out


class CompareScreen(Screen):
    CSS_PATH = "compare.tcss"
    BINDINGS = [
        Binding("d", "toggle_differences", "Only differences", id="compare.differences",
                tooltip="Show only the config fields that differ between the runs, or all of them"),
        Binding("b", "back", "Back", id="compare.back", tooltip="Back to the runs"),
        Binding("escape", "back", "Back", show=False, id="compare.back_escape"),
        Binding("question_mark", "app.help", "Help", id="compare.help"),
    ]

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__(id="compare-screen")
        self.run_ids = list(run_ids)
        self.runs: list[RunCurves] = []
        self.rows: list[ConfigRow] = []
        self.only_differences = False

    def compose(self) -> ComposeResult:
        yield Static(id="compare-title")
        yield Static(id="compare-legend")
        with Horizontal(id="compare-plots"):
            yield CurvesPlot("heldout", id="compare-heldout")
            yield CurvesPlot("reward", id="compare-reward")
        yield DataTable(id="compare-config", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.runs = load_comparison(self.app.store, self.run_ids)
        self.rows = config_rows(self.runs)
        differing = sum(row.differs for row in self.rows)
        self.query_one("#compare-title", Static).update(
            f"[b]Compare {len(self.runs)} runs[/b] · held-out accuracy and mean reward per round · "
            f"{differing} of {len(self.rows)} fields differ ({DIFF_MARK})")
        self.query_one("#compare-legend", Static).update(legend(self.runs))
        heldout_title, reward_title = plot_titles(self.runs)
        self.query_one("#compare-heldout").border_title = heldout_title
        self.query_one("#compare-reward").border_title = reward_title
        rounds = sorted({rnd for r in self.runs for rnd, _ in r.heldout + r.reward})
        for plot in self.query(CurvesPlot):
            plot.show(self.runs, rounds)
        table = self.query_one("#compare-config", DataTable)
        table.add_column(" ", key="mark", width=1)
        field_width = max([len("field"), *(len(row.field) for row in self.rows)])
        table.add_column("field", key="field", width=field_width)
        cap = value_width(self.app.size.width, field_width, len(self.runs))
        for i, run in enumerate(self.runs):
            natural = max([cell_len(run.name), *(cell_len(row.values[i]) for row in self.rows)])
            table.add_column(Text(run.name, style=f"bold {run.color}", overflow="ellipsis", no_wrap=True),
                             key=run.run_id, width=min(natural, cap))
        self._fill_table()
        table.focus()

    def _fill_table(self) -> None:
        table = self.query_one("#compare-config", DataTable)
        table.clear()
        for row in self.rows:
            if self.only_differences and not row.differs:
                continue
            style = "bold" if row.differs else "dim"
            table.add_row(Text(DIFF_MARK if row.differs else "", style="bold yellow"),
                          Text(row.field, style=style),
                          *(Text(v, style="bold yellow" if row.differs else "dim", overflow="ellipsis",
                                 no_wrap=True) for v in row.values),
                          key=row.field)
        table.border_title = "Config" + (" · only the fields that differ" if self.only_differences else "")
        table.border_subtitle = "d: only differences" if not self.only_differences else "d: all fields"

    def action_toggle_differences(self) -> None:
        self.only_differences = not self.only_differences
        self._fill_table()

    def action_back(self) -> None:
        self.app.pop_screen()
