"""Import result files of the SEAL reference implementation as read-only runs.

Each file (formats and what each becomes: seal_tui.reference_files) is read and
checked in full, then written as one run with ``source = "imported"`` through the
same Store methods, hence the same events, as an engine run: the console browses,
replays and compares it like one of ours. A failure while writing removes the
partial run; a file whose content was imported before (the same bytes, or the same
JSON written otherwise) is not imported again.

Nothing is invented: every event carries the moment of import (when it was written;
the files record no times of their own beyond, at most, when the file was written,
which the run keeps as ``config.reference.recorded_at`` / ``recorded``). A replay
paces such untimed events itself (seal_tui.replay). As an engine does, each phase's
progress is written as its work goes (one ``progress`` per candidate), so a replay's
header counts along. Nothing here imports torch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from engine import events as ev
from engine.store import Store

from .reference_files import PRESET, ImportPlan, ImportRejected, plan_import

__all__ = ["ImportOutcome", "ImportPlan", "ImportRejected", "find_imported", "import_file", "import_plan",
           "plan_import", "write_plan"]


@dataclass
class ImportOutcome:
    run_id: str
    created: bool          # False: the same content was imported before
    summary: str


# ---------------------------------------------------------------- entry points
def import_file(store: Store, path: Path | str, **hints) -> ImportOutcome:
    """Import one file (checked in full first); a file imported before is left as it is. ``hints``:
    what a few-shot results file does not record (``condition``, ``round_``: plan_import)."""
    return import_plan(store, plan_import(path, **hints))


def import_plan(store: Store, plan: ImportPlan) -> ImportOutcome:
    """Write a checked plan, unless a run of the same content exists already."""
    existing = find_imported(store, plan.sha256, plan.config["reference"].get("content_sha256"))
    if existing is not None:
        if existing["status"] == "finished":
            return ImportOutcome(existing["id"], False, f"already imported as run {existing['id']}; nothing written"
                                 + _other_reading(existing, plan))
        store.delete_run(existing["id"])  # an import cut short: start over
    write_plan(store, plan)
    return ImportOutcome(plan.run_id, True, plan.summary)


def find_imported(store: Store, sha256: str, content_sha256: str | None = None) -> dict | None:
    """The imported run of these bytes (``sha256``) or of the same JSON written otherwise."""
    for run in store.list_runs():
        if run.get("source") != "imported":
            continue
        try:
            ref = json.loads(run.get("config_json") or "{}").get("reference") or {}
        except ValueError:
            continue
        if ref.get("sha256") == sha256 or (content_sha256 and ref.get("content_sha256") == content_sha256):
            return run
    return None


def _other_reading(existing: dict, plan: ImportPlan) -> str:
    """Where the user named a few-shot file's condition or round otherwise than the first time."""
    ref = json.loads(existing.get("config_json") or "{}").get("reference") or {}
    then = (ref.get("condition"), existing.get("rounds"))
    now = (plan.config["reference"].get("condition"), plan.round)
    if ref.get("kind") != "fewshot_results" or then == now:
        return ""
    return (f" (read then as {then[0]}, round {then[1]}; delete that run in the console to import it as "
            f"{now[0]}, round {now[1]})")


# ---------------------------------------------------------------- writing
def write_plan(store: Store, plan: ImportPlan) -> str:
    """Write the run as an engine would have, every event at the moment of import; on any
    failure the partial run is removed."""
    now = time.time()
    saved_clock, store.clock = store.clock, lambda: now
    try:
        return _write(store, plan)
    finally:
        store.clock = saved_clock


def _write(store: Store, plan: ImportPlan) -> str:
    run_id, rnd = plan.run_id, plan.round

    def record(payload: ev.Payload, phase: str) -> int:
        return store.record(run_id, payload, round_=rnd, phase=phase)

    store.record(run_id, ev.RunCreated(name=plan.name, preset=PRESET, model=plan.model, rounds=rnd,
                                       config=plan.config, source="imported", task=plan.task,
                                       **({"labels": plan.labels} if plan.labels else {})),
                 round_=0, phase="setup")
    try:
        store.record(run_id, ev.RunStarted(imported_from=str(plan.path.resolve()), sha256=plan.sha256),
                     round_=0, phase="setup")
        store.record(run_id, ev.Log(message=f"imported {plan.path.name} ({plan.kind}): {plan.summary}"),
                     round_=0, phase="setup")
        for note in plan.notes:
            store.record(run_id, ev.Log(level="warning", message=f"{plan.path.name}: {note}"), round_=0, phase="setup")
        record(ev.RoundStarted(round=rnd, total_rounds=rnd), "setup")
        for split, items in plan.contexts.items():
            record(ev.Contexts(split=split, items=[{"idx": i, **c} for i, c in items]), "setup")
        if plan.candidates:
            _write_candidates(store, plan, record)
        if plan.mstep is not None:
            _phase(record, "train", plan.mstep["examples"])
            record(ev.MStepDone(**plan.mstep), "train")
            _phase_end(record, "train", plan.mstep["examples"])
        if plan.eval_result is not None:
            _phase(record, "eval", plan.eval_result.get("n_contexts") or 0)
            record(ev.decode("eval_result", plan.eval_result), "eval")
            _phase_end(record, "eval", plan.eval_result.get("n_contexts") or 0)
            _metrics(record, plan, "eval")
        record(ev.RoundFinished(round=rnd), "done")
        last = plan.eval_result and {k: plan.eval_result.get(k) for k in ("none", "passage", "self_edit", "teacher")}
        record(ev.RunFinished(best_heldout=plan.best_heldout, last=last), "done")
    except BaseException:
        store.delete_run(run_id)
        raise
    return run_id


def _phase(record, phase: str, total: int) -> None:
    record(ev.Phase(phase=phase, total=total), phase)


def _phase_end(record, phase: str, total: int) -> None:
    """The phase's work all done, as the engine's progress events say it (else the header of an
    imported run would show 0/N to the end)."""
    if total:
        record(ev.Progress(phase=phase, done=total, total=total), phase)


def _metrics(record, plan: ImportPlan, phase: str) -> None:
    for when, name, value in plan.metrics:
        if when == phase:
            record(ev.Metric(name=name, value=float(value)), phase)


def _write_candidates(store: Store, plan: ImportPlan, record) -> None:
    run_id, rnd, cands = plan.run_id, plan.round, plan.candidates
    n = len(cands)
    _phase(record, "sample", n)
    # each candidate, then the phase's progress, as an engine writes them (one transaction in all)
    sampled = [ev.CandidateSampled(context_idx=c["context_idx"], cand_idx=c["cand_idx"], title=c["title"],
                                   self_edit=c["self_edit"], summary=c.get("summary", "")) for c in cands]
    store.record_many(run_id, [p for i, payload in enumerate(sampled, 1)
                               for p in (payload, ev.Progress(phase="sample", done=i, total=n))],
                      round_=rnd, phase="sample")
    ids = [int(p.id) for p in sampled]
    scored = [(cid, c) for cid, c in zip(ids, cands) if c.get("score")]
    if scored:
        _phase(record, "inner_loop", len(scored))
        store.record_many(run_id, [p for i, (cid, c) in enumerate(scored, 1) for p in (
            ev.CandidateScored(id=cid, context_idx=c["context_idx"], cand_idx=c["cand_idx"],
                               reward=c["score"]["reward"], baseline=c["score"]["baseline"], gain=c["score"]["gain"],
                               train_sequences=c["score"]["train_sequences"], answers=c["score"]["answers"]),
            ev.Progress(phase="inner_loop", done=i, total=len(scored)))], round_=rnd, phase="inner_loop")
    _metrics(record, plan, "inner_loop")
    verdicts = [(cid, c["verdict"]) for cid, c in zip(ids, cands) if c.get("verdict")]
    if verdicts:
        _phase(record, "filter", len(verdicts))
        store.record_many(run_id, [ev.CandidateFiltered(id=cid, kept=bool(v["kept"]), reason=v["reason"])
                                   for cid, v in verdicts], round_=rnd, phase="filter")
        _phase_end(record, "filter", len(verdicts))
        _metrics(record, plan, "filter")
    trained = [{"id": cid, "edited": False} for cid, c in zip(ids, cands) if c.get("trained")]
    if trained:  # the reference's M-step set: what its policy was trained on
        record(ev.MStepExamples(candidates=trained), "train")
