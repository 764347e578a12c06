"""The replay's position bar: play/pause, speed, event i of n, round and phase, recorded time,
and where in the run that is (round starts marked on the bar)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import Static

from ..format import clock_time, duration


@dataclass
class ReplayPosition:
    """What the bar shows, read from the replay source and the state on screen."""

    loaded: bool
    position: int               # events shown
    total: int                  # events in the log
    playing: bool
    speed: str                  # "8x", "instant"
    round: int
    rounds: int
    phase: str
    time: float | None          # recorded time shown
    first_ts: float | None
    last_ts: float | None
    ended: bool                 # the log ends with the run's end (else: a live or dead run)
    round_marks: list[tuple[int, int]] = field(default_factory=list)   # (position, round)
    error: str | None = None    # why there is nothing to replay
    keys: str = ""              # the replay's keys, shown after the bar
    untimed: bool = False       # an imported run: no recorded times, played in the file's order


class ReplayBar(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.position: ReplayPosition | None = None

    def show(self, position: ReplayPosition) -> None:
        if position != self.position:
            self.position = position
            self.refresh()

    def render(self) -> Text:
        p = self.position
        if p is not None and p.error:
            return Text(f"replay · {p.error}", style="bold red")
        if p is None or not p.loaded:
            return Text("replay · reading the event log…", style="dim")
        at_end = p.position >= p.total
        line = Text()
        if at_end and (p.ended or not p.playing):
            line.append("■ end", style="bold blue")
        elif p.playing:
            line.append("▶ playing", style="bold green")
        else:
            line.append("⏸ paused", style="bold yellow")
        line.append(f" {p.speed}", style="bold")
        line.append(f"  event {p.position:,} of {p.total:,}")
        line.append(f"  round {p.round}/{p.rounds or '–'} · {p.phase}", style="cyan")
        if p.untimed:
            line.append("  no recorded times: the file's order, paced", style="dim")
        elif p.time is not None:
            line.append(f"  {clock_time(p.time)}", style="")
            if p.first_ts is not None and p.last_ts is not None:
                line.append(f" (+{duration(p.time - p.first_ts)} of {duration(p.last_ts - p.first_ts)})",
                            style="dim")
        if at_end and p.playing and not p.ended:
            line.append("  waiting for the run's next events", style="dim")
        line.append("\n")
        width = max(10, self.size.width)
        keys = f"  {p.keys}" if p.keys and width - len(p.keys) >= 30 else ""
        line.append_text(self._bar(p, width - len(keys)))
        line.append(keys, style="dim")
        line.no_wrap = True
        line.overflow = "ellipsis"
        return line

    @staticmethod
    def _bar(p: ReplayPosition, width: int) -> Text:
        """The log as a line: done part green, round starts numbered where they fall."""
        done = int(p.position / max(1, p.total) * width)
        cells = ["━"] * done + ["─"] * (width - done)
        for pos, rnd in p.round_marks:
            label = str(rnd)
            x = min(width - len(label), int(pos / max(1, p.total) * width))
            cells[x:x + len(label)] = list(label)
        bar = Text()
        bar.append("".join(cells[:done]), style="green")
        bar.append("".join(cells[done:]), style="grey37")
        return bar
