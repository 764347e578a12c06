"""The engine's log lines, following the tail unless the user scrolls up."""

from __future__ import annotations

from textual.widgets import Log

from ..format import clock_time, printable
from ..state import RunState

LEVELS = {"debug": "DEBUG", "info": "INFO ", "warning": "WARN ", "warn": "WARN ",
          "error": "ERROR", "critical": "CRIT "}


class EngineLog(Log):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=2000, auto_scroll=True)
        self._last_seq = 0

    def sync(self, state: RunState) -> None:
        fresh = [line for line in state.log if line.seq > self._last_seq]
        if not fresh:
            return
        self._last_seq = fresh[-1].seq
        following = self.is_vertical_scroll_end or not self.size.height
        self.write_lines(
            (f"{clock_time(line.ts)} {LEVELS.get(line.level, line.level.upper()[:5]):<5} {line.message}"
             for line in fresh), scroll_end=False)
        if following:    # tail: again once the new lines are laid out, whatever the timing
            self.scroll_end(animate=False, immediate=True, x_axis=False)
            self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)

    def console_line(self, ts: float, level: str, message: str) -> None:
        """A line from the console itself (e.g. the engine process died before logging)."""
        for text in message.splitlines() or [""]:
            self.write_line(f"{clock_time(ts)} {LEVELS.get(level, 'INFO '):<5} {printable(text)}")
