"""Every message the console's parts send each other, in one place.

Event sources run in thread workers and talk to the UI only through these.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


class EventsArrived(Message):
    """A batch of store events for one run, in id order (never replaced: each is new)."""

    def __init__(self, run_id: str, events: list) -> None:
        super().__init__()
        self.run_id = run_id
        self.events = events


@dataclass
class Liveness:
    """What the store and the OS say about a run's engine, apart from its events."""

    exists: bool
    status: str | None = None        # the runs row's status
    stale: bool = False              # live status but the engine is gone
    error: str | None = None
    heartbeat_at: float | None = None


class RunLiveness(Message):
    """The run's row, checked every second or so (replaces older ones still queued)."""

    def __init__(self, run_id: str, liveness: Liveness) -> None:
        super().__init__()
        self.run_id = run_id
        self.liveness = liveness

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunLiveness) and message.run_id == self.run_id


class SourceFailed(Message):
    """The event source cannot read the store (the message says why)."""

    def __init__(self, run_id: str, error: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.error = error


class RunsLoaded(Message):
    """A fresh read of the runs table for the runs screen (replaces older ones)."""

    def __init__(self, runs: list[dict]) -> None:
        super().__init__()
        self.runs = runs

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsLoaded)


class CandidateChosen(Message):
    """The user picked a candidate (cursor moved onto it, or Enter)."""

    def __init__(self, candidate_id: int | None, open_detail: bool = False) -> None:
        super().__init__()
        self.candidate_id = candidate_id
        self.open_detail = open_detail


class FollowChanged(Message):
    """The candidates table started or stopped following new rows."""

    def __init__(self, following: bool, pending: int) -> None:
        super().__init__()
        self.following = following
        self.pending = pending


class ReplayProgress(Message):
    """A replay's position, speed or play/pause changed without new events (replaces older ones)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ReplayProgress) and message.run_id == self.run_id


class ReplayRestarted(Message):
    """A replay moved back: ``state`` is the run's state after the first events, rebuilt from scratch."""

    def __init__(self, run_id: str, state) -> None:
        super().__init__()
        self.run_id = run_id
        self.state = state
