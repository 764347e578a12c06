"""The runs screen's table: every run in the store, newest first."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from ..format import STATUS_ICON, STATUS_STYLE, date_time, duration, pct, printable, status_label

COLUMNS = (("name", "Name", None), ("status", "Status", 16), ("preset", "Preset", 11),
           ("model", "Model", 18), ("round", "Round", 5), ("best", "Held-out", 8),
           ("started", "Started", 16), ("duration", "Duration", 8))
NARROW_DROP = ("model", "started")   # columns left out below 110 cells


def run_cells(run: dict, now: float) -> list:
    status = run["display_status"]
    start = run.get("started_at") or run.get("created_at")
    end = run.get("finished_at") if status not in ("running", "paused", "awaiting_review", "created") else None
    if status == "stale":
        end = run.get("heartbeat_at") or end
    dur = (end or now) - start if start else None
    rounds = run.get("rounds") or 0
    return [
        Text(printable(run.get("name") or run["id"]), style="bold", overflow="ellipsis", no_wrap=True),
        Text(f"{STATUS_ICON.get(status, '·')} {status_label(status)}", style=STATUS_STYLE.get(status, "")),
        Text(run.get("preset") or "–"),
        Text(printable(run.get("model") or "–"), overflow="ellipsis", no_wrap=True),
        Text(f"{run.get('current_round') or 0}/{rounds}" if rounds else "–", justify="right"),
        Text(pct(run.get("best_heldout")), justify="right"),
        Text(date_time(start)),
        Text(duration(dur), justify="right"),
    ]


def matches(run: dict, needle: str) -> bool:
    if not needle:
        return True
    hay = " ".join(str(run.get(k) or "") for k in ("id", "name", "display_status", "preset", "model"))
    return needle.lower() in hay.lower()


class RunsTable(DataTable):
    BINDINGS = [Binding("enter", "select_cursor", "Open", id="runs.open_row", tooltip="Open the run's dashboard")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.runs: dict[str, dict] = {}
        self._plain: dict[str, tuple[str, ...]] = {}
        self._columns: tuple = ()
        self._last: tuple[list[dict], float, str] = ([], 0.0, "")

    def _wanted_columns(self) -> tuple:
        width = self.size.width or self.app.size.width
        return tuple(c for c in COLUMNS if width >= 110 or c[0] not in NARROW_DROP)

    def _set_columns(self) -> bool:
        wanted = self._wanted_columns()
        if wanted == self._columns:
            return False
        self.clear(columns=True)
        self._columns = wanted
        self._plain = {}
        fixed = sum(w or 0 for _, _, w in wanted) + 2 * self.cell_padding * len(wanted) + 3
        for key, label, width in wanted:
            self.add_column(label, key=key, width=width or max(12, (self.size.width or self.app.size.width) - fixed))
        return True

    def on_resize(self) -> None:
        if self._set_columns():
            self.show_runs(*self._last)

    def show_runs(self, runs: list[dict], now: float, needle: str = "") -> None:
        """Show ``runs`` (newest first), keeping the cursor on the same run."""
        self._last = (runs, now, needle)
        self._set_columns()
        selected = self.selected_run_id
        visible = [r for r in runs if matches(r, needle)]
        self.runs = {r["id"]: r for r in visible}
        current = [row.key.value for row in self.ordered_rows] if self._plain else None
        wanted = [r["id"] for r in visible]
        keys = [c[0] for c in self._columns]
        cells = {r["id"]: [cell for (key, _, _), cell in zip(COLUMNS, run_cells(r, now)) if key in keys]
                 for r in visible}
        plain = {rid: tuple(c.plain for c in row) for rid, row in cells.items()}
        if current == wanted:
            for rid, row in cells.items():
                if plain[rid] != self._plain.get(rid):
                    for key, cell in zip(keys, row):
                        self.update_cell(rid, key, cell)
        else:
            self.clear()
            for rid, row in cells.items():
                self.add_row(*row, key=rid)
        self._plain = plain
        if current != wanted:
            if selected in self.runs:
                self.move_cursor(row=wanted.index(selected), animate=False)

    @property
    def selected_run_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        except Exception:
            return None
