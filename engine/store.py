"""The run store: one SQLite file (WAL) that every process reads and writes.

The engine appends; consoles read (and write commands and review decisions).
This module imports neither torch nor anything heavy, so the console uses it too.

Schema (version 1)
------------------
meta(key TEXT PK, value TEXT)
    schema_version.
runs(id TEXT PK, name, status, preset, model, source, config_json, run_dir,
     created_at, started_at, finished_at, heartbeat_at, pid, host, error,
     rounds, current_round, phase, best_heldout, last_event_id)
    One row per run. ``status`` is one of STATUSES. ``source`` is "engine" or
    "imported". Times are UNIX seconds (float). ``heartbeat_at`` is refreshed by
    the engine's telemetry thread every ~2 s; see ``is_stale``.
events(id INTEGER PK, run_id, ts, kind, round, phase, data_json)
    The append-only event log: the single source of truth a console renders
    from. ``kind`` is one of EVENT_KINDS; ``data_json`` holds the payload.
    Read incrementally with ``events_after(run_id, last_id)``.
contexts(run_id, split, idx, title, context, questions_json)  PK(run_id, split, idx)
    The passages a run uses ("train" or "heldout").
candidates(id INTEGER PK, run_id, round, context_idx, cand_idx, title, self_edit,
           train_sequences_json, reward, baseline, gain, kept, keep_reason,
           review, trained_text, created_at, scored_at)
    UNIQUE(run_id, round, context_idx, cand_idx). One row per sampled self-edit,
    filled in as it is scored, filtered, reviewed and trained on.
    ``review`` is null, "pending", "approved", "rejected" or "edited".
answers(candidate_id, q_idx, question, gold, answer_before, answer_after,
        correct_before, correct_after, reason)  PK(candidate_id, q_idx)
    Per-question records of each scored candidate.
metrics(id INTEGER PK, run_id, round, name, value, step, ts)
    Numbers per round (heldout_none, heldout_passage, heldout_self_edit,
    train_reward_mean, kept_count, mstep_loss...).
commands(id INTEGER PK, run_id, kind, payload_json, created_at, created_by,
         acked_at, ack_event_id)
    pause / resume / stop written by consoles; the engine polls unacked ones
    between units of work and answers with a ``command_ack`` event.
decisions(id INTEGER PK, run_id, candidate_id, decision, edited_text, who, at)
    Review decisions (approve / reject / edit). The last row per candidate wins.
telemetry(id INTEGER PK, run_id, ts, cpu_pct, rss_mb, gpus_json)
    Samples every ~2 s; also mirrored as ``telemetry`` events for replay.
judge_cache(key TEXT PK, model, correct, reason, run_id, created_at)
    LLM judge verdicts shared by all runs; ``key`` is a hash of (prompt version,
    judge model, question, gold, answer), so grading the same answer again costs
    no request. ``run_id`` is the run that first asked. Never holds an API key.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import sqlite_utils

SCHEMA_VERSION = 1
DB_NAME = "seal.db"

STATUSES = (
    "created", "running", "paused", "awaiting_review",
    "finished", "failed", "stopped",
)
LIVE_STATUSES = ("created", "running", "paused", "awaiting_review")
PHASES = ("setup", "sample", "inner_loop", "filter", "review", "train", "eval", "done")

EVENT_KINDS = (
    "run_created", "run_started", "run_paused", "run_resumed",
    "run_finished", "run_failed", "run_stopped",
    "round_started", "round_finished", "phase", "progress",
    "contexts",            # the passages of the run: {split, items:[{idx,title,context,questions}]}
    "candidate_sampled",   # {id, context_idx, cand_idx, title, self_edit}
    "candidate_scored",    # {id, context_idx, cand_idx, reward, baseline, gain, train_sequences, answers:[...]}
    "candidate_filtered",  # {id, kept, reason}
    "review_waiting", "review_decided", "review_done",
    "mstep_examples",      # {candidates:[{id, edited, text?}]}: what the M-step trains on (text only where edited)
    "mstep_progress",      # {step, total, loss, epoch}
    "mstep_done",          # {policy_path, examples, loss, skipped?, reason?}
    "eval_result",         # {round, none, passage, self_edit, n_questions, per_context:[...]}
    "metric",              # {name, value, step}
    "telemetry",           # {cpu_pct, rss_mb, gpus:[{index,name,util,mem_used_mb,mem_total_mb,temp_c}]}
    "log",                 # {level, message}
    "command_ack",         # {command_id, kind, ok, message}
)


def default_runs_dir() -> Path:
    """``SEAL_RUNS_DIR`` if set, else ``./runs``."""
    env = os.environ.get("SEAL_RUNS_DIR")
    return Path(env).expanduser() if env else Path.cwd() / "runs"


def connect(db_path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db_path), timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=OFF")
    return conn


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Event:
    id: int
    run_id: str
    ts: float
    kind: str
    round: int | None
    phase: str | None
    data: dict

    def as_dict(self) -> dict:
        return {
            "id": self.id, "run_id": self.run_id, "ts": self.ts, "kind": self.kind,
            "round": self.round, "phase": self.phase, "data": self.data,
        }


class StoreError(Exception):
    """The store file cannot be used (wrong schema, not a database...)."""


class Store:
    """Reads and writes one run store (``<runs_dir>/seal.db``).

    Each thread or process opens its own ``Store``; SQLite's WAL lets one
    writer and many readers work at once.
    """

    def __init__(self, runs_dir: Path | str | None = None, *, create: bool = True):
        self.runs_dir = Path(runs_dir).expanduser() if runs_dir else default_runs_dir()
        self.path = self.runs_dir / DB_NAME
        # the time recorded on events and rows; an import replaces it to write the times a file gives
        self.clock: Callable[[], float] = time.time
        if not self.path.exists() and not create:
            raise StoreError(f"no run store at {self.path}: start a run first, or pass --runs-dir")
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = connect(self.path)
            self.db = sqlite_utils.Database(self.conn)
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable run store ({exc}); move it away or pass another --runs-dir") from exc

    # ------------------------------------------------------------------ schema
    def _ensure_schema(self) -> None:
        db = self.db
        with self.conn:
            if "meta" not in db.table_names():
                db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {row[0]}, newer than this seal-tui "
                    f"understands ({SCHEMA_VERSION}); upgrade seal-tui"
                )
            db["runs"].create({
                "id": str, "name": str, "status": str, "preset": str, "model": str,
                "source": str, "config_json": str, "run_dir": str,
                "created_at": float, "started_at": float, "finished_at": float,
                "heartbeat_at": float, "pid": int, "host": str, "error": str,
                "rounds": int, "current_round": int, "phase": str,
                "best_heldout": float, "last_event_id": int,
            }, pk="id", if_not_exists=True)
            db["events"].create({
                "id": int, "run_id": str, "ts": float, "kind": str,
                "round": int, "phase": str, "data_json": str,
            }, pk="id", if_not_exists=True)
            db["contexts"].create({
                "run_id": str, "split": str, "idx": int, "title": str,
                "context": str, "questions_json": str,
            }, pk=("run_id", "split", "idx"), if_not_exists=True)
            db["candidates"].create({
                "id": int, "run_id": str, "round": int, "context_idx": int,
                "cand_idx": int, "title": str, "self_edit": str,
                "train_sequences_json": str, "reward": float, "baseline": float,
                "gain": float, "kept": int, "keep_reason": str, "review": str,
                "trained_text": str, "created_at": float, "scored_at": float,
            }, pk="id", if_not_exists=True)
            db["answers"].create({
                "candidate_id": int, "q_idx": int, "question": str, "gold": str,
                "answer_before": str, "answer_after": str,
                "correct_before": int, "correct_after": int, "reason": str, "rep": int,
            }, pk=("candidate_id", "q_idx"), if_not_exists=True)
            if "rep" not in db["answers"].columns_dict:  # stores made before repeated inner-loop runs
                db["answers"].add_column("rep", int)
            db["metrics"].create({
                "id": int, "run_id": str, "round": int, "name": str,
                "value": float, "step": int, "ts": float,
            }, pk="id", if_not_exists=True)
            db["commands"].create({
                "id": int, "run_id": str, "kind": str, "payload_json": str,
                "created_at": float, "created_by": str, "acked_at": float,
                "ack_event_id": int,
            }, pk="id", if_not_exists=True)
            db["decisions"].create({
                "id": int, "run_id": str, "candidate_id": int, "decision": str,
                "edited_text": str, "who": str, "at": float,
            }, pk="id", if_not_exists=True)
            db["telemetry"].create({
                "id": int, "run_id": str, "ts": float, "cpu_pct": float,
                "rss_mb": float, "gpus_json": str,
            }, pk="id", if_not_exists=True)
            db["judge_cache"].create({
                "key": str, "model": str, "correct": int, "reason": str,
                "run_id": str, "created_at": float,
            }, pk="key", if_not_exists=True)
            for table, cols, unique in (
                ("events", ["run_id", "id"], False),
                ("candidates", ["run_id", "round", "context_idx", "cand_idx"], True),
                ("metrics", ["run_id", "round", "name"], False),
                ("commands", ["run_id", "acked_at"], False),
                ("decisions", ["run_id", "candidate_id"], False),
                ("telemetry", ["run_id", "ts"], False),
            ):
                db[table].create_index(cols, unique=unique, if_not_exists=True)
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ runs
    def create_run(self, run_id: str, *, name: str, preset: str, model: str,
                   config: dict, rounds: int, source: str = "engine",
                   run_dir: str | None = None) -> None:
        now = self.clock()
        with self.conn:
            self.db["runs"].insert({
                "id": run_id, "name": name, "status": "created", "preset": preset,
                "model": model, "source": source, "config_json": _j(config),
                "run_dir": run_dir or str(self.runs_dir / run_id),
                "created_at": now, "rounds": rounds, "current_round": 0,
                "phase": "setup", "pid": None, "host": socket.gethostname(),
            })
            self._append(run_id, "run_created", {"name": name, "preset": preset,
                                                 "model": model, "rounds": rounds,
                                                 "config": config, "source": source},
                         round_=0, phase="setup", ts=now)

    def update_run(self, run_id: str, **fields: Any) -> None:
        with self.conn:
            self.db["runs"].update(run_id, fields)

    def get_run(self, run_id: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        return rows[0] if rows else None

    def find_run(self, ref: str) -> dict | None:
        """A run by id, unique id prefix or name (the newest of that name)."""
        run = self.get_run(ref)
        if run:
            return run
        rows = list(self.db.query(
            "SELECT * FROM runs WHERE id LIKE ? OR name = ? ORDER BY created_at DESC",
            [ref + "%", ref]))
        return rows[0] if rows else None

    def list_runs(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM runs ORDER BY created_at DESC"))

    def delete_run(self, run_id: str) -> None:
        with self.conn:
            cand_ids = [r[0] for r in self.conn.execute(
                "SELECT id FROM candidates WHERE run_id = ?", (run_id,))]
            for chunk_start in range(0, len(cand_ids), 500):
                chunk = cand_ids[chunk_start:chunk_start + 500]
                self.conn.execute(
                    f"DELETE FROM answers WHERE candidate_id IN ({','.join('?' * len(chunk))})", chunk)
            for table in ("events", "contexts", "candidates", "metrics", "commands",
                          "decisions", "telemetry", "runs"):
                col = "id" if table == "runs" else "run_id"
                self.conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (run_id,))

    def is_stale(self, run: dict, *, heartbeat_timeout: float = 30.0) -> bool:
        """A live-status run whose engine is gone (dead pid, or no heartbeat)."""
        if run.get("status") not in LIVE_STATUSES or run.get("source") == "imported":
            return False
        pid, host = run.get("pid"), run.get("host")
        if pid and host == socket.gethostname():
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

    # ------------------------------------------------------------------ events
    def _append(self, run_id: str, kind: str, data: dict, *, round_: int | None,
                phase: str | None, ts: float | None = None) -> int:
        cur = self.conn.execute(
            "INSERT INTO events(run_id, ts, kind, round, phase, data_json) VALUES (?,?,?,?,?,?)",
            (run_id, self.clock() if ts is None else ts, kind, round_, phase, _j(data)),
        )
        return int(cur.lastrowid)

    def append_event(self, run_id: str, kind: str, data: dict | None = None, *,
                     round_: int | None = None, phase: str | None = None,
                     ts: float | None = None) -> int:
        """Append one event, recorded at ``ts`` (default: now by ``self.clock``)."""
        with self.conn:
            return self._append(run_id, kind, data or {}, round_=round_, phase=phase, ts=ts)

    def events_after(self, run_id: str, last_id: int = 0, limit: int = 5000) -> list[Event]:
        rows = self.conn.execute(
            "SELECT id, run_id, ts, kind, round, phase, data_json FROM events "
            "WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
            (run_id, last_id, limit),
        ).fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def iter_events(self, run_id: str, batch: int = 5000) -> Iterator[Event]:
        last = 0
        while True:
            chunk = self.events_after(run_id, last, batch)
            if not chunk:
                return
            yield from chunk
            last = chunk[-1].id

    def count_events(self, run_id: str) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0]

    # ------------------------------------------------------------------ contexts
    def save_contexts(self, run_id: str, split: str, items: list[tuple[int, dict]], *,
                      round_: int | None = 0) -> None:
        """Record passages a run uses as (index in its split, context) pairs."""
        with self.conn:
            self.db["contexts"].upsert_all(({
                "run_id": run_id, "split": split, "idx": i, "title": c["title"],
                "context": c["context"], "questions_json": _j(c["questions"]),
            } for i, c in items), pk=("run_id", "split", "idx"))
            self._append(run_id, "contexts", {"split": split, "items": [
                {"idx": i, "title": c["title"], "context": c["context"],
                 "questions": c["questions"]} for i, c in items]},
                round_=round_, phase="setup")

    def get_contexts(self, run_id: str, split: str) -> list[dict]:
        return [{"idx": r["idx"], "title": r["title"], "context": r["context"],
                 "questions": json.loads(r["questions_json"])}
                for r in self.db.query(
                    "SELECT * FROM contexts WHERE run_id=? AND split=? ORDER BY idx",
                    [run_id, split])]

    # ------------------------------------------------------------------ candidates
    def add_candidates(self, run_id: str, round_: int, items: list[dict]) -> list[int]:
        """Insert sampled self-edits (each {context_idx, cand_idx, title, self_edit}).

        Already present (run, round, context, index) rows are kept as they are, so
        a resumed run never duplicates candidates. Returns the ids in order.
        """
        ids = []
        now = self.clock()
        with self.conn:
            for it in items:
                row = self.conn.execute(
                    "SELECT id FROM candidates WHERE run_id=? AND round=? AND context_idx=? AND cand_idx=?",
                    (run_id, round_, it["context_idx"], it["cand_idx"])).fetchone()
                if row:
                    ids.append(int(row[0]))
                    continue
                cur = self.conn.execute(
                    "INSERT INTO candidates(run_id, round, context_idx, cand_idx, title, self_edit, created_at) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (run_id, round_, it["context_idx"], it["cand_idx"], it["title"], it["self_edit"], now))
                cid = int(cur.lastrowid)
                ids.append(cid)
                self._append(run_id, "candidate_sampled", {
                    "id": cid, "context_idx": it["context_idx"], "cand_idx": it["cand_idx"],
                    "title": it["title"], "self_edit": it["self_edit"]},
                    round_=round_, phase="sample", ts=now)
        return ids

    def record_score(self, run_id: str, round_: int, candidate_id: int, *,
                     reward: float, baseline: float, gain: float,
                     train_sequences: list[str], answers: list[dict],
                     rewards: list[float] | None = None) -> None:
        """Store a candidate's inner-loop result and its per-question records.

        ``answers``: [{question, gold, answer_before, answer_after,
        correct_before, correct_after, reason, rep}] (``rep``: which of the candidate's
        inner-loop runs, 0 where there was one); ``rewards``: each run's reward where
        there were several (``reward`` is their mean).
        """
        now = self.clock()
        with self.conn:
            self.conn.execute(
                "UPDATE candidates SET reward=?, baseline=?, gain=?, train_sequences_json=?, scored_at=? WHERE id=?",
                (reward, baseline, gain, _j(train_sequences), now, candidate_id))
            self.conn.execute("DELETE FROM answers WHERE candidate_id=?", (candidate_id,))
            self.conn.executemany(
                "INSERT INTO answers(candidate_id, q_idx, question, gold, answer_before, answer_after, "
                "correct_before, correct_after, reason, rep) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(candidate_id, i, a["question"], a["gold"], a["answer_before"], a["answer_after"],
                  int(bool(a["correct_before"])), int(bool(a["correct_after"])), a.get("reason", ""),
                  int(a.get("rep") or 0))
                 for i, a in enumerate(answers)])
            row = self.conn.execute("SELECT context_idx, cand_idx FROM candidates WHERE id=?",
                                    (candidate_id,)).fetchone()
            self._append(run_id, "candidate_scored", {
                "id": candidate_id, "context_idx": row[0], "cand_idx": row[1],
                "reward": reward, "baseline": baseline, "gain": gain,
                "train_sequences": train_sequences, "answers": answers,
                **({"rewards": rewards} if rewards else {})},
                round_=round_, phase="inner_loop", ts=now)

    def record_filter(self, run_id: str, round_: int, verdicts: list[dict]) -> None:
        """verdicts: [{id, kept, reason}]."""
        with self.conn:
            for v in verdicts:
                self.conn.execute("UPDATE candidates SET kept=?, keep_reason=? WHERE id=?",
                                  (int(v["kept"]), v["reason"], v["id"]))
                self._append(run_id, "candidate_filtered", v, round_=round_, phase="filter")

    def set_trained_text(self, candidate_id: int, text: str | None) -> None:
        with self.conn:
            self.conn.execute("UPDATE candidates SET trained_text=? WHERE id=?", (text, candidate_id))

    def set_review_state(self, candidate_ids: Iterable[int], state: str) -> None:
        with self.conn:
            self.conn.executemany("UPDATE candidates SET review=? WHERE id=?",
                                  [(state, cid) for cid in candidate_ids])

    def candidates(self, run_id: str, round_: int | None = None) -> list[dict]:
        sql = "SELECT * FROM candidates WHERE run_id=?"
        args: list[Any] = [run_id]
        if round_ is not None:
            sql += " AND round=?"
            args.append(round_)
        sql += " ORDER BY round, context_idx, cand_idx"
        return list(self.db.query(sql, args))

    def answers(self, candidate_id: int) -> list[dict]:
        return list(self.db.query("SELECT * FROM answers WHERE candidate_id=? ORDER BY q_idx",
                                  [candidate_id]))

    # ------------------------------------------------------------------ metrics
    def add_metric(self, run_id: str, round_: int, name: str, value: float,
                   step: int | None = None, *, event: bool = True) -> None:
        now = self.clock()
        with self.conn:
            self.db["metrics"].insert({"run_id": run_id, "round": round_, "name": name,
                                       "value": float(value), "step": step, "ts": now})
            if event:
                self._append(run_id, "metric", {"name": name, "value": float(value), "step": step},
                             round_=round_, phase=None, ts=now)

    def metrics(self, run_id: str, name: str | None = None) -> list[dict]:
        sql = "SELECT * FROM metrics WHERE run_id=?"
        args: list[Any] = [run_id]
        if name:
            sql += " AND name=?"
            args.append(name)
        return list(self.db.query(sql + " ORDER BY id", args))

    # ------------------------------------------------------------------ telemetry
    def add_telemetry(self, run_id: str, cpu_pct: float, rss_mb: float, gpus: list[dict]) -> None:
        now = self.clock()
        with self.conn:
            self.db["telemetry"].insert({"run_id": run_id, "ts": now, "cpu_pct": cpu_pct,
                                         "rss_mb": rss_mb, "gpus_json": _j(gpus)})
            self._append(run_id, "telemetry", {"cpu_pct": cpu_pct, "rss_mb": rss_mb, "gpus": gpus},
                         round_=None, phase=None, ts=now)
            self.conn.execute("UPDATE runs SET heartbeat_at=? WHERE id=?", (now, run_id))

    # ------------------------------------------------------------------ commands
    def send_command(self, run_id: str, kind: str, payload: dict | None = None) -> int:
        if kind not in ("pause", "resume", "stop"):
            raise ValueError(f"unknown command {kind!r}: expected pause, resume or stop")
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO commands(run_id, kind, payload_json, created_at, created_by) VALUES (?,?,?,?,?)",
                (run_id, kind, _j(payload or {}), time.time(), _user()))
            return int(cur.lastrowid)

    def pending_commands(self, run_id: str) -> list[dict]:
        return list(self.db.query(
            "SELECT * FROM commands WHERE run_id=? AND acked_at IS NULL ORDER BY id", [run_id]))

    def ack_command(self, run_id: str, command: dict, ok: bool, message: str,
                    round_: int | None = None, phase: str | None = None) -> None:
        with self.conn:
            eid = self._append(run_id, "command_ack", {"command_id": command["id"], "kind": command["kind"],
                                                       "ok": ok, "message": message},
                               round_=round_, phase=phase)
            self.conn.execute("UPDATE commands SET acked_at=?, ack_event_id=? WHERE id=?",
                              (time.time(), eid, command["id"]))

    # ------------------------------------------------------------------ review decisions
    def decide(self, run_id: str, candidate_id: int, decision: str,
               edited_text: str | None = None, who: str | None = None) -> int:
        """Record a review decision: approve, reject or edit (with the edited text)."""
        if decision not in ("approve", "reject", "edit", "undo"):
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
        for row in self.db.query("SELECT * FROM decisions WHERE run_id=? ORDER BY id", [run_id]):
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
