"""What a running engine does between units of work: record phases and progress,
log, and obey the commands (pause / resume / stop) others write into the store."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from engine.store import Store


class RunStopped(Exception):
    """A stop command or SIGTERM arrived; the run ends cleanly with status ``stopped``."""


class StoreLogHandler(logging.Handler):
    """Mirrors the engine's log lines into the event log."""

    def __init__(self, run: "RunContext"):
        super().__init__(logging.INFO)
        self.run = run

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.run.store.append_event(self.run.run_id, "log",
                                        {"level": record.levelname.lower(), "message": self.format(record)},
                                        round_=self.run.round, phase=self.run.phase)
        except Exception:  # logging must never take the run down
            pass


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

    # ------------------------------------------------------------ recording
    def event(self, kind: str, data: dict | None = None) -> int:
        return self.store.append_event(self.run_id, kind, data or {}, round_=self.round, phase=self.phase)

    def set_status(self, status: str, **fields) -> None:
        self.status = status
        self.store.update_run(self.run_id, status=status, **fields)

    def start_round(self, round_: int, total: int) -> None:
        self.round = round_
        self.store.update_run(self.run_id, current_round=round_)
        self.event("round_started", {"round": round_, "total_rounds": total})

    def set_phase(self, phase: str, total: int = 0) -> None:
        self.phase = phase
        self.store.update_run(self.run_id, phase=phase)
        self.event("phase", {"phase": phase, "total": total})

    def progress(self, done: int, total: int) -> None:
        """One event per unit of work (a batch, a chunk): never timed, so a run's events
        are the same whatever the machine's speed."""
        self.event("progress", {"phase": self.phase, "done": done, "total": total})

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        self.store.add_metric(self.run_id, self.round, name, value, step)

    # ------------------------------------------------------------ control
    def checkpoint(self) -> None:
        """Between units of work: apply pending commands; raises RunStopped on stop."""
        if self.stop_requested:
            raise RunStopped("SIGTERM")
        for cmd in self.store.pending_commands(self.run_id):
            self._apply(cmd)

    def _apply(self, cmd: dict) -> None:
        kind = cmd["kind"]
        if kind == "stop":
            self.store.ack_command(self.run_id, cmd, True, "stopping", self.round, self.phase)
            raise RunStopped(f"stop command from {cmd.get('created_by') or 'a console'}")
        if kind == "pause":
            if self.status == "paused":
                self.store.ack_command(self.run_id, cmd, False, "already paused", self.round, self.phase)
                return
            self.store.ack_command(self.run_id, cmd, True, "paused", self.round, self.phase)
            self._pause()
        elif kind == "resume":
            self.store.ack_command(self.run_id, cmd, False, "not paused", self.round, self.phase)

    def pause_for(self, reason: str) -> None:
        """Pause on our own (e.g. the judge keeps failing) until a person resumes or stops."""
        self.store.update_run(self.run_id, error=reason)
        self._pause(reason)
        self.store.update_run(self.run_id, error=None)

    def _pause(self, reason: str | None = None) -> None:
        before = self.status if self.status != "paused" else "running"
        self.set_status("paused")
        self.event("run_paused", {"phase": self.phase, "reason": reason})
        if reason:
            self.log.error("paused: %s; resume to try again", reason)
        else:
            self.log.info("paused in round %d, phase %s", self.round, self.phase)
        while True:
            if self.stop_requested:
                raise RunStopped("SIGTERM")
            for cmd in self.store.pending_commands(self.run_id):
                if cmd["kind"] == "resume":
                    self.store.ack_command(self.run_id, cmd, True, "resumed", self.round, self.phase)
                    self.set_status(before)
                    self.event("run_resumed", {"phase": self.phase})
                    self.log.info("resumed")
                    return
                if cmd["kind"] == "stop":
                    self._apply(cmd)
                self.store.ack_command(self.run_id, cmd, False, "already paused", self.round, self.phase)
            time.sleep(0.3)

    def sleep(self, seconds: float) -> None:
        """Wait while still obeying commands (used while waiting for review decisions)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.checkpoint()
            time.sleep(min(0.3, max(0.0, end - time.monotonic())))
