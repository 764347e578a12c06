"""Review: between filter and M-step, a person may approve, reject or edit self-edits.

``auto`` passes the filter's choice straight through. ``kept`` queues the kept
candidates, ``all`` every candidate of the round (so dropped ones can be
promoted); the engine then waits, obeying pause/stop, until every queued
candidate has a decision in the store (or the review timeout decides).
"""

from __future__ import annotations

import time

from engine import events as ev
from engine.candidate import Candidate
from engine.runtime import RunContext

POLL_S = 0.5


def review_round(run: RunContext, cands: list[Candidate], run_cfg) -> list[Candidate]:
    """The round's M-step set: every approved or edited candidate, its ``decision`` and
    ``trained_text`` set."""
    run.set_phase("review", total=sum(1 for c in cands if c.kept) if run_cfg.review != "all" else len(cands))
    if run_cfg.review == "auto":
        return [_chosen(c, "kept by filter", c.self_edit) for c in cands if c.kept]
    queue = [c for c in cands if c.kept] if run_cfg.review == "kept" else \
        sorted(cands, key=lambda c: (-(c.reward or 0), c.id))
    if not queue:
        run.log.info("review: nothing to review this round")
        return []
    ids = [c.id for c in queue]
    store = run.store
    decided = {cid: d for cid, d in store.latest_decisions(run.run_id).items() if cid in ids}
    run.record(ev.ReviewWaiting(count=len(ids), mode=run_cfg.review, candidate_ids=ids,
                                already_decided=len(decided)))
    run.log.info("review: waiting for decisions on %d candidate(s) (%d already decided)", len(ids), len(decided))
    started = time.monotonic()
    seen: dict[int, int] = {cid: d["id"] for cid, d in decided.items()}
    timed_out = False
    while True:
        decided = {cid: d for cid, d in store.latest_decisions(run.run_id).items() if cid in ids}
        for cid, d in decided.items():
            if seen.get(cid) != d["id"]:
                seen[cid] = d["id"]
                run.record(ev.ReviewDecided(candidate_id=cid, decision=d["decision"], who=d["who"],
                                            edited_text=d["edited_text"] if d["decision"] == "edit" else None))
        if len(decided) == len(ids):
            break
        if run_cfg.review_timeout and time.monotonic() - started > run_cfg.review_timeout:
            timed_out = True
            action = run_cfg.review_timeout_action
            for c in queue:
                if c.id in decided:
                    continue
                decision = "approve" if action == "approve-kept" and c.kept else "reject"
                store.decide(run.run_id, c.id, decision, who="review-timeout")
            run.log.warning("review: timed out after %.0f s; undecided candidates got '%s'",
                            run_cfg.review_timeout, action)
            continue
        run.sleep(POLL_S)
    chosen, counts = [], {"approved": 0, "rejected": 0, "edited": 0}
    for c in queue:
        d = decided[c.id]
        if d["decision"] == "reject":
            counts["rejected"] += 1
            continue
        counts["edited" if d["decision"] == "edit" else "approved"] += 1
        chosen.append(_chosen(c, d["decision"], d["edited_text"] if d["decision"] == "edit" else c.self_edit))
    run.record(ev.ReviewDone(**counts, timed_out=timed_out))
    run.log.info("review: %(approved)d approved, %(edited)d edited, %(rejected)d rejected", counts)
    return chosen


def _chosen(cand: Candidate, decision: str, text: str) -> Candidate:
    cand.decision, cand.trained_text = decision, text
    return cand
