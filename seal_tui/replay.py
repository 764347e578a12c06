"""Replay: a run's event log played back, as an event source for the dashboard.

``ReplaySource`` plugs into ``DashboardScreen`` like the live tail does, so a replay
goes through the same reducer and widgets as a live view: after the first ``i``
events the screen shows what a live viewer saw when event ``i`` arrived.

It first reads a small index of the log (id, time, kind, round of each event; no
payloads), then reads payloads in batches as it plays. Waits between events follow
the recorded times divided by the speed, at most ``MAX_WAIT_S`` (an idle hour plays
in two seconds). An imported run's events all carry the moment of import (its file
records no times): they play ``UNTIMED_PACE_S`` apart at 1x, in the file's order. Moving forward sends the events in between; moving back rebuilds
the state from the first event in this thread and hands it over (``ReplayRestarted``).

The UI calls ``toggle``, ``faster``, ``slower``, ``step``, ``step_phase``, ``seek``
and ``seek_round``; moves are queued and done in order by the thread.
"""

from __future__ import annotations

import bisect
import queue
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

from textual.message import Message

from .messages import EventsArrived, ReplayProgress, ReplayRestarted, SourceFailed
from .reducer import apply
from .state import RunState

SPEEDS: tuple[float | None, ...] = (1, 2, 4, 8, 16, 32, 64, None)   # None: instant
MAX_WAIT_S = 2.0          # the longest wait between two events, whatever the recorded gap
UNTIMED_PACE_S = 0.1      # between two events of an imported run at 1x (a 200-passage evaluation: ~1 min)
BATCH = 2000              # events read and sent at once
# a phase starts with one of these events; ] and } move between them
PHASE_KINDS = frozenset({"phase", "round_started", "review_waiting", "run_finished", "run_failed",
                         "run_stopped"})
END_KINDS = frozenset({"run_finished", "run_failed", "run_stopped"})
START = 1                 # a replay always shows the first event (run_created: the run's name and settings)


def speed_label(speed: float | None) -> str:
    return "instant" if speed is None else f"{speed:g}x"


class EventIndex:
    """Id, time, round and phase-start flag of every event of a run, in order (no payloads)."""

    def __init__(self) -> None:
        self.ids = array("q")
        self.ts = array("d")
        self.phase_starts: list[int] = []        # positions of the events that start a phase
        self.round_starts: dict[int, int] = {}   # round -> position of its round_started event
        self.ended = False                       # the log ends with the run's end

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, store, run_id: str) -> int:
        """Read the events after the last indexed one; returns how many were added."""
        last = self.ids[-1] if self.ids else 0
        rows = store.event_times(run_id, last)
        if not rows:
            return 0
        base = len(self.ids)
        self.ids.extend(r[0] for r in rows)
        self.ts.extend(r[1] or 0.0 for r in rows)
        marks = store.event_marks(run_id, last, rows[-1][0], PHASE_KINDS)   # the few phase starts
        for eid, kind, rnd in marks:
            i = bisect.bisect_left(self.ids, eid, base)
            self.phase_starts.append(i)
            if kind == "round_started" and rnd is not None:
                self.round_starts.setdefault(int(rnd), i)
        self.ended = bool(marks) and marks[-1][0] == rows[-1][0] and marks[-1][1] in END_KINDS
        return len(rows)

    def next_phase(self, pos: int) -> int:
        """Where the next phase has begun: just after the first phase-start event at or after ``pos``."""
        i = bisect.bisect_left(self.phase_starts, pos)
        return self.phase_starts[i] + 1 if i < len(self.phase_starts) else len(self.ids)

    def round_start(self, rnd: int) -> int | None:
        """Just after round ``rnd``'s first phase event (or its round_started, if it has none)."""
        pos = self.round_starts.get(rnd)
        if pos is None:
            return None
        later = [p for p in self.round_starts.values() if p > pos]
        first_phase = self.next_phase(pos + 1)
        return first_phase if first_phase <= min(later, default=len(self.ids)) else pos + 1

    def previous_phase(self, pos: int) -> int:
        """Back to the start of the phase shown at ``pos``, or of the one before if already there."""
        i = bisect.bisect_left(self.phase_starts, pos - 1) - 1
        return self.phase_starts[i] + 1 if i >= 0 else 0


class ReplaySource:
    """Plays one run's events at a speed, with pause, step and seek (see the module doc)."""

    def __init__(self, runs_dir: Path, run_id: str, *, speed: float | None = 1, playing: bool = True,
                 max_in_flight: int = 4, follow_s: float = 1.0) -> None:
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self.index = EventIndex()
        self.loaded = False
        self.error: str | None = None   # why there is nothing to replay
        self.pos = 0                    # events sent so far
        self.playing = playing
        self.speed_i = SPEEDS.index(speed)
        self.follow_s = follow_s        # how often a replay at the end of a live run looks for more
        self._moves: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._credits = threading.Semaphore(max_in_flight)
        self._shown_at = time.monotonic()   # when the last event sent was due
        self._wait = 0.0                    # how long the gap after it lasts at this speed
        self.untimed = False                # an imported run: no recorded times, a fixed pace

    # ------------------------------------------------------------------ what the UI reads
    @property
    def speed(self) -> float | None:
        return SPEEDS[self.speed_i]

    @property
    def total(self) -> int:
        return len(self.index)

    @property
    def at_end(self) -> bool:
        return self.loaded and self.pos >= self.total

    def gap(self, pos: int) -> float:
        """Recorded seconds between event ``pos - 1`` and event ``pos`` (an imported run's: the pace)."""
        if pos <= 0 or pos >= len(self.index.ts):
            return 0.0
        if self.untimed:
            return UNTIMED_PACE_S
        return max(0.0, self.index.ts[pos] - self.index.ts[pos - 1])

    def _wait_before(self, pos: int) -> float:
        """How long event ``pos`` waits after the one before at this speed (capped)."""
        speed = self.speed
        return 0.0 if speed is None else min(MAX_WAIT_S, self.gap(pos) / speed)

    def clock(self) -> float:
        """The recorded time being shown: between the last event sent and the next, as the wait runs."""
        ts, pos = self.index.ts, self.pos
        if not ts:
            return time.time()
        if pos == 0:
            return ts[0]
        last = ts[pos - 1]
        if not self.playing or pos >= len(ts) or self.speed is None or self._wait <= 0:
            return last
        done = min(1.0, (time.monotonic() - self._shown_at) / self._wait)
        return last + done * (ts[pos] - last)

    # ------------------------------------------------------------------ what the UI calls
    def toggle(self) -> None:
        """Play or pause; at the end, play again from the first event."""
        if not self.playing and self.at_end:
            self._moves.put(("seek", START))
        self.playing = not self.playing
        self._restart_wait()

    def faster(self) -> None:
        self.speed_i = min(len(SPEEDS) - 1, self.speed_i + 1)
        self._restart_wait()

    def slower(self) -> None:
        self.speed_i = max(0, self.speed_i - 1)
        self._restart_wait()

    def step(self, n: int = 1) -> None:
        """Pause and move ``n`` events (negative: back)."""
        self.playing = False
        self._moves.put(("step", n))
        self._wake.set()

    def step_phase(self, direction: int = 1) -> None:
        """Pause and move to the start of the next phase (or back to this one's start)."""
        self.playing = False
        self._moves.put(("phase", direction))
        self._wake.set()

    def seek(self, position: int) -> None:
        """Move to just after the first ``position`` events (playing goes on if it was)."""
        self._moves.put(("seek", position))
        self._wake.set()

    def seek_round(self, rnd: int) -> bool:
        """Move to where round ``rnd``'s first phase begins (0: the run's start); False if the
        log has no such round."""
        if rnd == 0:
            self.seek(START)
            return True
        target = self.index.round_start(rnd)
        if target is None:
            return False
        self.seek(target)
        return True

    def ack(self) -> None:
        self._credits.release()

    def _restart_wait(self) -> None:
        self._shown_at = time.monotonic()
        self._wake.set()

    # ------------------------------------------------------------------ the thread
    def stream(self, cancelled: Callable[[], bool]) -> Iterator[Message]:
        from engine.store import Store, StoreError
        try:
            store = Store(self.runs_dir, create=False)
        except StoreError as exc:
            self.error = str(exc)
            yield SourceFailed(self.run_id, self.error)
            return
        try:
            self.index.extend(store, self.run_id)
            self.untimed = (store.get_run(self.run_id) or {}).get("source") == "imported"
            if not self.total:
                self.error = f"run {self.run_id} has no recorded events to replay"
                yield SourceFailed(self.run_id, self.error)
                return
            self.loaded = True
            yield from self._send(store, START, cancelled)   # the run's name and settings, at once
            self._restart_wait()
            yield ReplayProgress(self.run_id)
            next_look = 0.0
            while not cancelled():
                moved = False
                while True:
                    try:
                        kind, arg = self._moves.get_nowait()
                    except queue.Empty:
                        break
                    moved = True
                    yield from self._move(store, self._target(kind, arg), cancelled)
                if moved:
                    yield ReplayProgress(self.run_id)
                    continue
                if self.playing and self.pos < self.total:
                    due = self._due_batch()
                    if due > self.pos:
                        yield from self._send(store, due, cancelled)
                        if self.pos >= self.total and self.index.ended:
                            self.playing = False
                            yield ReplayProgress(self.run_id)
                        continue
                    self._sleep(self._shown_at + self._wait - time.monotonic())
                elif self.playing and not self.index.ended and time.monotonic() >= next_look:
                    next_look = time.monotonic() + self.follow_s   # a live run: its new events play on
                    if self.index.extend(store, self.run_id):
                        self._restart_wait()
                        yield ReplayProgress(self.run_id)
                    else:
                        self._sleep(self.follow_s)
                else:
                    self._sleep(0.25)
        finally:
            store.close()

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(max(0.0, min(seconds, 0.25)))
        self._wake.clear()

    def _target(self, kind: str, arg: int) -> int:
        if kind == "step":
            target = self.pos + arg
        elif kind == "phase":
            target = self.index.next_phase(self.pos) if arg > 0 else self.index.previous_phase(self.pos)
        else:
            target = arg
        return max(START, min(self.total, target))

    def _due_batch(self) -> int:
        """The position to send up to now: every event whose (scaled, capped) wait has passed."""
        if self.speed is None:
            return min(self.total, self.pos + BATCH)
        now = time.monotonic()
        due_at, pos, end = self._shown_at, self.pos, min(self.total, self.pos + BATCH)
        wait = self._wait
        while pos < end:
            wait = self._wait_before(pos)
            if due_at + wait > now:
                break
            due_at += wait
            pos += 1
        if pos > self.pos:
            # a slow screen must not make the replay rush to catch up
            self._shown_at = due_at if now - due_at < 0.5 else now
            self._wait = self._wait_before(pos)
        else:
            self._wait = wait
        return pos

    def _move(self, store, target: int, cancelled) -> Iterator[Message]:
        if target >= self.pos:
            yield from self._send(store, target, cancelled)
        else:
            state = RunState(run_id=self.run_id)
            last = 0
            while last < target and not cancelled():
                events = store.events_after(self.run_id, self.index.ids[last - 1] if last else 0,
                                            min(BATCH, target - last))
                if not events:
                    break
                apply(state, events)
                last += len(events)
            self.pos = last
            yield ReplayRestarted(self.run_id, state)
        self._restart_wait()
        self._wait = self._wait_before(self.pos)

    def _send(self, store, target: int, cancelled) -> Iterator[Message]:
        while self.pos < target and not cancelled():
            if not self._wait_credit(cancelled):
                return
            after = self.index.ids[self.pos - 1] if self.pos else 0
            events = store.events_after(self.run_id, after, min(BATCH, target - self.pos))
            if not events:
                return
            self.pos += len(events)
            yield EventsArrived(self.run_id, events)

    def _wait_credit(self, cancelled: Callable[[], bool]) -> bool:
        while not cancelled():
            if self._credits.acquire(timeout=0.1):
                return True
        return False
