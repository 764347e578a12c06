"""The reducer: ``reduce(state, event) -> state``, the one way a run's state changes.

Live tail, attach and replay all feed the same events through this function, so
they all show the same thing. It does no I/O and reads no clock: the same events
always give the same state. For speed it updates ``state`` in place (bounded
buffers, no copies) and returns it.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from .format import printable
from .state import (
    MAX_CANDIDATES, MAX_REWARDS_PER_ROUND, Candidate, ForgettingEval, LogLine, MultiPassageEval, RoundEval,
    RunState, Telemetry,
)


class EventLike(Protocol):
    id: int
    ts: float
    kind: str
    round: int | None
    phase: str | None
    data: dict


TERMINAL = {"run_finished": "finished", "run_failed": "failed", "run_stopped": "stopped"}


def reduce(state: RunState, event: EventLike) -> RunState:
    handler = _HANDLERS.get(event.kind)
    state.rev += 1
    state.events_seen += 1
    state.last_event_id = max(state.last_event_id, event.id or 0)
    state.last_ts = event.ts
    if handler is not None:
        handler(state, event, event.data or {})
    return state


def apply(state: RunState, events: Iterable[EventLike]) -> RunState:
    for event in events:
        reduce(state, event)
    return state


# ---------------------------------------------------------------- run lifecycle
def _run_created(s: RunState, e: EventLike, d: dict) -> None:
    s.name = d.get("name") or s.name
    s.preset = d.get("preset") or ""
    s.model = d.get("model") or ""
    s.rounds = int(d.get("rounds") or 0)
    s.config = d.get("config") or {}
    s.source = d.get("source") or "engine"
    s.review_mode = (s.config.get("run") or {}).get("review")
    s.created_ts = e.ts
    s.status = "created"
    s.rev_header = s.rev
    s.rev_metrics = s.rev


def _run_started(s: RunState, e: EventLike, d: dict) -> None:
    s.status = "running"
    s.error = None
    s.finished_ts = None
    if s.started_ts is None:
        s.started_ts = e.ts
    s.rev_header = s.rev


def _status(status: str):
    def handler(s: RunState, e: EventLike, d: dict) -> None:
        s.status = status
        s.rev_header = s.rev
    return handler


def _terminal(s: RunState, e: EventLike, d: dict) -> None:
    s.status = TERMINAL[e.kind]
    s.finished_ts = e.ts
    if e.kind == "run_finished":
        if d.get("best_heldout") is not None:
            s.best_heldout = float(d["best_heldout"])
        s.phase = "done"
    elif e.kind == "run_failed":
        s.error = printable(d.get("error") or "unknown error")
    else:
        s.stop_reason = printable(d.get("reason") or "stopped")
    s.rev_header = s.rev


# ---------------------------------------------------------------- rounds and phases
def _round_started(s: RunState, e: EventLike, d: dict) -> None:
    s.round = int(d.get("round", e.round or 0))
    if d.get("total_rounds"):
        s.rounds = int(d["total_rounds"])
    s.rev_header = s.rev


def _round_finished(s: RunState, e: EventLike, d: dict) -> None:
    s.rev_header = s.rev


def _phase(s: RunState, e: EventLike, d: dict) -> None:
    s.phase = d.get("phase") or e.phase or s.phase
    s.phase_total = int(d.get("total") or 0)
    s.phase_done = 0
    s.phase_started_ts = e.ts
    if e.round is not None:
        s.round = e.round
    s.rev_header = s.rev


def _progress(s: RunState, e: EventLike, d: dict) -> None:
    phase = d.get("phase") or e.phase
    if phase and phase != s.phase:
        s.phase, s.phase_started_ts = phase, e.ts
    s.phase_done = int(d.get("done") or 0)
    s.phase_total = int(d.get("total") or s.phase_total)
    s.rev_header = s.rev


# ---------------------------------------------------------------- passages and candidates
def _contexts(s: RunState, e: EventLike, d: dict) -> None:
    split = d.get("split") or "train"
    bucket = s.contexts.setdefault(split, {})
    for item in d.get("items") or []:
        bucket[int(item["idx"])] = {
            "idx": int(item["idx"]), "title": printable(item.get("title")),
            "context": printable(item.get("context")),
            "questions": [{"question": printable(q.get("question")), "answer": printable(q.get("answer"))}
                          for q in item.get("questions") or []]}


def _candidate_sampled(s: RunState, e: EventLike, d: dict) -> None:
    cid = int(d["id"])
    if cid in s.candidates:
        return
    s.candidates[cid] = Candidate(
        id=cid, round=int(e.round or 0), context_idx=int(d.get("context_idx", 0)),
        cand_idx=int(d.get("cand_idx", 0)), title=printable(d.get("title")),
        self_edit=printable(d.get("self_edit")), seq=s.rev, rev=s.rev)
    s.candidate_changes.append((s.rev, cid))
    while len(s.candidates) > MAX_CANDIDATES:
        del s.candidates[next(iter(s.candidates))]
        s.candidates_dropped += 1
    s.rev_candidates = s.rev


def _candidate_scored(s: RunState, e: EventLike, d: dict) -> None:
    cid = int(d["id"])
    cand = s.candidates.get(cid)
    if cand is None:  # sampled before the window of kept rows: rebuild it from the score
        cand = s.candidates[cid] = Candidate(
            id=cid, round=int(e.round or 0), context_idx=int(d.get("context_idx", 0)),
            cand_idx=int(d.get("cand_idx", 0)), title="", self_edit="", seq=s.rev)
    cand.reward = _float(d.get("reward"))
    cand.baseline = _float(d.get("baseline"))
    cand.gain = _float(d.get("gain"))
    cand.rewards = [r for r in (_float(x) for x in d.get("rewards") or []) if r is not None]
    cand.train_sequences = [printable(t) for t in d.get("train_sequences") or []]
    cand.answers = [{k: printable(v) if isinstance(v, str) else v for k, v in a.items()}
                    for a in d.get("answers") or []]
    cand.rev = s.rev
    s.candidate_changes.append((s.rev, cid))
    rnd = int(e.round or cand.round)
    if cand.reward is not None:
        bucket = s.rewards.setdefault(rnd, [])
        if len(bucket) < MAX_REWARDS_PER_ROUND:
            bucket.append(cand.reward)
    if cand.baseline is not None:
        bucket = s.baselines.setdefault(rnd, [])
        if len(bucket) < MAX_REWARDS_PER_ROUND:
            bucket.append(cand.baseline)
    s.rev_candidates = s.rev
    s.rev_rewards = s.rev


def _candidate_filtered(s: RunState, e: EventLike, d: dict) -> None:
    kept = bool(d.get("kept"))
    rnd = int(e.round or 0)
    cand = s.candidates.get(int(d["id"]))
    if cand is not None:
        if cand.kept and not kept:
            s.kept_count[rnd] = s.kept_count.get(rnd, 1) - 1
        elif kept and not cand.kept:
            s.kept_count[rnd] = s.kept_count.get(rnd, 0) + 1
        cand.kept = kept
        cand.keep_reason = printable(d.get("reason") or "")
        cand.rev = s.rev
        s.candidate_changes.append((s.rev, cand.id))
    elif kept:
        s.kept_count[rnd] = s.kept_count.get(rnd, 0) + 1
    s.rev_candidates = s.rev
    s.rev_rewards = s.rev


# ---------------------------------------------------------------- review
def _review_waiting(s: RunState, e: EventLike, d: dict) -> None:
    s.status = "awaiting_review"
    s.review_mode = d.get("mode") or s.review_mode
    s.review_pending = [int(c) for c in d.get("candidate_ids") or []]
    for cid in s.review_pending:
        cand = s.candidates.get(cid)
        if cand is not None:
            cand.review, cand.rev = "pending", s.rev
            s.candidate_changes.append((s.rev, cid))
    s.rev_header = s.rev_candidates = s.rev


_DECIDED = {"approve": "approved", "reject": "rejected", "edit": "edited", "undo": "pending"}


def _review_decided(s: RunState, e: EventLike, d: dict) -> None:
    cid = int(d.get("candidate_id", -1))
    decision = _DECIDED.get(d.get("decision") or "", d.get("decision"))
    cand = s.candidates.get(cid)
    if cand is not None:
        cand.review, cand.rev = decision, s.rev
        s.candidate_changes.append((s.rev, cid))
    if decision == "pending":
        if cid not in s.review_pending:
            s.review_pending.append(cid)
    elif cid in s.review_pending:
        s.review_pending.remove(cid)
    s.rev_header = s.rev_candidates = s.rev


def _review_done(s: RunState, e: EventLike, d: dict) -> None:
    s.review_pending = []
    s.review_counts = {k: int(d.get(k) or 0) for k in ("approved", "rejected", "edited")}
    if s.status == "awaiting_review":
        s.status = "running"
    s.rev_header = s.rev


# ---------------------------------------------------------------- M-step, evaluation, metrics
def _mstep_progress(s: RunState, e: EventLike, d: dict) -> None:
    s.mstep = {"round": e.round, **d}
    if d.get("loss") is not None:
        s.mstep_loss.append((int(e.round or 0), int(d.get("step") or 0), float(d["loss"])))
    s.rev_metrics = s.rev


def _mstep_examples(s: RunState, e: EventLike, d: dict) -> None:
    for item in d.get("candidates") or []:
        cand = s.candidates.get(int(item.get("id", -1)))
        if cand is None:
            continue
        cand.trained, cand.trained_text = True, item.get("text") if item.get("edited") else None
        cand.rev = s.rev
        s.candidate_changes.append((s.rev, cand.id))
    s.rev_candidates = s.rev


def _mstep_done(s: RunState, e: EventLike, d: dict) -> None:
    s.mstep_done[int(e.round or 0)] = dict(d)
    s.rev_metrics = s.rev


def _eval_result(s: RunState, e: EventLike, d: dict) -> None:
    rnd = int(d.get("round", e.round or 0))
    s.evals[rnd] = dict(d)
    s.round_evals[rnd] = RoundEval(
        round=rnd, none=_float(d.get("none")), passage=_float(d.get("passage")),
        self_edit=_float(d.get("self_edit")), n_contexts=_int(d.get("n_contexts")),
        n_questions=_int(d.get("n_questions")), multi_passage=_multi_passage(d.get("multi_passage")),
        forgetting=_forgetting(d.get("forgetting")))
    se = _float(d.get("self_edit"))
    if se is not None and (s.best_heldout is None or se > s.best_heldout):
        s.best_heldout = se
    s.rev_metrics = s.rev_header = s.rev_evals = s.rev


def _multi_passage(d) -> MultiPassageEval | None:
    if not isinstance(d, dict):
        return None
    return MultiPassageEval(n_passages=_int(d.get("n_passages")), n_questions=_int(d.get("n_questions")),
                            none=_float(d.get("none")), passage=_float(d.get("passage")),
                            self_edit=_float(d.get("self_edit")))


def _forgetting(d) -> ForgettingEval | None:
    """The matrix as recorded: k+1 rows of k cells (row 0 before any edit); a payload of
    another shape is left out rather than drawn wrong."""
    if not isinstance(d, dict):
        return None
    mean, std = _matrix(d.get("mean")), _matrix(d.get("std"))
    k = _int(d.get("k")) or (len(mean[0]) if mean else 0)
    if not k or mean is None or [len(row) for row in mean] != [k] * (k + 1):
        return None
    if std is not None and [len(row) for row in std] != [k] * (k + 1):
        std = None
    row_mean = [_float(v) for v in d.get("row_mean") or []]
    if len(row_mean) != k + 1:   # the mean of each row's measured cells
        row_mean = [sum(v for v in row if v is not None) / n if (n := sum(v is not None for v in row)) else None
                    for row in mean]
    return ForgettingEval(k=k, sequences=_int(d.get("sequences")) or None, mean=mean, std=std,
                          row_mean=row_mean)


def _matrix(rows) -> list[list[float | None]] | None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return None
    return [[_float(v) for v in row] for row in rows]


def _metric(s: RunState, e: EventLike, d: dict) -> None:
    name = d.get("name")
    value = _float(d.get("value"))
    if not name or value is None:
        return
    s.metrics.setdefault(name, {})[int(e.round or 0)] = value
    s.rev_metrics = s.rev


def _telemetry(s: RunState, e: EventLike, d: dict) -> None:
    s.telemetry.append(Telemetry(ts=e.ts, cpu_pct=float(d.get("cpu_pct") or 0.0),
                                 rss_mb=float(d.get("rss_mb") or 0.0),
                                 gpus=list(d.get("gpus") or [])))
    s.rev_telemetry = s.rev


# ---------------------------------------------------------------- log
def _log_event(s: RunState, e: EventLike, d: dict) -> None:
    _log(s, e.ts, d.get("level") or "info", d.get("message") or "")


def _command_ack(s: RunState, e: EventLike, d: dict) -> None:
    level = "info" if d.get("ok", True) else "warning"
    _log(s, e.ts, level, f"{d.get('kind', 'console')} command: {d.get('message') or ('done' if d.get('ok', True) else 'refused')}")


def _log(s: RunState, ts: float, level: str, message: str) -> None:
    s.log_seq += 1
    s.log.append(LogLine(seq=s.log_seq, ts=ts, level=level.lower(), message=printable(message)))
    s.rev_log = s.rev


def _float(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


_HANDLERS = {
    "run_created": _run_created,
    "run_started": _run_started,
    "run_paused": _status("paused"),
    "run_resumed": _status("running"),
    "run_finished": _terminal,
    "run_failed": _terminal,
    "run_stopped": _terminal,
    "round_started": _round_started,
    "round_finished": _round_finished,
    "phase": _phase,
    "progress": _progress,
    "contexts": _contexts,
    "candidate_sampled": _candidate_sampled,
    "candidate_scored": _candidate_scored,
    "candidate_filtered": _candidate_filtered,
    "review_waiting": _review_waiting,
    "review_decided": _review_decided,
    "review_done": _review_done,
    "mstep_progress": _mstep_progress,
    "mstep_examples": _mstep_examples,
    "mstep_done": _mstep_done,
    "eval_result": _eval_result,
    "metric": _metric,
    "telemetry": _telemetry,
    "log": _log_event,
    "command_ack": _command_ack,
}
