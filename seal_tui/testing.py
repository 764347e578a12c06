"""Helpers for testing the console against stores that real engine runs wrote.

``normalized_copy`` makes a recorded store deterministic for snapshots (fixed run
id, times, paths and telemetry; texts and numbers stay the engine's own);
``cut_mid_run`` turns a copy into what a console sees while that run is live;
``wait_for_dashboard`` waits for the dashboard to show every stored event,
instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from pathlib import Path

T0 = 1_750_000_000.0          # 2025-06-15 15:06:40 UTC: the normalized run's creation time
RUN_TABLES = ("events", "contexts", "candidates", "metrics", "commands", "decisions", "telemetry")


def copy_store(src_runs_dir: Path, dest_runs_dir: Path) -> Path:
    """A consistent copy of ``seal.db`` (through SQLite's backup, safe while WAL is in use)."""
    dest_runs_dir.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(str(Path(src_runs_dir) / "seal.db"))
    dst = sqlite3.connect(str(dest_runs_dir / "seal.db"))
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return dest_runs_dir


def normalized_copy(src_runs_dir: Path, run_id: str, dest_runs_dir: Path, *,
                    new_id: str = "20250615-150640-recorded-0000", model: str = "tiny-llama",
                    telemetry_every: int = 8) -> str:
    """Copy one run into ``dest_runs_dir`` with everything that varies between runs fixed.

    Event ids are renumbered without the telemetry events (whose count depends on
    wall time), and telemetry is put back every ``telemetry_every`` events with
    values made from its position. Returns the new run id.
    """
    copy_store(src_runs_dir, dest_runs_dir)
    db = sqlite3.connect(str(dest_runs_dir / "seal.db"))
    run = db.execute("SELECT model, run_dir FROM runs WHERE id=?", (run_id,)).fetchone()
    old_model, old_dir = run
    old_root = str(Path(src_runs_dir))
    new_dir = f"runs/{new_id}"

    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        for old, new in ((old_dir, new_dir), (old_root, "runs"), (old_model, model), (run_id, new_id)):
            if old:
                text = text.replace(old, new)
        return text

    with db:
        db.execute("DELETE FROM runs WHERE id != ?", (run_id,))
        for table in RUN_TABLES:
            db.execute(f"DELETE FROM {table} WHERE run_id != ?", (run_id,))
            db.execute(f"UPDATE {table} SET run_id=? WHERE run_id=?", (new_id, run_id))
        rows = db.execute("SELECT kind, round, phase, data_json FROM events WHERE kind != 'telemetry' "
                          "ORDER BY id").fetchall()
        db.execute("DELETE FROM events")
        db.execute("DELETE FROM telemetry")
        eid, ts = 0, T0
        for i, (kind, rnd, phase, data) in enumerate(rows):
            if i and i % telemetry_every == 0:
                eid += 1
                sample = {"cpu_pct": float(40 + (i * 37) % 60), "rss_mb": float(300 + (i * 13) % 200), "gpus": []}
                db.execute("INSERT INTO events(id, run_id, ts, kind, round, phase, data_json) "
                           "VALUES (?,?,?,?,?,?,?)", (eid, new_id, ts, "telemetry", None, None, json.dumps(sample)))
            eid += 1
            ts = T0 + eid * 0.5
            db.execute("INSERT INTO events(id, run_id, ts, kind, round, phase, data_json) VALUES (?,?,?,?,?,?,?)",
                       (eid, new_id, ts, kind, rnd, phase, fix(data)))
        last = db.execute("SELECT max(id), max(ts) FROM events").fetchone()
        db.execute("UPDATE runs SET id=?, model=?, run_dir=?, config_json=?, created_at=?, started_at=?, "
                   "finished_at=?, heartbeat_at=?, pid=NULL, last_event_id=? WHERE id=?",
                   (new_id, model, new_dir, fix(db.execute("SELECT config_json FROM runs").fetchone()[0]),
                    T0, T0 + 1.0, last[1], last[1], last[0], run_id))
    db.close()
    return new_id


def cut_mid_run(runs_dir: Path, run_id: str, *, after_kind: str = "candidate_scored",
                nth: int = 6) -> int:
    """Drop the events after the ``nth`` ``after_kind`` one and mark the run as running now,
    owned by this process (so it is not stale). Returns the last event id kept."""
    db = sqlite3.connect(str(Path(runs_dir) / "seal.db"))
    ids = [r[0] for r in db.execute("SELECT id FROM events WHERE run_id=? AND kind=? ORDER BY id",
                                    (run_id, after_kind))]
    last = ids[min(nth, len(ids)) - 1]
    with db:
        db.execute("DELETE FROM events WHERE run_id=? AND id > ?", (run_id, last))
        db.execute("UPDATE runs SET status='running', finished_at=NULL, best_heldout=NULL, pid=?, "
                   "heartbeat_at=? WHERE id=?", (os.getpid(), time.time() + 3600, run_id))
    db.close()
    return last


async def wait_for_dashboard(pilot, *, timeout: float = 30.0) -> None:
    """Until the dashboard has reduced and drawn every event now in the store."""
    from .screens.dashboard import DashboardScreen

    app = pilot.app
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        screen = app.screen
        if isinstance(screen, DashboardScreen):
            last = app.store.conn.execute("SELECT max(id) FROM events WHERE run_id=?",
                                          (screen.run_id,)).fetchone()[0] or 0
            if screen.state.last_event_id >= last and screen.liveness is not None \
                    and not screen._sync_scheduled and screen._detail_timer is None:
                screen._sync()
                await pilot.pause()
                await pilot.pause()      # what the sync scheduled after the refresh (scrolling) runs too
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the dashboard did not catch up with the store in time")
