"""The recorded few-shot (ARC) run for the console's tests (``tests/console/fixtures/fewshot.jsonl``,
run id ``FEWSHOT_RUN_ID``): a store made from it, and that store as a console sees it while the
engine waits for review. ``SEAL_FEWSHOT_LOG`` points at another log of that run id."""

from __future__ import annotations

import os
from pathlib import Path

from engine import events as ev
from engine.store import Store

from . import recorded
from .console import cut_mid_run, make_live

FEWSHOT_RUN_ID = recorded.RUN_IDS["fewshot"]
FEWSHOT_LOG = Path(os.environ.get("SEAL_FEWSHOT_LOG") or recorded.path_of("fewshot"))


def load_fewshot(runs_dir: Path) -> str:
    """A store at ``runs_dir`` holding the recorded few-shot run; returns its run id."""
    store = Store(runs_dir)
    try:
        store.replay_into(recorded.read_log(FEWSHOT_LOG))
    finally:
        store.close()
    return FEWSHOT_RUN_ID


def scored(store: Store, run_id: str) -> list[dict]:
    return [c for c in store.candidates(run_id) if c["reward"] is not None]


def waiting_for_review(runs_dir: Path, run_id: str) -> list[int]:
    """The store as a console sees it while the engine waits for review (the recorded run's own
    review where it has one, else round 1's candidates put up for review: the kept ones, or all
    where none was kept), the engine being this process. Returns the queue."""
    store = Store(runs_dir)
    try:
        waiting = [e for e in store.iter_events(run_id) if e.kind == "review_waiting"]
        if waiting:
            cut_mid_run(runs_dir, run_id, after_kind="review_waiting", nth=1)
            return list(waiting[0].payload.candidate_ids)
        round1 = [c for c in scored(store, run_id) if c["round"] == 1]
        filtered = [e for e in store.iter_events(run_id) if e.kind == "candidate_filtered" and e.round == 1]
        cut_mid_run(runs_dir, run_id, after_kind="candidate_filtered", nth=len(filtered))
        queue = [c["id"] for c in round1 if c["kept"]] or [c["id"] for c in round1]
        mode = "kept" if any(c["kept"] for c in round1) else "all"
        store.record(run_id, ev.Phase(phase="review", total=len(queue)), round_=1, phase="review")
        store.record(run_id, ev.ReviewWaiting(count=len(queue), mode=mode, candidate_ids=queue),
                     round_=1, phase="review")
    finally:
        store.close()
    make_live(runs_dir, run_id)
    return queue
