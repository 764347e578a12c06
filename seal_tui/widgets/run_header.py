"""The dashboard's header: run name, status, round r/R, phase, progress, elapsed, ETA."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..format import STATUS_ICON, STATUS_STYLE, duration, pct, status_label
from ..imported import is_imported, recorded, what_it_is
from ..state import RunState


def progress_bar(done: int, total: int, width: int) -> Text:
    width = max(4, width)
    if total <= 0:
        return Text("─" * width, style="grey37")
    frac = min(1.0, max(0.0, done / total))
    filled = int(frac * width)
    bar = Text("━" * filled, style="green")
    if filled < width:
        bar.append("╺" if filled else "─", style="grey37")
        bar.append("━" * (width - filled - 1), style="grey37")
    return bar


class RunHeader(Static):
    """Two lines at the top of a run: where it is, and anything that needs attention."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: RunState | None = None
        self._status = "created"
        self._now = 0.0
        self._notice: str | None = None
        self._shown: tuple | None = None

    def show(self, state: RunState, status: str, now: float, notice: str | None = None) -> None:
        """Redraw only when something shown changed (a finished run's header is still)."""
        elapsed = state.elapsed(now)
        eta = state.eta(now) if status != "stale" else None
        key = (id(state), state.rev_header, status, notice, duration(elapsed), eta and duration(eta))
        self._state, self._status, self._now, self._notice = state, status, now, notice
        if key != self._shown:
            self._shown = key
            self.refresh()

    def render(self) -> Text:
        s = self._state
        if s is None:
            return Text("")
        status = self._status
        line = Text()
        line.append(f"{STATUS_ICON.get(status, '·')} {status_label(status)}", style=STATUS_STYLE.get(status, ""))
        line.append("  ")
        line.append(s.name or s.run_id, style="bold")
        rounds = str(s.round) if is_imported(s) else f"{s.round}/{s.rounds}" if s.rounds else "–"   # a file: one round
        line.append(f"  round {rounds}", style="")
        line.append(f" · {s.phase_label}", style="cyan")
        line.append("  ")
        bar_width = max(8, min(30, self.size.width // 5))
        line.append_text(progress_bar(s.phase_done, s.phase_total, bar_width))
        if s.phase_total:
            line.append(f" {s.phase_done}/{s.phase_total}")
        if is_imported(s):   # the file's numbers, not a run we timed: no elapsed time to show
            line.append("  read-only import", style="dim")
        else:
            line.append(f"  elapsed {duration(s.elapsed(self._now))}", style="dim")
            eta = s.eta(self._now) if status != "stale" else None   # a dead engine finishes nothing
            if eta is not None:
                line.append(f"  ETA {duration(eta)}", style="dim")

        second = Text()
        if s.error and status == "failed":
            second.append(f"error: {s.error}", style="bold red")
        elif self._notice:
            second.append(self._notice, style="bold dark_orange" if status == "stale" else "bold red")
        elif status == "starting":
            second.append("starting the engine: loading torch, the model and the data…", style="dim")
        elif status == "awaiting_review":
            second.append(f"✎ {len(s.review_pending)} self-edits await review · R to review", style="bold magenta")
        elif is_imported(s):
            parts = [what_it_is(s.config), s.model or "–", f"file written {recorded(s.config)}", s.run_id]
            if s.best_heldout is not None:
                parts.append(f"best held-out {pct(s.best_heldout)}")
            second.append(" · ".join(parts), style="dim")
        else:
            parts = [s.preset or "–", s.model or "–", s.run_id]
            if s.best_heldout is not None:
                parts.append(f"best held-out {pct(s.best_heldout)}")
            if s.stop_reason and status == "stopped":
                parts.append(f"stopped: {s.stop_reason}")
            second.append(" · ".join(parts), style="dim")
        line.append("\n")
        line.append_text(second)
        line.no_wrap = True
        line.overflow = "ellipsis"
        return line
