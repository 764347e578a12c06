"""The store's tables as a projection of the event log: one function per event kind.

``project`` runs inside ``Store.record``'s transaction, right after the event is
appended, so the tables and the log never disagree; replaying a log into an empty
store (``Store.record`` of each event) rebuilds the same tables. Kinds that change
no table (progress, log, mstep_done...) have no entry.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from engine import events as ev

from .facts import DECISION_STATE


def _j(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Row:
    """Where an event is being written: the connection, its run, time, round and phase."""

    __slots__ = ("conn", "run_id", "ts", "round", "phase", "runs_dir", "host")

    def __init__(self, conn: sqlite3.Connection, run_id: str, ts: float, round_: int | None,
                 phase: str | None, runs_dir: str, host: str) -> None:
        self.conn, self.run_id, self.ts, self.round, self.phase = conn, run_id, ts, round_, phase
        self.runs_dir, self.host = runs_dir, host

    def run(self, sql: str, *args) -> None:
        self.conn.execute(f"UPDATE runs SET {sql} WHERE id=?", (*args, self.run_id))


def project(w: Row, payload: ev.Payload) -> None:
    handler = _PROJECT.get(type(payload))
    if handler is not None:
        handler(w, payload)


# ---------------------------------------------------------------- runs
def _run_created(w: Row, p: ev.RunCreated) -> None:
    w.conn.execute(
        "INSERT INTO runs(id, name, status, preset, model, source, config_json, run_dir, created_at, "
        "rounds, current_round, phase, host) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (w.run_id, p.name, "created", p.preset, p.model, p.source, _j(p.config),
         f"{w.runs_dir}/{w.run_id}", w.ts, p.rounds, 0, "setup", w.host))


def _run_started(w: Row, p: ev.RunStarted) -> None:
    # a resumed run keeps its first start, so its listed start and duration stay true
    w.run("status='running', pid=?, host=COALESCE(?, host), started_at=COALESCE(started_at, ?), "
          "heartbeat_at=?, error=NULL, finished_at=NULL", p.pid, None if p.imported_from else w.host, w.ts, w.ts)


def _run_paused(w: Row, p: ev.RunPaused) -> None:
    w.run("status='paused', error=?", p.reason)


def _run_resumed(w: Row, p: ev.RunResumed) -> None:
    w.run("status=?, error=NULL", p.status or "running")


def _run_finished(w: Row, p: ev.RunFinished) -> None:
    w.run("status='finished', finished_at=?, best_heldout=?, phase='done'", w.ts, p.best_heldout)


def _run_failed(w: Row, p: ev.RunFailed) -> None:
    w.run("status='failed', finished_at=?, error=?", w.ts, p.error)


def _run_stopped(w: Row, p: ev.RunStopped) -> None:
    w.run("status='stopped', finished_at=?", w.ts)


def _round_started(w: Row, p: ev.RoundStarted) -> None:
    w.run("current_round=?", p.round)


def _phase(w: Row, p: ev.Phase) -> None:
    w.run("phase=?", p.phase)


# ---------------------------------------------------------------- contexts and candidates
CONTEXT_KEYS = ("idx", "title", "context", "questions")


def _contexts(w: Row, p: ev.Contexts) -> None:
    w.conn.executemany(
        "INSERT OR REPLACE INTO contexts(run_id, split, idx, title, context, questions_json, data_json) "
        "VALUES (?,?,?,?,?,?,?)",
        [(w.run_id, p.split, it["idx"], it["title"], it["context"], _j(it["questions"]),
          _j({k: v for k, v in it.items() if k not in CONTEXT_KEYS}) if set(it) - set(CONTEXT_KEYS) else None)
         for it in p.items])


def insert_candidate(w: Row, p: ev.CandidateSampled) -> int:
    """The candidate's row; a payload without an id is numbered here (before its event is written)."""
    cur = w.conn.execute(
        "INSERT INTO candidates(id, run_id, round, context_idx, cand_idx, title, self_edit, created_at, summary, "
        "facets_json) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (p.id, w.run_id, w.round, p.context_idx, p.cand_idx, p.title, p.self_edit, w.ts, p.summary or None,
         _j(p.facets) if p.facets else None))
    return int(cur.lastrowid)


def _detail(a: dict) -> str | None:
    if "detail_before" not in a and "detail_after" not in a:
        return None
    return _j({"before": a.get("detail_before"), "after": a.get("detail_after")})


def _candidate_scored(w: Row, p: ev.CandidateScored) -> None:
    w.conn.execute("UPDATE candidates SET reward=?, baseline=?, gain=?, train_sequences_json=?, scored_at=?, "
                   "invalid=? WHERE id=?",
                   (p.reward, p.baseline, p.gain, _j(p.train_sequences), w.ts, p.invalid, p.id))
    w.conn.execute("DELETE FROM answers WHERE candidate_id=?", (p.id,))
    w.conn.executemany(
        "INSERT INTO answers(candidate_id, q_idx, question, gold, answer_before, answer_after, "
        "correct_before, correct_after, reason, rep, detail_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(p.id, i, a["question"], a["gold"], a["answer_before"], a["answer_after"],
          int(bool(a["correct_before"])), int(bool(a["correct_after"])), a.get("reason", ""),
          int(a.get("rep") or 0), _detail(a)) for i, a in enumerate(p.answers)])


def _candidate_filtered(w: Row, p: ev.CandidateFiltered) -> None:
    w.conn.execute("UPDATE candidates SET kept=?, keep_reason=? WHERE id=?", (int(p.kept), p.reason, p.id))


# ---------------------------------------------------------------- review and M-step
def _review_waiting(w: Row, p: ev.ReviewWaiting) -> None:
    w.run("status='awaiting_review'")
    # candidates decided before (a resumed review) keep their state
    w.conn.executemany("UPDATE candidates SET review='pending' WHERE id=? AND (review IS NULL OR review='pending')",
                       [(cid,) for cid in p.candidate_ids])


def _review_decided(w: Row, p: ev.ReviewDecided) -> None:
    w.conn.execute("UPDATE candidates SET review=? WHERE id=?",
                   (DECISION_STATE.get(p.decision, p.decision), p.candidate_id))


def _review_done(w: Row, p: ev.ReviewDone) -> None:
    w.run("status='running'")


def _mstep_examples(w: Row, p: ev.MStepExamples) -> None:
    for item in p.candidates:
        if item.get("edited"):
            w.conn.execute("UPDATE candidates SET trained_text=? WHERE id=?", (item.get("text"), item["id"]))
        else:
            w.conn.execute("UPDATE candidates SET trained_text=self_edit WHERE id=?", (item["id"],))


def _mstep_progress(w: Row, p: ev.MStepProgress) -> None:
    if p.loss is not None:
        # a resumed run redoes an M-step a kill cut short: each step's loss replaces the first attempt's
        w.conn.execute("DELETE FROM metrics WHERE run_id=? AND round=? AND name='mstep_loss' AND step=?",
                       (w.run_id, w.round, p.step))
        _metric_row(w, "mstep_loss", p.loss, p.step)


# ---------------------------------------------------------------- numbers
def _metric_row(w: Row, name: str, value: float, step: int | None) -> None:
    w.conn.execute("INSERT INTO metrics(run_id, round, name, value, step, ts) VALUES (?,?,?,?,?,?)",
                   (w.run_id, w.round, name, float(value), step, w.ts))


def _metric(w: Row, p: ev.Metric) -> None:
    if p.value is not None:
        _metric_row(w, p.name, p.value, p.step)


def _telemetry(w: Row, p: ev.Telemetry) -> None:
    w.conn.execute("INSERT INTO telemetry(run_id, ts, cpu_pct, rss_mb, gpus_json) VALUES (?,?,?,?,?)",
                   (w.run_id, w.ts, p.cpu_pct, p.rss_mb, _j(p.gpus)))
    w.run("heartbeat_at=?", w.ts)


_PROJECT: dict[type, Callable] = {
    ev.RunCreated: _run_created, ev.RunStarted: _run_started, ev.RunPaused: _run_paused,
    ev.RunResumed: _run_resumed, ev.RunFinished: _run_finished, ev.RunFailed: _run_failed,
    ev.RunStopped: _run_stopped, ev.RoundStarted: _round_started, ev.Phase: _phase,
    ev.Contexts: _contexts, ev.CandidateScored: _candidate_scored, ev.CandidateFiltered: _candidate_filtered,
    ev.ReviewWaiting: _review_waiting, ev.ReviewDecided: _review_decided, ev.ReviewDone: _review_done,
    ev.MStepExamples: _mstep_examples, ev.MStepProgress: _mstep_progress, ev.Metric: _metric,
    ev.Telemetry: _telemetry,
}
