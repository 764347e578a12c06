"""The runs screen's table: every run in the store, newest first."""

from __future__ import annotations

import json
import time

from textual.binding import Binding

from engine.store.facts import LIVE_STATUSES

from ..format import STATUS_ICON, STATUS_STYLE, date_time, duration, pct, printable, status_label
from ..imported import headline_text, recorded_short, reference
from .line_table import LineTable

NARROW_DROP = ("model", "started", "source")   # columns left out below 110 cells
SOURCE_FROM = 130   # the Source column from this width (narrower, an import's preset, seal-reference, says it)


def run_values(run: dict, now: float, mark: str | None = None) -> tuple:
    """A run's row: one (text, sort key, style) per column; ``mark``: the colour of a selected run."""
    status = run["display_status"]
    source = run.get("source") or "engine"
    if source == "imported":
        return _imported_values(run, mark)
    start = run.get("started_at") or run.get("created_at")
    end = run.get("finished_at") if status not in LIVE_STATUSES else None
    label = f"{STATUS_ICON.get(status, '·')} {status_label(status)}"
    if status == "stale":
        end = run.get("heartbeat_at") or end
        if end:   # the engine's last sign of life (seal-tui show RUN says more)
            label += " " + time.strftime("%H:%M" if now - end < 20 * 3600 else "%b %d", time.localtime(end))
    dur = (end or now) - start if start else None
    rounds = run.get("rounds") or 0
    best = run.get("best_heldout")
    return (
        _name(run, mark),
        (label, status, STATUS_STYLE.get(status, "")),
        (run.get("preset") or "–", run.get("preset") or "", ""),
        (printable(run.get("model") or "–"), run.get("model") or "", ""),
        (f"{run.get('current_round') or 0}/{rounds}" if rounds else "–", rounds, ""),
        (pct(best), -1 if best is None else best, ""),
        (date_time(start), start or 0, ""),
        (duration(dur), dur or 0, ""),
        (source, source, "dim"),
    )


def _name(run: dict, mark: str | None) -> tuple:
    return (("◆ " if mark else "") + printable(run.get("name") or run["id"]), run.get("name") or "",
            f"bold {mark}" if mark else "bold")


def _imported_values(run: dict, mark: str | None) -> tuple:
    """An imported run: its round, its file's headline figure, the file's own time, no duration."""
    status = run["display_status"]
    try:
        config = json.loads(run.get("config_json") or "{}")
    except ValueError:
        config = {}
    ref = reference(config)
    figure = ref.get("headline") or {}
    value = figure.get("value") if isinstance(figure.get("value"), (int, float)) else run.get("best_heldout")
    rnd = run.get("rounds") or 0
    written = ref.get("recorded_at") if isinstance(ref.get("recorded_at"), (int, float)) else 0
    return (
        _name(run, mark),
        (f"{STATUS_ICON.get(status, '·')} {status_label(status)}", status, STATUS_STYLE.get(status, "")),
        (run.get("preset") or "–", run.get("preset") or "", ""),
        (printable(run.get("model") or "–"), run.get("model") or "", ""),
        (str(rnd), rnd, ""),
        (headline_text(value, figure.get("unit")), -1 if value is None else value, ""),
        (recorded_short(config), written, ""),
        ("–", 0, "dim"),
        ("imported", "imported", "dim"),
    )


def matches(run: dict, needle: str) -> bool:
    if not needle:
        return True
    hay = " ".join(str(run.get(k) or "") for k in ("id", "name", "display_status", "preset", "model", "source"))
    return needle.lower() in hay.lower()


class RunsTable(LineTable):
    # Held-out: the best held-out accuracy of an engine run; an imported file's headline figure
    # (a ranking's mean reward, an M-step set's size...); Started: an imported file's own time
    WIDE_COLUMNS = (("name", "Name", None, False), ("status", "Status", 16, False),
                    ("preset", "Preset", 14, False), ("model", "Model", 18, False),
                    ("round", "Round", 5, True), ("best", "Held-out", 8, True),
                    ("started", "Started", 16, False), ("duration", "Duration", 8, True),
                    ("source", "Source", 8, False))
    COLUMNS = WIDE_COLUMNS
    MIN_FLEX = 12
    BINDINGS = [Binding("enter", "select", "Open", id="runs.open_row", tooltip="Open the run's dashboard")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runs: dict[str, dict] = {}
        self._last: tuple = ([], 0.0, "", None)

    def _columns_for(self, width: int) -> tuple:
        return tuple(c for c in self.WIDE_COLUMNS if (width >= 110 or c[0] not in NARROW_DROP)
                     and (width >= SOURCE_FROM or c[0] != "source"))

    def on_resize(self) -> None:
        columns = self._columns_for(self.size.width)
        if columns != self.COLUMNS:
            self.COLUMNS = columns
            self._strips.clear()
            self.show_runs(*self._last)
        super().on_resize()

    def show_runs(self, runs: list[dict], now: float, needle: str = "",
                  marks: dict[str, str] | None = None) -> None:
        """Show ``runs`` (newest first) that match ``needle``, keeping the cursor on the same run;
        ``marks``: selected run id -> its colour."""
        self._last = (runs, now, needle, marks)
        marks = marks or {}
        self.COLUMNS = self._columns_for(self.size.width or self.app.size.width)
        keys = [c[0] for c in self.COLUMNS]
        wide = [c[0] for c in self.WIDE_COLUMNS]
        visible = [r for r in runs if matches(r, needle)]
        self.runs = {r["id"]: r for r in visible}
        self.set_rows((r["id"], tuple(v for k, v in zip(wide, run_values(r, now, marks.get(r["id"]))) if k in keys))
                      for r in visible)

    @property
    def selected_run_id(self) -> str | None:
        return self.cursor_id
