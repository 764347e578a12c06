"""Errors that come from the run store, as the console says them: one line naming the store and
what to do (a damaged page, a store of a newer seal-tui, a full or read-only disk)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.worker import WorkerFailed

from engine.store import DB_NAME, StoreError
from engine.store.problems import store_problem


def store_failure(runs_dir: Path, error: BaseException) -> str | None:
    """The message for an error that came from the run store (a worker's comes wrapped); None otherwise."""
    if isinstance(error, WorkerFailed):
        error = error.error
    if isinstance(error, StoreError):
        return str(error)
    if isinstance(error, sqlite3.DatabaseError):
        return store_problem(Path(runs_dir) / DB_NAME, error)
    return None
