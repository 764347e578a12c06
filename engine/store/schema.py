"""The store's tables (schema version 3; older stores are brought up to date on open).

meta(key TEXT PK, value TEXT)
    schema_version, events_version (engine.events.SCHEMA_VERSION of the newest writer).
runs(id TEXT PK, name, status, preset, model, source, config_json, run_dir,
     created_at, started_at, finished_at, heartbeat_at, pid, host, error,
     rounds, current_round, phase, best_heldout, last_event_id)
    One row per run, kept by the projection of its events (engine.store.projection).
    ``status`` is one of facts.STATUSES; ``source`` "engine" or "imported"; times are
    UNIX seconds. ``heartbeat_at`` moves with every telemetry event (~2 s); see
    ``Store.is_stale``. ``last_event_id`` is unused (kept for old stores).
events(id INTEGER PK, run_id, ts, kind, round, phase, data_json)
    The append-only event log, the single source of truth: ``kind`` is one of
    engine.events.KINDS, ``data_json`` the encoded payload.
contexts(run_id, split, idx, title, context, questions_json, data_json)  PK(run_id, split, idx)
    ``data_json``: a context item's further keys (few-shot: the raw ARC task under "arc").
candidates(id INTEGER PK, run_id, round, context_idx, cand_idx, title, self_edit,
           train_sequences_json, reward, baseline, gain, kept, keep_reason,
           review, trained_text, created_at, scored_at, summary, facets_json, invalid)
    UNIQUE(run_id, round, context_idx, cand_idx). ``review``: null, pending,
    approved, rejected or edited. ``summary`` / ``facets_json``: the task's reading
    of the self-edit; ``invalid``: why the task could not use it.
answers(candidate_id, q_idx, question, gold, answer_before, answer_after,
        correct_before, correct_after, reason, rep, detail_json)  PK(candidate_id, q_idx)
    ``detail_json``: {"before": ..., "after": ...}, what the answers were made from
    where the task keeps it (few-shot: grids, each view's answer, the vote).
metrics(id INTEGER PK, run_id, round, name, value, step, ts)
telemetry(id INTEGER PK, run_id, ts, cpu_pct, rss_mb, gpus_json)
    Everything above is run data: written only by ``Store.record`` (an event and
    its projection, in one transaction).
commands(id INTEGER PK, run_id, kind, payload_json, created_at, created_by,
         acked_at, ack_event_id)
decisions(id INTEGER PK, run_id, candidate_id, decision, edited_text, who, at)
    Requests to a run's engine, written by consoles: pause / resume / stop, and
    review decisions (the last row per candidate wins). The engine answers with
    events (command_ack, review_decided).
judge_cache(key TEXT PK, model, correct, reason, run_id, created_at)
    LLM judge verdicts shared by all runs; ``key`` hashes (prompt version, judge
    model, question, gold, answer). Never holds an API key.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys

# 1: the first store; 2: answers.rep and meta.events_version guaranteed (a store at 2 needs no
# checks on open, so opening it imports no sqlite_utils); 3: a task's own parts (contexts.data_json,
# candidates.summary / facets_json / invalid, answers.detail_json)
SCHEMA_VERSION = 3

TABLES = {
    "runs": ({"id": str, "name": str, "status": str, "preset": str, "model": str, "source": str,
              "config_json": str, "run_dir": str, "created_at": float, "started_at": float,
              "finished_at": float, "heartbeat_at": float, "pid": int, "host": str, "error": str,
              "rounds": int, "current_round": int, "phase": str, "best_heldout": float,
              "last_event_id": int}, "id"),
    "events": ({"id": int, "run_id": str, "ts": float, "kind": str, "round": int, "phase": str,
                "data_json": str}, "id"),
    "contexts": ({"run_id": str, "split": str, "idx": int, "title": str, "context": str,
                  "questions_json": str, "data_json": str}, ("run_id", "split", "idx")),
    "candidates": ({"id": int, "run_id": str, "round": int, "context_idx": int, "cand_idx": int,
                    "title": str, "self_edit": str, "train_sequences_json": str, "reward": float,
                    "baseline": float, "gain": float, "kept": int, "keep_reason": str, "review": str,
                    "trained_text": str, "created_at": float, "scored_at": float, "summary": str,
                    "facets_json": str, "invalid": str}, "id"),
    "answers": ({"candidate_id": int, "q_idx": int, "question": str, "gold": str, "answer_before": str,
                 "answer_after": str, "correct_before": int, "correct_after": int, "reason": str,
                 "rep": int, "detail_json": str}, ("candidate_id", "q_idx")),
    "metrics": ({"id": int, "run_id": str, "round": int, "name": str, "value": float, "step": int,
                 "ts": float}, "id"),
    "commands": ({"id": int, "run_id": str, "kind": str, "payload_json": str, "created_at": float,
                  "created_by": str, "acked_at": float, "ack_event_id": int}, "id"),
    "decisions": ({"id": int, "run_id": str, "candidate_id": int, "decision": str, "edited_text": str,
                   "who": str, "at": float}, "id"),
    "telemetry": ({"id": int, "run_id": str, "ts": float, "cpu_pct": float, "rss_mb": float,
                   "gpus_json": str}, "id"),
    "judge_cache": ({"key": str, "model": str, "correct": int, "reason": str, "run_id": str,
                     "created_at": float}, "key"),
}
INDEXES = (
    ("events", ["run_id", "id"], False),
    ("candidates", ["run_id", "round", "context_idx", "cand_idx"], True),
    ("metrics", ["run_id", "round", "name"], False),
    ("commands", ["run_id", "acked_at"], False),
    ("decisions", ["run_id", "candidate_id"], False),
    ("telemetry", ["run_id", "ts"], False),
)
# tables holding one run's rows, by the column naming the run
RUN_TABLES = {"events": "run_id", "contexts": "run_id", "candidates": "run_id", "metrics": "run_id",
              "commands": "run_id", "decisions": "run_id", "telemetry": "run_id", "runs": "id"}


class SchemaTooNew(Exception):
    def __init__(self, found: int):
        super().__init__(found)
        self.found = found


class SchemaTooOld(Exception):
    def __init__(self, found: int | None):
        super().__init__(found)
        self.found = found


def check_readable(conn: sqlite3.Connection) -> None:
    """A store opened read-only: its schema must be this one (an older one needs writing to upgrade)."""
    found = stored_version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise SchemaTooNew(found)
    if found != SCHEMA_VERSION:
        raise SchemaTooOld(found)


def stored_version(conn: sqlite3.Connection, key: str = "schema_version") -> int | None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    except sqlite3.OperationalError:  # no meta table: a new file
        return None
    return int(row[0]) if row else None


def ensure_schema(conn: sqlite3.Connection, events_version: int) -> None:
    """Create what is missing, add columns older stores lack, record the versions."""
    found = stored_version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise SchemaTooNew(found)
    known_events = stored_version(conn, "events_version") or 0
    if found == SCHEMA_VERSION and known_events >= events_version:
        return
    db = _sqlite_utils().Database(conn)
    with conn:
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        for name, (columns, pk) in TABLES.items():
            db[name].create(columns, pk=pk, if_not_exists=True)
            missing = set(columns) - set(db[name].columns_dict)
            for col in sorted(missing):  # stores made before the column existed (answers.rep)
                db[name].add_column(col, columns[col])
        for table, cols, unique in INDEXES:
            db[table].create_index(cols, unique=unique, if_not_exists=True)
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('events_version', ?)",
                     (str(max(known_events, events_version)),))


def _sqlite_utils():
    """sqlite_utils, imported without pandas and numpy: it imports them when installed (about a
    second) only to convert their values on insert, which the store never does; the console's
    first paint would wait for it. A later ``import pandas`` elsewhere works as usual."""
    if "sqlite_utils" in sys.modules:
        return sys.modules["sqlite_utils"]
    held = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for name in held:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail fast
    try:
        return importlib.import_module("sqlite_utils")
    finally:
        for name in held:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
