"""The runs screen's rows, read without opening the full run store.

Opening ``engine.store`` imports sqlite_utils (which loads the plugin entry points of
every installed package) and checks the schema: about 0.15 s that the first paint of
the runs screen should not wait for. Listing runs is one SELECT, done here with
sqlite3. Whether a live run's engine is gone (stale) is the store's own rule, so the
store is opened only when some run has a live status; a list of finished runs never
opens it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

DB_NAME = "seal.db"                                                 # engine.store.DB_NAME
LIVE_STATUSES = ("created", "running", "paused", "awaiting_review")  # engine.store.LIVE_STATUSES


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
        conn = sqlite3.connect(str(path), timeout=5.0)
        try:
            conn.row_factory = sqlite3.Row
            runs = [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY created_at DESC")]
        finally:
            conn.close()
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
