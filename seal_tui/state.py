"""What the console knows about one run: a plain dataclass the reducer fills.

Every buffer is bounded, so a dashboard left open on a long run keeps a flat
memory profile. Widgets read this state; only ``reducer.reduce`` writes it.
Section revisions (``rev_*``) tell a widget whether it needs to redraw.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.events import KNOWLEDGE_LABELS
from engine.store.facts import LIVE_STATUSES

MAX_CANDIDATES = 5000        # rows kept for the table and the detail pane
MAX_REWARDS_PER_ROUND = 20000
MAX_LOG_LINES = 1000
MAX_TELEMETRY = 300          # ~10 minutes at one sample every 2 s
MAX_MSTEP_POINTS = 2000

PHASE_LABELS = {
    "setup": "setup", "sample": "sample", "inner_loop": "inner loop",
    "filter": "filter", "review": "review", "train": "train (M-step)",
    "eval": "eval", "done": "done",
}


@dataclass
class Candidate:
    """One sampled self-edit and what the inner loop, filter and review made of it."""

    id: int
    round: int
    context_idx: int
    cand_idx: int
    title: str
    self_edit: str
    seq: int                              # arrival order in this run
    summary: str = ""                     # the task's one-line reading of the self-edit (few-shot: the plan)
    facets: list[str] = field(default_factory=list)  # its choices as tags (few-shot: augmentations, tokens)
    invalid: str | None = None            # why the task could not use it (reward 0, not adapted)
    dropped: int = 0                      # training examples left out whole (longer than model.max_seq_len)
    reward: float | None = None
    baseline: float | None = None
    gain: float | None = None
    rewards: list[float] = field(default_factory=list)  # each inner-loop run's, where there were several
    kept: bool | None = None
    keep_reason: str = ""
    review: str | None = None             # pending / approved / rejected / edited
    trained: bool = False                 # in its round's M-step set
    trained_text: str | None = None       # what the M-step trained on, where a person edited it
    train_sequences: list[str] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)
    rev: int = 0                          # state.rev when it last changed

    @property
    def first_line(self) -> str:
        for line in self.self_edit.splitlines():
            if line.strip():
                return line.strip()
        return ""

    @property
    def solved(self) -> bool:
        """A reward of 1: every question (few-shot: every test output) answered right."""
        return self.reward is not None and self.reward >= 1.0


@dataclass
class LogLine:
    seq: int
    ts: float
    level: str
    message: str


@dataclass
class Telemetry:
    ts: float
    cpu_pct: float
    rss_mb: float
    gpus: list[dict]


@dataclass
class MultiPassageEval:
    """One LoRA trained on the self-edits of ``n_passages`` held-out passages together, then
    all their questions: accuracy before it (``none``), trained on the passages themselves
    (``passage``) and on the policy's self-edits (``self_edit``)."""

    n_passages: int
    n_questions: int
    none: float | None
    passage: float | None
    self_edit: float | None
    teacher: float | None = None       # a teacher model's self-edits (imported: cpt_gpt4_1)
    per_title: list[dict] = field(default_factory=list)   # imported: each title's accuracies, in file order
    per_title_covers: int | None = None   # of n_questions, those per_title covers (where titles overwrote)


@dataclass
class ForgettingEval:
    """Self-edits of ``k`` passages applied in sequence, each merged into the weights.
    ``mean[i][j]``: accuracy on passage j after i edits (row 0: before any), averaged over
    ``sequences`` random orders; None where not measured (passage j not yet edited in)."""

    k: int
    sequences: int | None
    mean: list[list[float | None]]
    std: list[list[float | None]] | None
    row_mean: list[float | None]
    std_note: str | None = None          # what the std is over, where the file says otherwise than sequences


@dataclass
class RoundEval:
    """A round's held-out evaluation (one ``eval_result`` event)."""

    round: int
    none: float | None                   # single passage: no adaptation
    passage: float | None                # trained on the passage itself
    self_edit: float | None              # trained on the policy's self-edit
    n_contexts: int
    n_questions: int
    teacher: float | None = None         # trained on a teacher model's self-edit (the paper's GPT-4.1)
    multi_passage: MultiPassageEval | None = None
    forgetting: ForgettingEval | None = None
    label: str = ""                      # a re-score (policy_eval): the policy in words ("round 2 policy")
    policy: str = ""                     # a re-score: what was scored (a folder or a hub id)


@dataclass
class RunState:
    run_id: str
    name: str = ""
    preset: str = ""
    model: str = ""
    source: str = "engine"
    task: str = "knowledge"
    labels: dict[str, str] = field(default_factory=lambda: dict(KNOWLEDGE_LABELS))   # the task's names for its parts
    self_edit_schema: dict | None = None  # JSON Schema a person's edit must satisfy (None: free text)
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "created"
    error: str | None = None
    stop_reason: str | None = None
    rounds: int = 0
    round: int = 0
    phase: str = "setup"
    phase_total: int = 0
    phase_done: int = 0
    phase_started_ts: float | None = None
    created_ts: float | None = None
    started_ts: float | None = None
    finished_ts: float | None = None
    last_ts: float | None = None
    last_event_id: int = 0
    events_seen: int = 0
    best_heldout: float | None = None

    contexts: dict[str, dict[int, dict]] = field(default_factory=dict)
    candidates: dict[int, Candidate] = field(default_factory=dict)
    # (rev, candidate id) of each change, newest last: widgets redraw only those rows
    candidate_changes: deque = field(default_factory=lambda: deque(maxlen=2 * MAX_CANDIDATES))
    candidates_dropped: int = 0
    rewards: dict[int, list[float]] = field(default_factory=dict)
    baselines: dict[int, list[float]] = field(default_factory=dict)
    kept_count: dict[int, int] = field(default_factory=dict)
    sampled_count: dict[int, int] = field(default_factory=dict)
    # per round, how many sampled / kept self-edits chose each facet (few-shot: augmentation switches)
    facets_sampled: dict[int, dict[str, int]] = field(default_factory=dict)
    facets_kept: dict[int, dict[str, int]] = field(default_factory=dict)
    evals: dict[int, dict] = field(default_factory=dict)            # eval_result payloads as recorded
    round_evals: dict[int, RoundEval] = field(default_factory=dict)  # the same, checked and typed
    policy_evals: list[RoundEval] = field(default_factory=list)     # re-scores (seal-engine eval), in order
    teacher_self_edits: int = 0                                      # a teacher's self-edits recorded (eval.teacher)
    metrics: dict[str, dict[int, float]] = field(default_factory=dict)
    mstep: dict[str, Any] = field(default_factory=dict)
    mstep_loss: deque = field(default_factory=lambda: deque(maxlen=MAX_MSTEP_POINTS))
    mstep_done: dict[int, dict] = field(default_factory=dict)
    phase_times: list = field(default_factory=list)           # each engine process's ev.PhaseTimes
    review_queue: list[int] = field(default_factory=list)      # the latest review_waiting's candidates, in order
    review_pending: list[int] = field(default_factory=list)    # of those, the ones the engine has no decision for
    review_round: int | None = None
    review_waiting_id: int | None = None                      # that review_waiting event's id
    review_done: Any = None                                   # its review_done payload, once the engine went on
    review_mode: str | None = None
    review_counts: dict[str, int] = field(default_factory=dict)
    telemetry: deque = field(default_factory=lambda: deque(maxlen=MAX_TELEMETRY))
    # the Ray executor's scoring workers by number: their latest worker_telemetry row (state: idle,
    # busy or lost; a lost one keeps its reason); empty for a run on the local executor
    workers: dict[int, dict] = field(default_factory=dict)
    log: deque = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    log_seq: int = 0

    rev: int = 0
    rev_header: int = 0
    rev_candidates: int = 0
    rev_rewards: int = 0
    rev_metrics: int = 0
    rev_evals: int = 0
    rev_review: int = 0
    rev_telemetry: int = 0
    rev_log: int = 0

    @property
    def is_fewshot(self) -> bool:
        return self.task == "fewshot"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def phase_label(self) -> str:
        return PHASE_LABELS.get(self.phase, self.phase or "")

    def changed_candidates(self, since_rev: int) -> set[int] | None:
        """Ids of candidates changed after ``since_rev`` (None: too long ago, rescan them all)."""
        changes = self.candidate_changes
        if changes and changes[0][0] > since_rev + 1 and len(changes) == changes.maxlen:
            return None
        out: set[int] = set()
        for rev, cid in reversed(changes):
            if rev <= since_rev:
                break
            out.add(cid)
        return out

    def context(self, idx: int, split: str = "train") -> dict | None:
        return self.contexts.get(split, {}).get(idx)

    def elapsed(self, now: float) -> float | None:
        start = self.started_ts if self.started_ts is not None else self.created_ts
        if start is None:
            return None
        end = self.finished_ts if not self.is_live and self.finished_ts is not None else now
        return max(0.0, end - start)

    def eta(self, now: float) -> float | None:
        """Seconds left in the current phase at its rate so far (None: unknown)."""
        if not self.is_live or self.status != "running":
            return None
        if not self.phase_total or not self.phase_done or self.phase_started_ts is None:
            return None
        if self.phase_done >= self.phase_total:
            return 0.0
        spent = max(0.0, now - self.phase_started_ts)
        return spent / self.phase_done * (self.phase_total - self.phase_done)
