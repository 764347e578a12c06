"""Event sources: where a dashboard's events come from.

A source is an object with ``stream(cancelled)``, a generator run in a thread
worker that yields messages (``EventsArrived``, ``RunLiveness``...) for the
dashboard to post. This issue has the live tail of the store; a replay source
(events read at a chosen speed, with pause, step and seek) plugs in the same way.

Sources hold back when the UI has not consumed what they sent (``ack`` after
handling each ``EventsArrived``), so a fast writer never floods the message queue.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from textual.message import Message

from engine.store.facts import LIVE_STATUSES

from .messages import EventsArrived, Liveness, RunLiveness, SourceFailed


def relay(source: EventSource, post: Callable[[Message], object]) -> None:
    """Run ``source`` in the current thread worker, posting its messages until the worker is
    cancelled (the dashboard's and the review screen's event pump)."""
    from textual.worker import get_current_worker

    worker = get_current_worker()
    try:
        for message in source.stream(lambda: worker.is_cancelled):
            if worker.is_cancelled:
                return
            post(message)
    except sqlite3.DatabaseError as exc:  # a damaged page, a store gone read-only or full under us: said on screen
        from engine.store import DB_NAME
        from engine.store.problems import store_problem

        runs_dir = Path(getattr(source, "runs_dir", ".") or ".")
        post(SourceFailed(source.run_id, store_problem(runs_dir / DB_NAME, exc)))


class EventSource(Protocol):
    run_id: str

    def stream(self, cancelled: Callable[[], bool]) -> Iterator[Message]: ...

    def ack(self) -> None: ...


class LiveTail:
    """Reads a run's events from the store by id, from the first, then follows new ones.

    Opening a finished run, attaching to a running one and watching a new one
    are all the same: read everything after ``last_id``, then poll. A quiet log is
    polled less often (5 x ``poll_s`` after ``QUIET_S`` without events; a run whose
    engine has ended, 20 x ``poll_s``: only a resume writes to it again), so an open
    console idles near 0% of a core.
    """

    QUIET_S = 3.0          # a live engine writes telemetry every ~2 s: quiet longer than this is idle

    def __init__(self, runs_dir: Path, run_id: str, *, poll_s: float = 0.1, busy_poll_s: float = 0.025,
                 batch: int = 5000, liveness_s: float = 1.0, max_in_flight: int = 4, last_id: int = 0) -> None:
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self.poll_s = poll_s
        # while events flow, poll again sooner: the newest event a redraw shows is at most this old
        self.busy_poll_s = min(busy_poll_s, poll_s)
        self.idle_poll_s = 5 * poll_s
        self.ended_poll_s = 20 * poll_s
        self.batch = batch
        self.liveness_s = liveness_s
        self.last_id = last_id
        self._credits = threading.Semaphore(max_in_flight)

    def ack(self) -> None:
        self._credits.release()

    def _wait_credit(self, cancelled: Callable[[], bool]) -> bool:
        while not cancelled():
            if self._credits.acquire(timeout=0.1):
                return True
        return False

    def stream(self, cancelled: Callable[[], bool]) -> Iterator[Message]:
        from engine.store import Store, StoreError
        try:
            store = Store(self.runs_dir)
        except StoreError as exc:
            yield SourceFailed(self.run_id, str(exc))
            return
        try:
            next_check = 0.0
            last_seen = time.monotonic()
            ended = False
            last_liveness = None
            while not cancelled():
                events = store.events_after(self.run_id, self.last_id, self.batch)
                now = time.monotonic()
                if events:
                    if not self._wait_credit(cancelled):
                        return
                    self.last_id = events[-1].id
                    last_seen = now
                    yield EventsArrived(self.run_id, events)
                if now >= next_check:
                    liveness = _liveness(store, self.run_id)
                    ended = liveness.exists and liveness.status not in LIVE_STATUSES
                    next_check = now + (self.ended_poll_s if ended else self.liveness_s)
                    if liveness != last_liveness:      # no news is no message
                        last_liveness = liveness
                        yield RunLiveness(self.run_id, liveness)
                if len(events) < self.batch:
                    if events:
                        wait = self.busy_poll_s
                    elif ended:
                        wait = self.ended_poll_s
                    else:
                        wait = self.poll_s if now - last_seen < self.QUIET_S else self.idle_poll_s
                    _sleep(wait, cancelled)
        finally:
            store.close()


def _liveness(store, run_id: str) -> Liveness:
    run = store.get_run(run_id)
    if run is None:
        return Liveness(exists=False)
    return Liveness(exists=True, status=run.get("status"), stale=store.is_stale(run),
                    error=run.get("error"), heartbeat_at=run.get("heartbeat_at"))


def _sleep(seconds: float, cancelled: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while not cancelled():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))
