"""The reducer: ``reduce(state, event) -> state``, the one way a run's state changes.

Live tail, attach and replay all feed the same events through this function, so
they all show the same thing. It does no I/O and reads no clock: the same events
always give the same state. For speed it updates ``state`` in place (bounded
buffers, no copies) and returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine import events as ev
from engine.events import Event
from engine.store.facts import DECISION_STATE

from .format import printable
from .state import (
    MAX_CANDIDATES,
    MAX_REWARDS_PER_ROUND,
    Candidate,
    ForgettingEval,
    LogLine,
    MultiPassageEval,
    RoundEval,
    RunState,
    Telemetry,
)

TERMINAL = {ev.RunFinished: "finished", ev.RunFailed: "failed", ev.RunStopped: "stopped"}


def reduce(state: RunState, event: Event) -> RunState:
    payload = event.payload
    handler = _HANDLERS.get(type(payload))
    state.rev += 1
    state.events_seen += 1
    state.last_event_id = max(state.last_event_id, event.id or 0)
    state.last_ts = event.ts
    if handler is not None:
        handler(state, event, payload)
    return state


def apply(state: RunState, events: Iterable[Event]) -> RunState:
    for event in events:
        reduce(state, event)
    return state


# ---------------------------------------------------------------- run lifecycle
def _run_created(s: RunState, e: Event, p: ev.RunCreated) -> None:
    s.name = p.name or s.name
    s.preset = p.preset or ""
    s.model = p.model or ""
    s.rounds = int(p.rounds or 0)
    s.config = p.config or {}
    s.source = p.source or "engine"
    s.task = p.task or ev.DEFAULT_TASK
    s.labels = {**ev.KNOWLEDGE_LABELS, **(p.labels or {})}
    s.self_edit_schema = p.self_edit_schema if isinstance(p.self_edit_schema, dict) else None
    s.review_mode = (s.config.get("run") or {}).get("review")
    s.created_ts = e.ts
    s.status = "created"
    s.rev_header = s.rev
    s.rev_metrics = s.rev


def _run_started(s: RunState, e: Event, p: ev.RunStarted) -> None:
    s.status = "running"
    s.error = None
    s.finished_ts = None
    if s.started_ts is None:
        s.started_ts = e.ts
    s.rev_header = s.rev


def _run_paused(s: RunState, e: Event, p: ev.RunPaused) -> None:
    s.status = "paused"
    s.rev_header = s.rev


def _run_resumed(s: RunState, e: Event, p: ev.RunResumed) -> None:
    s.status = p.status or "running"
    s.rev_header = s.rev


def _terminal(s: RunState, e: Event, p) -> None:
    s.status = TERMINAL[type(p)]
    s.finished_ts = e.ts
    if isinstance(p, ev.RunFinished):
        if p.best_heldout is not None:
            s.best_heldout = float(p.best_heldout)
        s.phase = "done"
    elif isinstance(p, ev.RunFailed):
        s.error = printable(p.error or "unknown error")
    else:
        s.stop_reason = printable(p.reason or "stopped")
    s.rev_header = s.rev


# ---------------------------------------------------------------- rounds and phases
def _round_started(s: RunState, e: Event, p: ev.RoundStarted) -> None:
    s.round = int(p.round if p.round is not None else e.round or 0)
    if p.total_rounds:
        s.rounds = int(p.total_rounds)
    s.rev_header = s.rev


def _round_finished(s: RunState, e: Event, p: ev.RoundFinished) -> None:
    s.rev_header = s.rev


def _phase(s: RunState, e: Event, p: ev.Phase) -> None:
    s.phase = p.phase or e.phase or s.phase
    s.phase_total = int(p.total or 0)
    s.phase_done = 0
    s.phase_started_ts = e.ts
    if e.round is not None:
        s.round = e.round
    s.rev_header = s.rev


def _progress(s: RunState, e: Event, p: ev.Progress) -> None:
    phase = p.phase or e.phase
    if phase and phase != s.phase:
        s.phase, s.phase_started_ts = phase, e.ts
    s.phase_done = int(p.done or 0)
    s.phase_total = int(p.total or s.phase_total)
    s.rev_header = s.rev


# ---------------------------------------------------------------- passages and candidates
def _contexts(s: RunState, e: Event, p: ev.Contexts) -> None:
    bucket = s.contexts.setdefault(p.split or "train", {})
    for item in p.items or []:
        bucket[int(item["idx"])] = ctx = {
            "idx": int(item["idx"]), "title": printable(item.get("title")),
            "context": printable(item.get("context")),
            "questions": [{"question": printable(q.get("question")), "answer": printable(q.get("answer"))}
                          for q in item.get("questions") or []]}
        if isinstance(item.get("arc"), dict):   # few-shot: the raw ARC task (grids are numbers, drawn as cells)
            ctx["arc"] = item["arc"]


def _candidate_sampled(s: RunState, e: Event, p: ev.CandidateSampled) -> None:
    cid = int(p.id)
    if cid in s.candidates:
        return
    facets = [printable(f) for f in p.facets or []]
    s.candidates[cid] = Candidate(
        id=cid, round=int(e.round or 0), context_idx=int(p.context_idx or 0), cand_idx=int(p.cand_idx or 0),
        title=printable(p.title), self_edit=printable(p.self_edit), seq=s.rev, rev=s.rev,
        summary=printable(p.summary), facets=facets)
    s.candidate_changes.append((s.rev, cid))
    rnd = int(e.round or 0)
    s.sampled_count[rnd] = s.sampled_count.get(rnd, 0) + 1
    if facets:
        _count(s.facets_sampled.setdefault(rnd, {}), facets, 1)
        s.rev_rewards = s.rev
    while len(s.candidates) > MAX_CANDIDATES:
        del s.candidates[next(iter(s.candidates))]
        s.candidates_dropped += 1
    s.rev_candidates = s.rev


def _candidate_scored(s: RunState, e: Event, p: ev.CandidateScored) -> None:
    cid = int(p.id)
    cand = s.candidates.get(cid)
    if cand is None:  # sampled before the window of kept rows: rebuild it from the score
        cand = s.candidates[cid] = Candidate(
            id=cid, round=int(e.round or 0), context_idx=int(p.context_idx or 0), cand_idx=int(p.cand_idx or 0),
            title="", self_edit="", seq=s.rev)
    cand.reward = _float(p.reward)
    cand.baseline = _float(p.baseline)
    cand.gain = _float(p.gain)
    cand.rewards = [r for r in (_float(x) for x in p.rewards or []) if r is not None]
    cand.train_sequences = [printable(t) for t in p.train_sequences or []]
    cand.invalid = None if p.invalid is None else printable(p.invalid)
    cand.dropped = _int(p.dropped)
    cand.answers = [{k: printable(v) if isinstance(v, str) else v for k, v in a.items()} for a in p.answers or []]
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


def _candidate_filtered(s: RunState, e: Event, p: ev.CandidateFiltered) -> None:
    kept = bool(p.kept)
    rnd = int(e.round or 0)
    cand = s.candidates.get(int(p.id))
    if cand is not None:
        if cand.kept and not kept:
            s.kept_count[rnd] = s.kept_count.get(rnd, 1) - 1
            if cand.facets:
                _count(s.facets_kept.setdefault(rnd, {}), cand.facets, -1)
        elif kept and not cand.kept:
            s.kept_count[rnd] = s.kept_count.get(rnd, 0) + 1
            if cand.facets:
                _count(s.facets_kept.setdefault(rnd, {}), cand.facets, 1)
        cand.kept = kept
        cand.keep_reason = printable(p.reason or "")
        cand.rev = s.rev
        s.candidate_changes.append((s.rev, cand.id))
    elif kept:
        s.kept_count[rnd] = s.kept_count.get(rnd, 0) + 1
    s.rev_candidates = s.rev
    s.rev_rewards = s.rev


# ---------------------------------------------------------------- review
def _review_waiting(s: RunState, e: Event, p: ev.ReviewWaiting) -> None:
    s.status = "awaiting_review"
    s.review_mode = p.mode or s.review_mode
    s.review_queue = [int(c) for c in p.candidate_ids or []]
    s.review_round = int(e.round or 0)
    s.review_waiting_id = e.id
    s.review_done = None
    s.review_pending = list(s.review_queue)
    for cid in s.review_pending:
        cand = s.candidates.get(cid)
        if cand is not None:
            cand.review, cand.rev = "pending", s.rev
            s.candidate_changes.append((s.rev, cid))
    s.rev_header = s.rev_candidates = s.rev_review = s.rev


def _review_decided(s: RunState, e: Event, p: ev.ReviewDecided) -> None:
    cid = int(p.candidate_id)
    decision = DECISION_STATE.get(p.decision or "", p.decision)
    cand = s.candidates.get(cid)
    if cand is not None:
        cand.review, cand.rev = decision, s.rev
        s.candidate_changes.append((s.rev, cid))
    if decision == "pending":
        if cid not in s.review_pending:
            s.review_pending.append(cid)
    elif cid in s.review_pending:
        s.review_pending.remove(cid)
    s.rev_header = s.rev_candidates = s.rev_review = s.rev


def _review_done(s: RunState, e: Event, p: ev.ReviewDone) -> None:
    s.review_pending = []
    s.review_counts = {"approved": p.approved, "rejected": p.rejected, "edited": p.edited}
    s.review_done = p
    if s.status == "awaiting_review":
        s.status = "running"
    s.rev_header = s.rev_review = s.rev


# ---------------------------------------------------------------- M-step, evaluation, metrics
def _mstep_progress(s: RunState, e: Event, p: ev.MStepProgress) -> None:
    s.mstep = {"round": e.round, **ev.encode(p)}
    if p.loss is not None:
        rnd, step = int(e.round or 0), int(p.step or 0)
        if s.mstep_loss and s.mstep_loss[-1][0] == rnd and s.mstep_loss[-1][1] >= step:  # redone after a resume
            kept = [point for point in s.mstep_loss if point[0] != rnd or point[1] < step]
            s.mstep_loss.clear()
            s.mstep_loss.extend(kept)
        s.mstep_loss.append((rnd, step, float(p.loss)))
    s.rev_metrics = s.rev


def _mstep_examples(s: RunState, e: Event, p: ev.MStepExamples) -> None:
    for item in p.candidates or []:
        cand = s.candidates.get(int(item.get("id", -1)))
        if cand is None:
            continue
        cand.trained, cand.trained_text = True, item.get("text") if item.get("edited") else None
        cand.rev = s.rev
        s.candidate_changes.append((s.rev, cand.id))
    s.rev_candidates = s.rev


def _mstep_done(s: RunState, e: Event, p: ev.MStepDone) -> None:
    s.mstep_done[int(e.round or 0)] = ev.encode(p)
    s.rev_metrics = s.rev


def _phase_times(s: RunState, e: Event, p: ev.PhaseTimes) -> None:
    """Where an engine process's time went (its last log line says it too; ``show`` sums them)."""
    s.phase_times.append(p)


def _round_eval(rnd: int, p: ev.EvalResult) -> RoundEval:
    return RoundEval(
        round=rnd, none=_float(p.none), passage=_float(p.passage), self_edit=_float(p.self_edit),
        n_contexts=_int(p.n_contexts), n_questions=_int(p.n_questions), teacher=_float(p.teacher),
        multi_passage=_multi_passage(p.multi_passage), forgetting=_forgetting(p.forgetting))


def _eval_result(s: RunState, e: Event, p: ev.EvalResult) -> None:
    rnd = int(p.round if p.round is not None else e.round or 0)
    s.evals[rnd] = dict(e.data)
    s.round_evals[rnd] = _round_eval(rnd, p)
    se = _float(p.self_edit)
    if se is not None and (s.best_heldout is None or se > s.best_heldout):
        s.best_heldout = se
    s.rev_metrics = s.rev_header = s.rev_evals = s.rev


def _policy_eval(s: RunState, e: Event, p: ev.PolicyEval) -> None:
    """A policy re-scored on the run's held-out contexts (seal-engine eval): a row of its own, never
    the run's round (its curve and best figure stay the run's)."""
    row = _round_eval(_int(p.round), p)
    row.label, row.policy = str(p.label or p.policy or "a policy"), str(p.policy or "")
    s.policy_evals.append(row)
    s.rev_evals = s.rev


def _teacher_self_edits(s: RunState, e: Event, p: ev.TeacherSelfEdits) -> None:
    s.teacher_self_edits += len(p.items or [])


def _multi_passage(d) -> MultiPassageEval | None:
    if not isinstance(d, dict):
        return None
    per_title = [t for t in d.get("per_title") or [] if isinstance(t, dict)]
    covers = d.get("per_title_covers")
    return MultiPassageEval(n_passages=_int(d.get("n_passages")), n_questions=_int(d.get("n_questions")),
                            none=_float(d.get("none")), passage=_float(d.get("passage")),
                            self_edit=_float(d.get("self_edit")), teacher=_float(d.get("teacher")),
                            per_title=per_title, per_title_covers=covers if isinstance(covers, int) else None)


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
    note = d.get("std_note")
    return ForgettingEval(k=k, sequences=_int(d.get("sequences")) or None, mean=mean, std=std,
                          row_mean=row_mean, std_note=printable(note) if isinstance(note, str) else None)


def _matrix(rows) -> list[list[float | None]] | None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return None
    return [[_float(v) for v in row] for row in rows]


def _metric(s: RunState, e: Event, p: ev.Metric) -> None:
    value = _float(p.value)
    if not p.name or value is None:
        return
    s.metrics.setdefault(p.name, {})[int(e.round or 0)] = value
    s.rev_metrics = s.rev


def _telemetry(s: RunState, e: Event, p: ev.Telemetry) -> None:
    s.telemetry.append(Telemetry(ts=e.ts, cpu_pct=float(p.cpu_pct or 0.0), rss_mb=float(p.rss_mb or 0.0),
                                 gpus=list(p.gpus or [])))
    s.rev_telemetry = s.rev


def _workers_started(s: RunState, e: Event, p: ev.WorkersStarted) -> None:
    """A new pool (the run's first, or one started after an M-step or a resume) replaces the last."""
    s.workers = {int(w.get("worker", 0)): {**w, "state": "idle"} for w in p.workers or []}
    s.rev_telemetry = s.rev


def _worker_lost(s: RunState, e: Event, p: ev.WorkerLost) -> None:
    row = s.workers.setdefault(int(p.worker), {"worker": int(p.worker), "node": p.node, "pid": p.pid})
    row.update(state="lost", reason=printable(p.reason))
    s.rev_telemetry = s.rev


def _worker_telemetry(s: RunState, e: Event, p: ev.WorkerTelemetry) -> None:
    """The pool as it is now (empty once released); a lost worker keeps the reason it was lost for."""
    rows = {}
    for w in p.workers or []:
        n = int(w.get("worker", 0))
        reason = s.workers.get(n, {}).get("reason")
        rows[n] = {**w, **({"reason": reason} if reason and w.get("state") == "lost" else {})}
    s.workers = rows
    s.rev_telemetry = s.rev


# ---------------------------------------------------------------- log
def _log_event(s: RunState, e: Event, p: ev.Log) -> None:
    _log(s, e.ts, p.level or "info", p.message or "")


def _command_ack(s: RunState, e: Event, p: ev.CommandAck) -> None:
    level = "info" if p.ok else "warning"
    _log(s, e.ts, level, f"{p.kind or 'console'} command: {p.message or ('done' if p.ok else 'refused')}")


def _log(s: RunState, ts: float, level: str, message: str) -> None:
    s.log_seq += 1
    s.log.append(LogLine(seq=s.log_seq, ts=ts, level=level.lower(), message=printable(message)))
    s.rev_log = s.rev


def _count(counts: dict[str, int], facets: list[str], step: int) -> None:
    for facet in facets:
        counts[facet] = counts.get(facet, 0) + step


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


# every event kind has its handler (tests/console/test_reducer.py checks it against engine.events.KINDS)
_HANDLERS: dict[type, Callable] = {
    ev.RunCreated: _run_created,
    ev.RunStarted: _run_started,
    ev.RunPaused: _run_paused,
    ev.RunResumed: _run_resumed,
    ev.RunFinished: _terminal,
    ev.RunFailed: _terminal,
    ev.RunStopped: _terminal,
    ev.RoundStarted: _round_started,
    ev.RoundFinished: _round_finished,
    ev.Phase: _phase,
    ev.Progress: _progress,
    ev.Contexts: _contexts,
    ev.CandidateSampled: _candidate_sampled,
    ev.CandidateScored: _candidate_scored,
    ev.CandidateFiltered: _candidate_filtered,
    ev.ReviewWaiting: _review_waiting,
    ev.ReviewDecided: _review_decided,
    ev.ReviewDone: _review_done,
    ev.MStepProgress: _mstep_progress,
    ev.MStepExamples: _mstep_examples,
    ev.MStepDone: _mstep_done,
    ev.PhaseTimes: _phase_times,
    ev.EvalResult: _eval_result,
    ev.PolicyEval: _policy_eval,
    ev.TeacherSelfEdits: _teacher_self_edits,
    ev.Metric: _metric,
    ev.Telemetry: _telemetry,
    ev.WorkersStarted: _workers_started,
    ev.WorkerLost: _worker_lost,
    ev.WorkerTelemetry: _worker_telemetry,
    ev.Log: _log_event,
    ev.CommandAck: _command_ack,
}


def handled_kinds() -> set[str]:
    return {cls.KIND for cls in _HANDLERS}
