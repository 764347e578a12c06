"""What the review screen shows: the round's queue from the run's reduced events, and the
decisions written so far.

The queue is the latest ``review_waiting`` event's candidates, in its order (mode
``all`` sorts by reward); the round is over once a ``review_done`` follows it. Both
come from ``RunState`` (the reducer, fed by the same event source as the dashboard).
Decisions come from ``Store.latest_decisions`` (the last row per candidate wins), read
when the screen opens, after each decision made here and whenever the engine reports
one (``review_decided``), so every console reviewing the run shows the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.events import encode
from engine.store.facts import DECISION_STATE, REVIEW_STATES

from .state import RunState


@dataclass
class ReviewSnapshot:
    run_id: str
    exists: bool = True
    name: str = ""
    status: str = "created"
    round: int | None = None
    mode: str | None = None
    waiting_event_id: int | None = None
    done: dict | None = None                       # the round's review_done data, once the engine went on
    queue: list[dict] = field(default_factory=list)      # candidates, queue order
    decisions: dict[int, dict] = field(default_factory=dict)
    answers: dict[int, list[dict]] = field(default_factory=dict)
    contexts: dict[int, dict] = field(default_factory=dict)
    self_edit_schema: dict | None = None           # what an edit must satisfy (None: free text)

    @property
    def open(self) -> bool:
        """Decisions still count: the engine has not closed this round's review."""
        return self.waiting_event_id is not None and self.done is None

    def state_of(self, candidate_id: int) -> str:
        d = self.decisions.get(candidate_id)
        return DECISION_STATE[d["decision"]] if d else "pending"

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(REVIEW_STATES, 0)
        for c in self.queue:
            out[self.state_of(c["id"])] += 1
        return out

    def trained_text(self, candidate: dict) -> str | None:
        """The text the M-step will train on (None when rejected or undecided)."""
        d = self.decisions.get(candidate["id"])
        if not d or d["decision"] == "reject":
            return None
        return d["edited_text"] if d["decision"] == "edit" else candidate["self_edit"]


def review_snapshot(state: RunState, decisions: dict[int, dict], *, status: str | None = None,
                    exists: bool = True) -> ReviewSnapshot:
    """The review as ``state`` has it; ``decisions``: ``Store.latest_decisions`` of the run;
    ``status``: the run's status as the store says it (``stale`` when its engine is gone)."""
    snap = ReviewSnapshot(state.run_id, exists=exists, name=state.name or state.run_id,
                          status=status or state.status, round=state.round, mode=state.review_mode,
                          waiting_event_id=state.review_waiting_id,
                          done=encode(state.review_done) if state.review_done is not None else None,
                          self_edit_schema=state.self_edit_schema)
    if state.review_waiting_id is None:
        return snap
    for cid in state.review_queue:
        cand = state.candidates.get(cid)
        if cand is None:
            continue
        snap.queue.append({"id": cand.id, "round": cand.round, "context_idx": cand.context_idx,
                           "cand_idx": cand.cand_idx, "title": cand.title, "self_edit": cand.self_edit,
                           "reward": cand.reward, "baseline": cand.baseline, "gain": cand.gain,
                           "kept": cand.kept, "keep_reason": cand.keep_reason, "summary": cand.summary,
                           "facets": cand.facets, "invalid": cand.invalid})
        snap.answers[cid] = cand.answers
    snap.round = state.review_round if state.review_round is not None else state.round
    snap.decisions = {cid: decisions[cid] for cid in state.review_queue if cid in decisions}
    snap.contexts = state.contexts.get("train", {})
    return snap


def matches(snapshot: ReviewSnapshot, candidate: dict, needle: str) -> bool:
    """``needle`` in the candidate's title, self-edit (or its summary), edited text or passage (any case)."""
    if not needle:
        return True
    d = snapshot.decisions.get(candidate["id"]) or {}
    ctx = snapshot.contexts.get(candidate["context_idx"]) or {}
    hay = " ".join(str(x or "") for x in (candidate.get("title"), candidate.get("self_edit"), candidate.get("summary"),
                                          d.get("edited_text"), ctx.get("context"), candidate.get("keep_reason")))
    return needle.lower() in hay.lower()
