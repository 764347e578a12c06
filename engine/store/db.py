"""``Store``: one run store (``<runs_dir>/seal.db``, SQLite in WAL mode) for every process.

The engine records events (``record``); consoles read them and the tables projected
from them (``engine.store.read``), and write requests to the engine: commands and
review decisions. Each thread or process opens its own ``Store``; WAL lets one writer
and many readers work at once. Nothing here imports torch.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine import events as ev

from . import schema
from .facts import COMMANDS, DB_NAME, DECISIONS, LIVE_STATUSES, default_runs_dir
from .problems import cannot_write, mkdir_problem, runs_dir_problem, store_problem, writable_problem
from .projection import Row, insert_candidate, project
from .read import RunReads


class StoreError(Exception):
    """The store file cannot be used (wrong schema, not a database...)."""


def connect(db_path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db_path), timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=OFF")
    return conn


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    """Open a store without writing to it. SQLite reads a WAL store read-only where it can make the
    -shm file beside it; on a read-only disk without one, only as immutable (nothing may change it)."""
    last: sqlite3.Error | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(f"file:{quote(str(db_path))}?{query}", uri=True, timeout=30.0,
                                   check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            last = exc
    assert last is not None
    raise last


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Store(RunReads):
    """Reads and writes one run store."""

    def __init__(self, runs_dir: Path | str | None = None, *, create: bool = True):
        self.runs_dir = Path(runs_dir).expanduser() if runs_dir else default_runs_dir()
        self.path = self.runs_dir / DB_NAME
        # the time recorded on events; an import replaces it to write the times a file gives
        self.clock: Callable[[], float] = time.time
        self._host = socket.gethostname()
        # a store that cannot be written here (a read-only disk, a full one) is still read: ls, show, replay
        self.read_only = False
        problem = runs_dir_problem(self.runs_dir)
        if problem:
            raise StoreError(problem)
        if not self.path.exists() and not create:
            raise StoreError(f"no run store at {self.path}: start a run first, or pass --runs-dir")
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(mkdir_problem(self.runs_dir, exc)) from None
        try:
            try:
                self.conn = connect(self.path)
                schema.ensure_schema(self.conn, ev.SCHEMA_VERSION)
            except sqlite3.OperationalError as exc:
                if not self.path.is_file():  # no store, and none can be made here: say why
                    raise StoreError(writable_problem(self.runs_dir) or store_problem(self.path, exc)) from None
                if not cannot_write(exc):
                    raise
                self.conn = connect_read_only(self.path)
                self.read_only = True
                schema.check_readable(self.conn)
        except schema.SchemaTooNew as exc:
            raise StoreError(f"{self.path} has schema version {exc.found}, newer than this seal-tui "
                             f"understands ({schema.SCHEMA_VERSION}); upgrade seal-tui") from None
        except schema.SchemaTooOld as exc:
            raise StoreError(f"{self.path} has schema version {exc.found} and is read-only here: this seal-tui "
                             f"upgrades it to {schema.SCHEMA_VERSION} once it can write there") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(store_problem(self.path, exc)) from None

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ run data: events only
    def record(self, run_id: str, payload: ev.Payload, *, round_: int | None = None,
               phase: str | None = None, ts: float | None = None) -> int:
        """Append one event and project it onto the tables, in one transaction; returns its id.

        A ``CandidateSampled`` without an id gets the id of its new row (set on ``payload``)."""
        with self.conn:
            return self._record(run_id, payload, round_, phase, ts)

    def _record(self, run_id: str, payload: ev.Payload, round_: int | None, phase: str | None,
                ts: float | None) -> int:
        if type(payload).KIND not in ev.KINDS:
            raise TypeError(f"{type(payload).__name__} is not an event kind of engine.events")
        now = self.clock() if ts is None else ts
        row = Row(self.conn, run_id, now, round_, phase, str(self.runs_dir), self._host)
        if isinstance(payload, ev.CandidateSampled):
            payload.id = insert_candidate(row, payload)
        cur = self.conn.execute(
            "INSERT INTO events(run_id, ts, kind, round, phase, data_json) VALUES (?,?,?,?,?,?)",
            (run_id, now, payload.KIND, round_, phase, _j(ev.encode(payload))))
        project(row, payload)
        return int(cur.lastrowid)

    def record_many(self, run_id: str, payloads: Iterable[ev.Payload], *, round_: int | None = None,
                    phase: str | None = None) -> list[int]:
        """Several events of one unit of work, in one transaction."""
        with self.conn:
            return [self._record(run_id, p, round_, phase, None) for p in payloads]

    def add_candidates(self, run_id: str, round_: int, items: list[ev.CandidateSampled]) -> list[int]:
        """Record sampled self-edits; one already there (a resumed round: same round, context and
        index) is kept as it is and not recorded again. Returns the candidate ids in order."""
        ids = []
        with self.conn:
            for item in items:
                found = self.conn.execute(
                    "SELECT id FROM candidates WHERE run_id=? AND round=? AND context_idx=? AND cand_idx=?",
                    (run_id, round_, item.context_idx, item.cand_idx)).fetchone()
                if found:
                    ids.append(int(found[0]))
                    continue
                self._record(run_id, item, round_, "sample", None)
                ids.append(int(item.id))
        return ids

    def replay_into(self, events: Iterable[ev.Event]) -> int:
        """Record stored events again, with their ids and times (an exported log into an empty
        store rebuilds the same tables). Returns how many were written."""
        n = 0
        with self.conn:
            for e in events:
                payload = e.payload
                row = Row(self.conn, e.run_id, e.ts, e.round, e.phase, str(self.runs_dir), self._host)
                if isinstance(payload, ev.CandidateSampled):
                    insert_candidate(row, payload)
                self.conn.execute(
                    "INSERT INTO events(id, run_id, ts, kind, round, phase, data_json) VALUES (?,?,?,?,?,?,?)",
                    (e.id, e.run_id, e.ts, e.kind, e.round, e.phase, _j(e.data)))
                project(row, payload)
                n += 1
        return n

    def delete_run(self, run_id: str) -> None:
        with self.conn:
            cand_ids = [r[0] for r in self.conn.execute("SELECT id FROM candidates WHERE run_id = ?", (run_id,))]
            for start in range(0, len(cand_ids), 500):
                chunk = cand_ids[start:start + 500]
                self.conn.execute(f"DELETE FROM answers WHERE candidate_id IN ({','.join('?' * len(chunk))})", chunk)
            for table, col in schema.RUN_TABLES.items():
                self.conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (run_id,))

    # ------------------------------------------------------------------ liveness
    def is_stale(self, run: dict, *, heartbeat_timeout: float = 30.0) -> bool:
        """A live-status run whose engine is gone (dead pid, or no heartbeat)."""
        if run.get("status") not in LIVE_STATUSES or run.get("source") == "imported":
            return False
        pid, host = run.get("pid"), run.get("host")
        if pid and host == self._host:
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
            else:
                return _is_zombie(int(pid))
        beat = run.get("heartbeat_at") or run.get("started_at") or run.get("created_at") or 0
        return time.time() - beat > heartbeat_timeout

    def display_status(self, run: dict) -> str:
        return "stale" if self.is_stale(run) else run.get("status") or "created"

    def runs_with_status(self) -> list[dict]:
        """Every run, newest first, each with its ``display_status`` (stale where the engine is gone)."""
        runs = self.list_runs()
        for run in runs:
            run["display_status"] = self.display_status(run)
        return runs

    # ------------------------------------------------------------------ commands (console -> engine)
    def send_command(self, run_id: str, kind: str, payload: dict | None = None) -> int:
        if kind not in COMMANDS:
            raise ValueError(f"unknown command {kind!r}: expected pause, resume or stop")
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO commands(run_id, kind, payload_json, created_at, created_by) VALUES (?,?,?,?,?)",
                (run_id, kind, _j(payload or {}), time.time(), _user()))
            return int(cur.lastrowid)

    def pending_commands(self, run_id: str) -> list[dict]:
        return self._rows("SELECT * FROM commands WHERE run_id=? AND acked_at IS NULL ORDER BY id", run_id)

    def ack_command(self, run_id: str, command: dict, ok: bool, message: str,
                    round_: int | None = None, phase: str | None = None) -> None:
        """The engine's answer: a command_ack event, and the command marked done."""
        with self.conn:
            eid = self._record(run_id, ev.CommandAck(command_id=command["id"], kind=command["kind"], ok=ok,
                                                     message=message), round_, phase, None)
            self.conn.execute("UPDATE commands SET acked_at=?, ack_event_id=? WHERE id=?",
                              (time.time(), eid, command["id"]))

    # ------------------------------------------------------------------ review decisions (console -> engine)
    def decide(self, run_id: str, candidate_id: int, decision: str,
               edited_text: str | None = None, who: str | None = None) -> int:
        """Record a review decision: approve, reject, edit (with the edited text) or undo."""
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}: expected approve, reject, edit or undo")
        if decision == "edit" and not (edited_text or "").strip():
            raise ValueError("an edit needs the edited self-edit text")
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO decisions(run_id, candidate_id, decision, edited_text, who, at) VALUES (?,?,?,?,?,?)",
                (run_id, candidate_id, decision, edited_text, who or _user(), time.time()))
            return int(cur.lastrowid)

    def latest_decisions(self, run_id: str) -> dict[int, dict]:
        """candidate_id -> the last decision row (an ``undo`` clears it)."""
        out: dict[int, dict] = {}
        for row in self._rows("SELECT * FROM decisions WHERE run_id=? ORDER BY id", run_id):
            if row["decision"] == "undo":
                out.pop(row["candidate_id"], None)
            else:
                out[row["candidate_id"]] = row
        return out

    # ------------------------------------------------------------------ judge cache
    def judge_cache_get(self, keys: list[str]) -> dict[str, dict]:
        """key -> {correct, reason} for the keys already judged."""
        out: dict[str, dict] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for key, correct, reason in self.conn.execute(
                    f"SELECT key, correct, reason FROM judge_cache WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk):
                out[key] = {"correct": bool(correct), "reason": reason}
        return out

    def judge_cache_put(self, rows: list[dict]) -> None:
        """rows: [{key, model, correct, reason, run_id}]; a key judged again is replaced."""
        now = time.time()
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO judge_cache(key, model, correct, reason, run_id, created_at) "
                "VALUES (?,?,?,?,?,?)",
                [(r["key"], r["model"], int(bool(r["correct"])), r["reason"], r.get("run_id"), now)
                 for r in rows])


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return str(os.getuid())


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
