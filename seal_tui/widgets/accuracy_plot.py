"""Held-out accuracy per round (no adaptation, passage only, self-edits), mean train
reward, and the M-step loss on the right axis, drawn with plotext."""

from __future__ import annotations

from statistics import fmean

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from engine.events import KNOWLEDGE_LABELS

from ..imported import is_imported, kind_words
from ..state import RunState

SERIES = (  # key in eval_result, legend label (the passage-only one named by the task), colour
    ("none", "none", "red"),
    ("passage", "passage", "yellow"),
    ("self_edit", "self-edits", "green"),
    ("teacher", "teacher", "blue"),          # a teacher model's self-edits (imported gpt4_1; the labels name it)
)
EXTRA = (("train_reward", "train reward", "cyan"), ("mstep_loss", "M-step loss →", "magenta"))


def accuracy_series(state: RunState) -> dict[str, tuple[list[int], list[float]]]:
    """Each curve as (rounds, values); the plot and the tests read the same numbers."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for key, _, _ in SERIES:
        pts = [(r, float(ev[key])) for r, ev in sorted(state.evals.items())
               if ev.get(key) is not None]
        if pts:
            out[key] = ([p[0] for p in pts], [p[1] for p in pts])
    reward = dict(state.metrics.get("train_reward_mean", {}))
    for rnd, vals in state.rewards.items():
        if rnd not in reward and vals:
            reward[rnd] = fmean(vals)
    if reward:
        rounds = sorted(reward)
        out["train_reward"] = (rounds, [reward[r] for r in rounds])
    loss = {r: float(d["loss"]) for r, d in state.mstep_done.items()
            if not d.get("skipped") and d.get("loss") is not None}
    for rnd, value in state.metrics.get("mstep_loss", {}).items():
        loss.setdefault(rnd, value)
    if loss:
        rounds = sorted(loss)
        out["mstep_loss"] = (rounds, [loss[r] for r in rounds])
    return out


def series_name(key: str, name: str, labels: dict[str, str]) -> str:
    """A curve's name in the legend: the task's own name for the condition where it has one
    (few-shot: "in-context only", "oracle", "self-edit TTT"), else the short built-in one."""
    if key == "passage":
        return labels["passage_short"]
    own = labels.get(key)
    return own if own and own != KNOWLEDGE_LABELS.get(key) else name


def legend(series: dict, labels: dict[str, str] | None = None, absent: str | None = None) -> Text:
    """Each curve's colour, name and latest value (the plot is too small for plotext's legend);
    ``absent``: what a run that will record nothing more says when it has no curve."""
    labels = {**KNOWLEDGE_LABELS, **(labels or {})}
    out = Text()
    if not series:
        return Text(absent or "waiting for the first held-out evaluation (round 0)", style="dim")
    held_out = [series[key][0][-1] for key, _, _ in SERIES if key in series]
    last_round = max(held_out or [xs[-1] for xs, _ in series.values()])
    out.append(f"R{last_round} held-out: " if held_out else f"R{last_round}: ", style="bold")
    for key, label, color in SERIES + EXTRA:
        if key not in series:
            continue
        rounds, values = series[key]
        value = values[-1]
        shown = f"{value:.2f}" if key in ("train_reward", "mstep_loss") else f"{value:.0%}"
        if rounds[-1] != last_round:  # e.g. passage-only, measured at round 0 only
            shown += f" (R{rounds[-1]})"
        out.append("■ ", style=color)
        out.append(f"{series_name(key, label, labels)} {shown} ")
    out.rstrip()
    return out


class AccuracyView(Vertical):
    """The legend line above the plot."""

    def compose(self) -> ComposeResult:
        yield Static(legend({}), id="accuracy-legend")
        yield AccuracyPlot(id="accuracy")

    def show(self, state: RunState) -> None:
        series = accuracy_series(state)
        absent = None
        if is_imported(state):
            other = [name for name, ev in (("multi-passage", "multi_passage"), ("forgetting", "forgetting"))
                     if any(getattr(e, ev) is not None for e in state.round_evals.values())]
            absent = ("no accuracy per round in this file" + (f": its {' and '.join(other)} evaluation is in the "
                                                             "Evals pane (e)" if other else f": it is {kind_words(state.config)}"))
        self.query_one("#accuracy-legend", Static).update(legend(series, state.labels, absent))
        self.query_one(AccuracyPlot).show_series(series)


class AccuracyPlot(PlotextPlot):
    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._series: dict = {}
        self._drawn: dict | None = None
        self._cache = None

    def show_series(self, series: dict) -> None:
        if series == self._drawn:
            return
        self._series = series
        self._drawn = series
        self._draw()
        self._cache = None
        self.refresh()

    def render(self):
        # plotext's build is slow; redraw only when the data, the size or the theme changed
        key = (self.size, self.app.theme)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, super().render())
        return self._cache[1]

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        series = self._series
        rounds = sorted({r for xs, _ in series.values() for r in xs}) or [0, 1]
        for key, _, color in SERIES + EXTRA[:1]:
            if key in series:
                xs, ys = series[key]
                plt.plot(xs, ys, color=color, marker="hd")
        if "mstep_loss" in series:
            xs, ys = series["mstep_loss"]
            plt.plot(xs, ys, color="magenta", marker="dot", yside="right")
        round_axes(plt, rounds)


def round_axes(plt, rounds: list[int]) -> None:
    """Rounds along x (one tick each), a 0-1 fraction along y: the axes of every accuracy plot."""
    lo, hi = min(rounds), max(rounds)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    plt.xlim(lo, hi)
    plt.ylim(0, 1)
    plt.xticks(rounds, [str(r) for r in rounds])
    plt.yticks([0, 0.25, 0.5, 0.75, 1.0], ["0", ".25", ".5", ".75", "1"])
    plt.xlabel("round")
