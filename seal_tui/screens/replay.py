"""Replay: a run's dashboard fed by its recorded events instead of the live tail.

The same screen, reducer and widgets as a live view (``ReplayScreen`` is a
``DashboardScreen`` with a ``ReplaySource``), plus the position bar and the keys
that move through the log: space play/pause, + and - speed (1x to 64x, then
instant), [ one event, ] to the next phase ({ and } back), g to a round. A replay
only reads: pause, stop and review, which write to the store, are off.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ..messages import ReplayProgress, ReplayRestarted, SourceFailed
from ..replay import ReplaySource, speed_label
from ..widgets.replay_bar import ReplayBar, ReplayPosition
from ..widgets.run_header import RunHeader
from .dashboard import DashboardScreen

WRITING_ACTIONS = ("pause", "stop", "review")   # a replay never writes to the store
KEY_HINTS = (("replay.play", None, "play"), ("replay.faster", "replay.slower", "speed"),
             ("replay.step", "replay.next_phase", "step"), ("replay.seek", None, "round"))


class ReplayScreen(DashboardScreen):
    CSS_PATH = "replay.tcss"
    # priority: the keys work whichever pane has the focus
    BINDINGS = [
        Binding("space", "toggle_play", "Play/pause", priority=True, id="replay.play",
                tooltip="Play or pause the replay (at the end: play again from the start)"),
        Binding("plus", "faster", "Faster", priority=True, key_display="+", id="replay.faster",
                tooltip="Double the speed: 1x, 2x ... 64x, then instant"),
        Binding("equals_sign", "faster", "Faster", show=False, priority=True, id="replay.faster_eq"),
        Binding("minus", "slower", "Slower", priority=True, key_display="-", id="replay.slower",
                tooltip="Halve the speed"),
        Binding("left_square_bracket", "step(1)", "Next event", priority=True, key_display="[",
                id="replay.step", tooltip="Pause and show one more event"),
        Binding("right_square_bracket", "step_phase(1)", "Next phase", priority=True, key_display="]",
                id="replay.next_phase", tooltip="Pause at the start of the next phase"),
        Binding("left_curly_bracket", "step(-1)", "Event back", show=False, priority=True, key_display="{",
                id="replay.step_back", tooltip="Pause and go back one event"),
        Binding("right_curly_bracket", "step_phase(-1)", "Phase back", show=False, priority=True,
                key_display="}", id="replay.phase_back",
                tooltip="Pause at the start of this phase, or of the one before"),
        Binding("g", "seek_round", "Go to round", id="replay.seek", tooltip="Jump to the start of a round"),
    ]

    def __init__(self, run_id: str, runs_dir: Path, *, speed: float | None = 1, playing: bool = True) -> None:
        super().__init__(run_id, source=ReplaySource(runs_dir, run_id, speed=speed, playing=playing))
        self.replay: ReplaySource = self.source
        self._recomposing = False

    def compose(self) -> ComposeResult:
        placed = False
        for widget in super().compose():
            yield widget
            if isinstance(widget, RunHeader):
                yield ReplayBar(id="replay-bar")
                placed = True
        if not placed:
            yield ReplayBar(id="replay-bar")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITING_ACTIONS:
            return False
        return super().check_action(action, parameters)

    # ------------------------------------------------------------------ the source's news
    def on_source_failed(self, message: SourceFailed) -> None:
        message.prevent_default()      # the dashboard's wording is about a live store
        self.notice = f"nothing to replay: {message.error}"
        self._schedule_sync()

    def on_replay_progress(self, message: ReplayProgress) -> None:
        if message.run_id == self.run_id:
            self._show_position()

    async def on_replay_restarted(self, message: ReplayRestarted) -> None:
        """Moved back: every pane starts over from the rebuilt state."""
        if message.run_id != self.run_id:
            return
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        self.state = message.state
        self.selected_id = None
        self._synced.clear()
        self._recomposing = True   # a timer's sync in between would find the panes gone
        try:
            await self.recompose()
        finally:
            self._recomposing = False
        self._apply_size(self.app.size.width, self.app.size.height)
        self._show_pane(self.current_pane, focus=True)
        self._sync()

    def _sync(self) -> None:
        if self._recomposing:   # the restart syncs once the panes are back
            self._sync_scheduled = False
            return
        super()._sync()
        self._show_position()

    def _show_position(self) -> None:
        source, s = self.replay, self.state
        index = source.index
        bars = self.query(ReplayBar)
        if not bars:
            return
        bars.first().show(ReplayPosition(
            loaded=source.loaded, error=source.error, position=s.events_seen, total=source.total, playing=source.playing,
            speed=speed_label(source.speed), round=s.round, rounds=s.rounds, phase=s.phase_label,
            time=source.clock() if source.loaded else None,
            first_ts=index.ts[0] if index.ts else None, last_ts=index.ts[-1] if index.ts else None,
            ended=index.ended, round_marks=sorted((pos, rnd) for rnd, pos in index.round_starts.items()),
            keys=self._keys_hint(), untimed=source.untimed))

    def _keys_hint(self) -> str:
        """The replay's keys as bound now (a keymap may have moved them)."""
        keys = {b.binding.id: self.app.get_key_display(b.binding) for b in self.active_bindings.values()
                if b.binding.id}
        parts = [f"{keys.get(i, '?')}{'/' + keys[j] if j in keys else ''} {label}" for i, j, label in KEY_HINTS]
        return " · ".join(parts)

    # ------------------------------------------------------------------ keys
    def action_toggle_play(self) -> None:
        self.replay.toggle()
        self._show_position()

    def action_faster(self) -> None:
        self.replay.faster()
        self._show_position()

    def action_slower(self) -> None:
        self.replay.slower()
        self._show_position()

    def action_step(self, n: int) -> None:
        self.replay.step(n)
        self._show_position()

    def action_step_phase(self, direction: int) -> None:
        self.replay.step_phase(direction)
        self._show_position()

    def action_seek_round(self) -> None:
        rounds = sorted(self.replay.index.round_starts)

        def done(rnd: int | None) -> None:
            if rnd is None:
                return
            if not self.replay.seek_round(rnd):
                have = ", ".join(["0", *map(str, rounds)])
                self.notify(f"Round {rnd} is not in this run's log; rounds: {have}.", severity="warning")

        self.app.push_screen(SeekRoundScreen(rounds), done)


class SeekRoundScreen(ModalScreen[int | None]):
    """Asks which round to jump to (Enter on nothing, or Esc, cancels)."""

    CSS_PATH = "replay.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="seek.cancel")]

    def __init__(self, rounds: list[int]) -> None:
        super().__init__()
        self.rounds = rounds

    def compose(self) -> ComposeResult:
        last = max(self.rounds, default=0)
        with Vertical(id="seek-box", classes="dialog"):
            yield Static(f"Go to the start of round (0 = the run's start, last {last}):", id="seek-question")
            yield Input(placeholder=f"0-{last}", type="integer", id="seek-round")
            yield Static("Enter to go · Enter on nothing or Esc to cancel", id="seek-help")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(int(text) if text.lstrip("-").isdigit() else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
