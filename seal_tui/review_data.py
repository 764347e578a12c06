"""What the review screen shows, read from the store: the round's queue and its decisions.

The queue is the latest ``review_waiting`` event's candidates, in its order (mode
``all`` sorts by reward); the round is over once a ``review_done`` follows it.
Decisions come from ``Store.latest_decisions`` (the last row per candidate wins),
so every console reviewing the run shows the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

DECISION_STATE = {"approve": "approved", "reject": "rejected", "edit": "edited"}


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
    queue: list[dict] = field(default_factory=list)      # candidate rows, queue order
    decisions: dict[int, dict] = field(default_factory=dict)
    answers: dict[int, list[dict]] = field(default_factory=dict)
    contexts: dict[int, dict] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        """Decisions still count: the engine has not closed this round's review."""
        return self.waiting_event_id is not None and self.done is None

    def state_of(self, candidate_id: int) -> str:
        d = self.decisions.get(candidate_id)
        return DECISION_STATE[d["decision"]] if d else "pending"

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "approved": 0, "rejected": 0, "edited": 0}
        for c in self.queue:
            out[self.state_of(c["id"])] += 1
        return out

    def trained_text(self, candidate: dict) -> str | None:
        """The text the M-step will train on (None when rejected or undecided)."""
        d = self.decisions.get(candidate["id"])
        if not d or d["decision"] == "reject":
            return None
        return d["edited_text"] if d["decision"] == "edit" else candidate["self_edit"]


def _last_event(store, run_id: str, kind: str) -> tuple[int, dict] | None:
    row = store.conn.execute("SELECT id, data_json FROM events WHERE run_id=? AND kind=? "
                             "ORDER BY id DESC LIMIT 1", (run_id, kind)).fetchone()
    return (int(row[0]), json.loads(row[1])) if row else None


def load_review(store, run_id: str, previous: ReviewSnapshot | None = None) -> ReviewSnapshot:
    """The run's current review round; answers and passages are reused from ``previous``."""
    run = store.get_run(run_id)
    if run is None:
        return ReviewSnapshot(run_id, exists=False)
    snap = ReviewSnapshot(run_id, name=run.get("name") or run_id, status=store.display_status(run),
                          round=run.get("current_round"))
    waiting = _last_event(store, run_id, "review_waiting")
    if waiting is None:
        return snap
    snap.waiting_event_id, data = waiting
    snap.mode = data.get("mode")
    done = _last_event(store, run_id, "review_done")
    if done is not None and done[0] > snap.waiting_event_id:
        snap.done = done[1]
    ids = [int(c) for c in data.get("candidate_ids") or []]
    if ids:
        rows = {r["id"]: r for r in store.db.query(
            f"SELECT * FROM candidates WHERE id IN ({','.join('?' * len(ids))})", ids)}
        snap.queue = [rows[i] for i in ids if i in rows]
    if snap.queue:
        snap.round = snap.queue[0]["round"]
    decided = store.latest_decisions(run_id)
    snap.decisions = {cid: decided[cid] for cid in ids if cid in decided}
    same_round = previous is not None and previous.waiting_event_id == snap.waiting_event_id
    snap.answers = dict(previous.answers) if same_round else {}
    for c in snap.queue:
        if c["id"] not in snap.answers:
            snap.answers[c["id"]] = store.answers(c["id"])
    known = previous.contexts if previous is not None else {}
    if any(c["context_idx"] not in known for c in snap.queue):   # a new round samples new passages
        known = {c["idx"]: c for c in store.get_contexts(run_id, "train")}
    snap.contexts = known
    return snap


def matches(snapshot: ReviewSnapshot, candidate: dict, needle: str) -> bool:
    """``needle`` in the candidate's title, self-edit, edited text or passage (any case)."""
    if not needle:
        return True
    d = snapshot.decisions.get(candidate["id"]) or {}
    ctx = snapshot.contexts.get(candidate["context_idx"]) or {}
    hay = " ".join(str(x or "") for x in (candidate.get("title"), candidate.get("self_edit"),
                                          d.get("edited_text"), ctx.get("context"), candidate.get("keep_reason")))
    return needle.lower() in hay.lower()
