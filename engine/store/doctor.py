"""``seal-tui doctor``: is the run store sound, and which of its runs can still be read?

``check_store`` runs SQLite's integrity check and reads every run's rows (each event decoded,
its runs row, contexts, candidates, answers, metrics) without writing anything. ``repair``
rebuilds a store from the runs whose event log reads whole: their events are recorded again
into a new file, which rebuilds every table (the tables are the projection of the events),
the judge's cache is copied where it reads, and the damaged file is kept beside it as
``seal.db.damaged-<time>``.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from .db import Store, StoreError, connect_read_only
from .facts import DB_NAME, LIVE_STATUSES
from .problems import runs_dir_problem
from .read import RunReads

INTEGRITY_LINES = 10  # SQLite lists every damaged page; the first few say enough


@dataclass
class RunCheck:
    run_id: str
    name: str | None = None
    status: str | None = None
    events: int = 0
    lost_events: str | None = None    # why its event log does not read whole (None: every event reads)
    problem: str | None = None        # why another of its rows does not read (a table rebuilt from the events)

    @property
    def readable(self) -> bool:
        return self.lost_events is None and self.problem is None

    @property
    def recoverable(self) -> bool:
        """The event log reads whole: every table of the run can be rebuilt from it."""
        return self.lost_events is None


@dataclass
class Checkup:
    path: Path
    integrity: list[str] = field(default_factory=list)   # ["ok"] for a sound file
    runs: list[RunCheck] = field(default_factory=list)
    problem: str | None = None                           # the file cannot be opened or listed at all

    @property
    def sound(self) -> bool:
        return self.problem is None and self.integrity == ["ok"] and all(r.readable for r in self.runs)


class _Reader(RunReads):
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn


def check_store(runs_dir: Path) -> Checkup:
    """The integrity check and every run's readability; writes nothing."""
    path = Path(runs_dir) / DB_NAME
    up = Checkup(path)
    up.problem = runs_dir_problem(Path(runs_dir))
    if up.problem:
        return up
    if not path.is_file():
        up.problem = f"no run store at {path}: nothing to check"
        return up
    try:
        conn = connect_read_only(path)
    except sqlite3.DatabaseError as exc:
        up.problem = f"{path}: SQLite cannot open it ({exc})"
        return up
    try:
        try:
            up.integrity = [str(r[0]) for r in conn.execute(f"PRAGMA integrity_check({INTEGRITY_LINES})")]
        except sqlite3.DatabaseError as exc:
            up.integrity = [f"the check itself failed: {exc}"]
        reader = _Reader(conn)
        try:
            ids = _run_ids(conn)
        except sqlite3.DatabaseError as exc:
            up.problem = f"{path}: neither its runs nor its events can be listed ({exc})"
            return up
        up.runs = [_check_run(reader, run_id) for run_id in ids]
    finally:
        conn.close()
    return up


def _run_ids(conn: sqlite3.Connection) -> list[str]:
    """Every run the store knows of: from the runs table, else (damaged) from the events' index."""
    ids: list[str] = []
    for sql in ("SELECT id FROM runs ORDER BY created_at", "SELECT DISTINCT run_id FROM events"):
        try:
            ids += [r[0] for r in conn.execute(sql) if r[0] not in ids]
        except sqlite3.DatabaseError:
            if sql.startswith("SELECT DISTINCT") and not ids:
                raise
    return ids


def _check_run(reader: _Reader, run_id: str) -> RunCheck:
    check = RunCheck(run_id)
    unreadable = (sqlite3.DatabaseError, ValueError, KeyError, TypeError)
    try:
        for e in reader.iter_events(run_id):
            e.payload  # noqa: B018 (decoding each event is the check)
            check.events += 1
    except unreadable as exc:
        check.lost_events = f"{type(exc).__name__}: {exc}"
    try:
        run = reader.get_run(run_id)
        if run is None:
            check.problem = "its runs row is missing"
        else:
            check.name, check.status = run.get("name"), run.get("status")
        for split in ("train", "heldout"):
            reader.get_contexts(run_id, split)
        for cand in reader.candidates(run_id):
            reader.answers(cand["id"])
        reader.metrics(run_id)
        reader.round_counts(run_id)
    except unreadable as exc:
        check.problem = check.problem or f"{type(exc).__name__}: {exc}"
    return check


def repair(runs_dir: Path) -> tuple[Path, list[RunCheck], list[RunCheck]]:
    """A new store of the runs whose events read whole (their tables rebuilt from them); returns
    (where the damaged file went, kept, lost).

    Refused while an engine still writes to the store (a live run whose process is alive here)."""
    runs_dir = Path(runs_dir)
    up = check_store(runs_dir)
    if up.problem and not up.runs:
        raise StoreError(f"{up.problem}; nothing can be copied from it")
    src = connect_read_only(up.path)
    try:
        _refuse_while_engines_write(src)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        work = runs_dir / f".repair-{stamp}"
        work.mkdir()
        new = Store(work)
        kept = [r for r in up.runs if r.recoverable]
        reader = _Reader(src)
        for check in kept:
            new.replay_into(list(reader.iter_events(check.run_id)))
            old = reader.get_run(check.run_id) or {}
            with new.conn:  # where its files are, and where it ran: as the damaged store said
                new.conn.execute("UPDATE runs SET run_dir=?, host=COALESCE(?, host) WHERE id=?",
                                 (old.get("run_dir") or str(runs_dir / check.run_id), old.get("host"), check.run_id))
        _copy_judge_cache(src, new.conn)
        new.close()
    finally:
        src.close()
    damaged = runs_dir / f"{DB_NAME}.damaged-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        old_file = runs_dir / f"{DB_NAME}{suffix}"
        if old_file.exists():
            old_file.replace(runs_dir / f"{damaged.name}{suffix}")
    (work / DB_NAME).replace(runs_dir / DB_NAME)
    shutil.rmtree(work, ignore_errors=True)
    return damaged, kept, [r for r in up.runs if not r.recoverable]


def _refuse_while_engines_write(conn: sqlite3.Connection) -> None:
    host = socket.gethostname()
    try:
        rows = conn.execute(f"SELECT id, pid, host FROM runs WHERE status IN ({','.join('?' * len(LIVE_STATUSES))})",
                            LIVE_STATUSES).fetchall()
    except sqlite3.DatabaseError:
        return  # the runs table is what is damaged: nothing says an engine runs
    for run_id, pid, run_host in rows:
        if pid and run_host == host and _alive(int(pid)):
            raise StoreError(f"run {run_id}'s engine (pid {pid}) still writes to this store; stop it "
                             f"(seal-tui attach {run_id}, then s) before repairing")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _copy_judge_cache(src: sqlite3.Connection, dst: sqlite3.Connection) -> None:
    try:
        rows = src.execute("SELECT key, model, correct, reason, run_id, created_at FROM judge_cache").fetchall()
    except sqlite3.DatabaseError:
        return  # verdicts are a cache: the judge is asked again
    with dst:
        dst.executemany("INSERT OR REPLACE INTO judge_cache(key, model, correct, reason, run_id, created_at) "
                        "VALUES (?,?,?,?,?,?)", rows)
