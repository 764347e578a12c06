"""What a running engine does between units of work: record events (phases, progress,
numbers, logs), and obey the commands (pause / resume / stop) others write into the store.

Every event goes through ``RunContext.record``, stamped with the current round and
phase; the run's status in the store follows from the events themselves."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from engine import events as ev
from engine.store import Store
from engine.store.summary import phase_breakdown, phase_line

# set on SIGTERM: a long generation (the E-step's, the evaluation's self-edits) ends at its next token
# instead of running to its end; the checkpoint that follows stops the run before anything made from
# the cut-short texts is recorded (engine.generation)
STOP_REQUESTED = threading.Event()


class RunStopped(BaseException):
    """A stop command or SIGTERM arrived; the run ends cleanly with status ``stopped``. Not an
    Exception: a library's ``except Exception`` (an import wrapping its errors) must not swallow it."""


class StoreLogHandler(logging.Handler):
    """Mirrors the engine's log lines into the event log."""

    def __init__(self, run: RunContext):
        super().__init__(logging.INFO)
        self.run = run

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.run.record(ev.Log(level=record.levelname.lower(), message=self.format(record)))
        except Exception:  # logging must never take the run down
            pass


class PhaseClock:
    """Seconds this engine process spends in each phase (monotonic clock), paused time apart."""

    def __init__(self, phase: str) -> None:
        self.seconds: dict[str, float] = {}
        self.phase = phase
        self.started = self._since = time.monotonic()

    def switch(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[self.phase] = self.seconds.get(self.phase, 0.0) + now - self._since
        self.phase, self._since = phase, now

    def times(self) -> ev.PhaseTimes:
        self.switch(self.phase)
        return ev.PhaseTimes(seconds={p: round(s, 3) for p, s in self.seconds.items()},
                             wall_s=round(time.monotonic() - self.started, 3))


class RunContext:
    def __init__(self, store: Store, run_id: str, logger: logging.Logger, run_dir: Path | None = None):
        self.store = store
        self.run_id = run_id
        self.run_dir = run_dir or store.runs_dir / run_id
        self.log = logger
        self.round = 0
        self.phase = "setup"
        self.status = "created"
        self.stop_requested = False
        self.clock = PhaseClock(self.phase)

    # ------------------------------------------------------------ recording
    def record(self, payload: ev.Payload) -> int:
        """Append one event at the current round and phase; returns its id."""
        if isinstance(payload, (ev.RunStarted, ev.RunResumed, ev.ReviewDone)):
            self.status = payload.status if isinstance(payload, ev.RunResumed) else "running"
        elif isinstance(payload, ev.ReviewWaiting):
            self.status = "awaiting_review"
        return self.store.record(self.run_id, payload, round_=self.round, phase=self.phase)

    def start_round(self, round_: int, total: int) -> None:
        self.round = round_
        self.record(ev.RoundStarted(round=round_, total_rounds=total))

    def set_phase(self, phase: str, total: int = 0) -> None:
        self.phase = phase
        self.clock.switch(phase)
        self.record(ev.Phase(phase=phase, total=total))

    def progress(self, done: int, total: int) -> None:
        """One event per unit of work (a batch, a chunk): never timed, so a run's events
        are the same whatever the machine's speed."""
        self.record(ev.Progress(phase=self.phase, done=done, total=total))

    def end(self, payload: ev.Payload) -> int:
        """This process's last events: where its wall time went (phase_times, also logged as one
        line), then how the run ended (run_finished, run_stopped or run_failed)."""
        times = self.clock.times()
        self.log.info("%s", phase_line(phase_breakdown([times])))
        self.record(times)
        return self.record(payload)

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        self.record(ev.Metric(name=name, value=float(value), step=step))

    # ------------------------------------------------------------ control
    def checkpoint(self) -> None:
        """Between units of work: apply pending commands; raises RunStopped on stop."""
        if self.stop_requested:
            raise RunStopped("SIGTERM")
        for cmd in self.store.pending_commands(self.run_id):
            self._apply(cmd)

    def _ack(self, cmd: dict, ok: bool, message: str) -> None:
        self.store.ack_command(self.run_id, cmd, ok, message, self.round, self.phase)

    def _apply(self, cmd: dict) -> None:
        kind = cmd["kind"]
        if kind == "stop":
            self._ack(cmd, True, "stopping")
            raise RunStopped(f"stop command from {cmd.get('created_by') or 'a console'}")
        if kind == "pause":
            if self.status == "paused":
                self._ack(cmd, False, "already paused")
                return
            self._ack(cmd, True, "paused")
            self._pause()
        elif kind == "resume":
            self._ack(cmd, False, "not paused")

    def pause_for(self, reason: str) -> None:
        """Pause on our own (e.g. the judge keeps failing) until a person resumes or stops."""
        self._pause(reason)

    def _pause(self, reason: str | None = None) -> None:
        before = self.status if self.status != "paused" else "running"
        self.clock.switch("paused")
        try:
            self._wait_for_resume(before, reason)
        finally:
            self.clock.switch(self.phase)

    def _wait_for_resume(self, before: str, reason: str | None) -> None:
        self.status = "paused"
        self.record(ev.RunPaused(phase=self.phase, reason=reason))
        if reason:
            self.log.error("paused: %s; to try again press p in its dashboard (seal-tui attach %s), "
                           "or s there to stop it", reason, self.run_id)
        else:
            self.log.info("paused in round %d, phase %s", self.round, self.phase)
        while True:
            if self.stop_requested:
                raise RunStopped("SIGTERM")
            for cmd in self.store.pending_commands(self.run_id):
                if cmd["kind"] == "resume":
                    self._ack(cmd, True, "resumed")
                    self.record(ev.RunResumed(phase=self.phase, status=before))
                    self.log.info("resumed")
                    return
                if cmd["kind"] == "stop":
                    self._apply(cmd)
                self._ack(cmd, False, "already paused")
            time.sleep(0.3)

    def sleep(self, seconds: float) -> None:
        """Wait while still obeying commands (used while waiting for review decisions)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.checkpoint()
            time.sleep(min(0.3, max(0.0, end - time.monotonic())))
