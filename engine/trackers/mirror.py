"""A run mirrored into the trackers named by ``run.report_to``: live, by a thread of the engine
that reads the run's events back from the store as they are recorded, or after the fact, by
``seal-tui export RUN --to NAME`` over the stored log. Both feed the same events through the
same ``Figures``, so a tracker shows the same figures either way.

A tracker that fails (not installed, offline, out of quota, any error) is dropped with one
warning; the run, and the other trackers, go on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from engine import events as ev
from engine.store import Store

from .backends import TRACKER_CLASSES, RunInfo, Tracker
from .figures import Figures, public_config, redact

POLL_S = 1.0          # how often the live mirror reads the run's new events
CLOSE_WAIT_S = 120.0  # how long the engine waits, at its end, for the trackers to finish (W&B's upload)


def failure(tracker: Tracker, exc: BaseException) -> str:
    """One line: which tracker, and what went wrong (with the fix where there is one)."""
    if isinstance(exc, ImportError):
        return f"{tracker.name} is not installed: pip install 'seal-tui[{tracker.extra}]'"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(f"{tracker.name} failed: {type(exc).__name__}{': ' + first if first else ''}")


class Mirror:
    """The named trackers, fed a run's events in order."""

    def __init__(self, names: Iterable[str], where: dict[str, Path | None], warn: Callable[[str], None]):
        self.trackers: list[Tracker] = [TRACKER_CLASSES[n]() for n in names]
        self.where, self.warn = where, warn
        self.figures = Figures()
        self.opened: list[str] = []    # where each open tracker writes, in words
        self._last_ts = 0.0

    def open(self, info: RunInfo) -> None:
        for t in list(self.trackers):
            try:
                self.opened.append(t.open(dataclasses.replace(info, where=self.where.get(t.name))))
            except Exception as exc:
                self._drop(t, exc)

    def skip(self, events: Iterable[ev.Event]) -> None:
        """Events a tracker already holds (a resumed run's earlier ones): read, not written again."""
        for e in events:
            self.figures.feed(e)

    def feed(self, events: Iterable[ev.Event]) -> None:
        items = []
        for e in events:
            items += self.figures.feed(e)
            self._last_ts = e.ts
        if items:
            self._write(items)

    def close(self) -> None:
        self._write(self.figures.flush(self._last_ts))
        for t in list(self.trackers):
            try:
                t.close()
            except Exception as exc:
                self._drop(t, exc)

    def _write(self, items: list) -> None:
        for t in list(self.trackers):
            try:
                t.write(items)
            except Exception as exc:
                self._drop(t, exc)

    def _drop(self, tracker: Tracker, exc: BaseException) -> None:
        self.trackers.remove(tracker)
        self.warn(failure(tracker, exc))


def run_info(store: Store, run_id: str, *, resume: bool = False, replace: bool = False) -> RunInfo:
    run = store.get_run(run_id) or {}
    first = store.events_after(run_id, 0, 1)
    config = json.loads(run.get("config_json") or "{}")
    return RunInfo(run_id=run_id, name=run.get("name") or run_id, config=public_config(config),
                   created=first[0].ts if first else 0.0, where=None, resume=resume, replace=replace)


def live_places(runs_dir: Path) -> dict[str, Path | None]:
    """Where a live run's trackers write: TensorBoard beside the store (runs/tensorboard/<run-id>),
    W&B under WANDB_DIR (else the store's folder), trackio in its own store (TRACKIO_DIR)."""
    return {"tensorboard": runs_dir / "tensorboard", "wandb": Path(os.environ.get("WANDB_DIR") or runs_dir),
            "trackio": None}


class LiveMirror(threading.Thread):
    """The engine's mirror: a daemon thread with its own store connection that reads the run's new
    events every ``POLL_S`` and writes their figures to the trackers; ``stop`` (the engine's end)
    writes the last ones and closes the trackers. A warning is recorded as the run's log line."""

    def __init__(self, runs_dir: Path, run_id: str, names: list[str], *, resume: bool = False):
        super().__init__(name="seal-trackers", daemon=True)
        self.runs_dir, self.run_id, self.names, self.resume = Path(runs_dir), run_id, names, resume
        self._halt = threading.Event()
        self._last: ev.Event | None = None

    def run(self) -> None:
        store = Store(self.runs_dir)
        try:
            self._mirror(store)
        except Exception as exc:  # the store itself failing: the run goes on, unmirrored
            print(f"seal-engine: report_to stopped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            store.close()

    def _mirror(self, store: Store) -> None:
        mirror = Mirror(self.names, live_places(self.runs_dir),
                        lambda message: self._warn(store, f"report_to: {message}; the run goes on without it"))
        done = 0
        if self.resume:   # what the run's earlier processes mirrored: read for the figures' state only
            done = store.max_event_id(self.run_id)
            mirror.skip(e for e in store.iter_events(self.run_id) if e.id <= done)
        mirror.open(run_info(store, self.run_id, resume=self.resume))
        while True:
            halted = self._halt.wait(POLL_S)
            while events := store.events_after(self.run_id, done):
                done, self._last = events[-1].id, events[-1]
                mirror.feed(events)
            if halted:
                break
        mirror.close()

    def _warn(self, store: Store, message: str) -> None:
        last = self._last or store.last_event(self.run_id)
        store.record(self.run_id, ev.Log(level="warning", message=message),
                     round_=last.round if last else None, phase=last.phase if last else None)
        print(f"seal-engine: {message}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._halt.set()
        self.join(CLOSE_WAIT_S)


def export_to(store: Store, run_id: str, name: str, where: Path | None) -> str:
    """Mirror a stored run into tracker ``name`` (``where``: its folder, else its default); returns
    where it went, in words. A tracker that fails raises ValueError with the one-line reason."""
    problems: list[str] = []
    places = live_places(store.runs_dir)
    mirror = Mirror([name], {name: where if where is not None else places[name]}, problems.append)
    mirror.open(run_info(store, run_id, replace=True))
    mirror.feed(store.iter_events(run_id))
    mirror.close()
    if problems:
        raise ValueError(problems[0])
    return mirror.opened[0]
