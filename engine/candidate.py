"""A candidate: one sampled self-edit, carried through a ReSTEM round.

The E-step makes it, the inner loop gives it a reward, the filter keeps it or not,
review may approve, reject or edit it, and the M-step trains on what review chose.
Each step fills in its own fields; the store keeps a row of the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Candidate:
    round: int
    context_idx: int                   # the context's index in the training pool
    cand_idx: int                      # which of the context's K samples
    context: dict                      # the task's context (knowledge: title, passage, questions)
    self_edit: str
    id: int | None = None              # the store's row id, once recorded
    invalid: str | None = None         # why the task cannot use this self-edit (scored 0, never adapted)
    # inner loop
    scored: bool = False
    reward: float | None = None
    baseline: float | None = None      # accuracy of the unadapted policy on the same context
    gain: float | None = None
    rewards: list[float] | None = None  # each inner-loop run's reward, where there were several
    # filter
    kept: bool = False
    keep_reason: str = ""
    # review: what the M-step trains on ("kept by filter", "approve" or "edit")
    decision: str | None = None
    trained_text: str | None = None

    @property
    def title(self) -> str:
        return self.context.get("title", "")

    @classmethod
    def from_row(cls, row: dict, context: dict) -> Candidate:
        """A candidate as the store holds it (a resumed round continues from it)."""
        cand = cls(round=row["round"], context_idx=row["context_idx"], cand_idx=row["cand_idx"],
                   context=context, self_edit=row["self_edit"], id=row["id"])
        cand.update_from(row)
        return cand

    def update_from(self, row: dict) -> None:
        """Take the store's self-edit and score (a resumed round keeps what it sampled before)."""
        self.self_edit = row["self_edit"]
        self.scored = row["scored_at"] is not None
        self.reward, self.baseline, self.gain = row["reward"], row["baseline"], row["gain"]
