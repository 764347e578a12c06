"""Facts about runs that the engine and the console share, each defined once.

Statuses and phases, what a review decision makes of a candidate, how a run id is
made, and when a run may be resumed. No I/O beyond reading the environment.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

DB_NAME = "seal.db"

STATUSES = ("created", "running", "paused", "awaiting_review", "finished", "failed", "stopped")
# a run in one of these has (or should have) an engine working on it; "stale" when it has not
LIVE_STATUSES = ("created", "running", "paused", "awaiting_review")
PHASES = ("setup", "sample", "inner_loop", "filter", "review", "train", "eval", "done")
# a run's wall time as the phase breakdown shows it (phase_times events): each row's name and the
# phases it sums; "paused" is time spent paused, waiting for a resume
PHASE_TIME_ROWS = (("setup", ("setup",)), ("sampling", ("sample",)), ("inner loop", ("inner_loop",)),
                   ("filter/review wait", ("filter", "review")), ("M-step", ("train",)),
                   ("held-out evaluation", ("eval",)), ("paused", ("paused",)))

# review: a decision written by a person -> the candidate's review state
DECISIONS = ("approve", "reject", "edit", "undo")
DECISION_STATE = {"approve": "approved", "reject": "rejected", "edit": "edited", "undo": "pending"}
REVIEW_STATES = ("pending", "approved", "rejected", "edited")
COMMANDS = ("pause", "resume", "stop")

# the engine process's stdout and stderr, in its run's folder; a launcher writes a new run's output
# to the file named by OUTPUT_ENV until the engine has made that folder (a run refused by the
# checks leaves no folder behind)
OUTPUT_NAME = "engine-output.log"
OUTPUT_ENV = "SEAL_ENGINE_OUTPUT"
ERROR_PREFIX = "seal-engine: error: "   # how the engine prints a refused input (exit code 2)


def default_runs_dir() -> Path:
    """``SEAL_RUNS_DIR`` if set, else ``./runs``."""
    env = os.environ.get("SEAL_RUNS_DIR")
    return Path(env).expanduser() if env else Path.cwd() / "runs"


def new_run_id(preset: str, now: float | None = None) -> str:
    """``YYYYMMDD-HHMMSS-<preset>-<4 hex>``: sortable, and unique enough to pass as --run-id."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    slug = re.sub(r"[^a-z0-9]+", "-", (preset or "custom").lower()).strip("-") or "custom"
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


def resume_refusal(run: dict, stale: bool) -> str | None:
    """Why ``run`` cannot be resumed (None: it can). ``stale``: its engine is gone."""
    if run.get("source") == "imported":
        return f"run {run['id']} was imported from result files and cannot be resumed"
    if run.get("status") == "finished":
        return f"run {run['id']} already finished; start a new run instead"
    if run.get("status") == "paused" and not stale:
        return (f"run {run['id']} is paused and its engine (pid {run.get('pid')}) waits: `seal-tui attach "
                f"{run['id']}`, then p resumes it (s stops it)")
    if run.get("status") in LIVE_STATUSES and not stale:
        return (f"run {run['id']} is still {run['status']} (engine pid {run.get('pid')}); "
                f"`seal-tui attach {run['id']}` shows it, or stop it first")
    return None
