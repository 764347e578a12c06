"""The runs screen's rows, read without opening the full run store.

Opening ``engine.store`` imports sqlite_utils (which loads the plugin entry points of
every installed package) and checks the schema: about 0.15 s that the first paint of
the runs screen should not wait for. Listing runs is one SELECT, done here with
sqlite3. Whether a live run's engine is gone (stale) is the store's own rule, so the
store is opened only when some run has a live status; a list of finished runs never
opens it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Callable

DB_NAME = "seal.db"                                                 # engine.store.DB_NAME
LIVE_STATUSES = ("created", "running", "paused", "awaiting_review")  # engine.store.LIVE_STATUSES


def default_runs_dir() -> Path:
    """``SEAL_RUNS_DIR`` if set, else ``./runs`` (engine.store.default_runs_dir)."""
    env = os.environ.get("SEAL_RUNS_DIR")
    return Path(env).expanduser() if env else Path.cwd() / "runs"


def load_runs(store) -> list[dict]:
    """Every run, newest first, each with its ``display_status``, through the full store."""
    runs = store.list_runs()
    for run in runs:
        run["display_status"] = store.display_status(run)
    return runs


def read_runs(runs_dir: Path, store: Callable[[], object]) -> list[dict]:
    """What ``load_runs`` gives. ``store()`` returns the full store; it is called only for
    a run with a live status, or when there is no store file yet or it cannot be read
    (the store creates it, or says what is wrong with it)."""
    path = Path(runs_dir).expanduser() / DB_NAME
    if not path.is_file():
        return load_runs(store())
    try:
        runs = _select_runs(path)
    except sqlite3.Error:
        return load_runs(store())
    full = None
    for run in runs:
        if run.get("status") in LIVE_STATUSES:
            full = full or store()
            run["display_status"] = full.display_status(run)
        else:
            run["display_status"] = run.get("status") or "created"
    return runs


def readable(runs_dir: Path) -> bool:
    """Whether there is a store file that answers the runs screen's query (if not, the full
    store creates it or says what is wrong with it)."""
    path = Path(runs_dir).expanduser() / DB_NAME
    try:
        return path.is_file() and _select_runs(path, limit=1) is not None
    except sqlite3.Error:
        return False


def _select_runs(path: Path, limit: int = -1) -> list[dict]:
    conn = sqlite3.connect(str(path), timeout=5.0)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY created_at DESC LIMIT ?", (limit,))]
    finally:
        conn.close()
