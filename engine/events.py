"""The event contract between the engine and every reader of a run: one class per kind.

A run is its event log. The engine records each event through ``Store.record`` (which
also keeps the store's tables in step with it); the console's reducer, resume's
``Progress``, the importers and every summary read events back as these classes.
Adding a field means adding it here (with a default, so older logs still decode),
where it is written, and where it is read; a kind with no class cannot be written.

Torch-free and import-light: the console imports this module.

Encoding: ``encode(payload)`` gives the JSON object stored in ``events.data_json``;
``decode(kind, data)`` gives the payload back, a field missing from older logs taking
its default and a field this version does not know being left out. A kind this version
does not know decodes as ``Unknown`` (readers skip it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict

# 1: the shapes written before this module existed; 2: run_created.task / labels,
# review_decided.edited_text, run_resumed.status; 3: a task's own parts (the few-shot task):
# run_created.self_edit_schema, candidate_sampled.summary / facets, candidate_scored.invalid / dropped,
# answer records' detail_before / detail_after, context items' further keys ("arc").
# 4: phase_times (where each engine process's wall time went). 5: teacher_self_edits (the teacher
# condition's self-edits, kept before they are scored), policy_eval (seal-engine eval: a policy re-scored
# on the run's held-out contexts).
# Every older log decodes as the newest.
SCHEMA_VERSION = 5


# ---------------------------------------------------------------- nested shapes (plain dicts)
class Question(TypedDict):
    question: str
    answer: str


class ContextItem(TypedDict, total=False):
    idx: int
    title: str
    context: str
    questions: list[Question]
    arc: dict           # few-shot: the raw ARC task {train: [{input, output}], test: [{input, output}]}


class AnswerRecord(TypedDict, total=False):
    question: str
    gold: str
    answer_before: str
    answer_after: str
    correct_before: bool
    correct_after: bool
    reason: str
    rep: int            # which of a candidate's inner-loop runs (0 where there was one)
    # what an answer was made from, where the task keeps it (few-shot: GridDetail), before and
    # after the adaptation
    detail_before: dict
    detail_after: dict


class GridDetail(TypedDict, total=False):
    """A few-shot answer's detail: grids are lists of rows of colours 0-9."""

    input: list[list[int]]          # the test input
    gold: list[list[int]]           # its gold output
    answer: list[list[int]] | None  # the graded attempt (the gold one where an attempt is; None: no grid)
    attempts: list[list[list[int]]]  # the most voted grids, best first
    views: list[dict]               # each view's {view, demos, answer (text), grid (None: unreadable)}


class TrainedCandidate(TypedDict, total=False):
    id: int
    edited: bool
    text: str           # only where a person edited the self-edit


# ---------------------------------------------------------------- the base and the registry
@dataclass
class Payload:
    """One event's data. ``KIND`` names it in the store."""

    KIND: ClassVar[str] = ""


KINDS: dict[str, type[Payload]] = {}


def _kind(name: str):
    def register(cls: type[Payload]) -> type[Payload]:
        cls.KIND = name
        KINDS[name] = cls
        cls._fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[attr-defined]
        return cls
    return register


@dataclass
class Unknown(Payload):
    """A kind written by a newer version (or by hand): kept as it is, reduced by no one."""

    name: str = ""
    data: dict = field(default_factory=dict)


def encode(payload: Payload) -> dict:
    """The JSON object stored for ``payload`` (every field, in declaration order)."""
    if isinstance(payload, Unknown):
        return dict(payload.data)
    if type(payload).KIND not in KINDS:
        raise TypeError(f"{type(payload).__name__} is not an event class of engine.events")
    return {name: getattr(payload, name) for name in payload._fields}  # type: ignore[attr-defined]


def decode(kind: str, data: dict | None) -> Payload:
    """The payload of a stored event; fields missing from older logs take their defaults."""
    cls = KINDS.get(kind)
    data = data or {}
    if cls is None:
        return Unknown(name=kind, data=dict(data))
    try:
        return cls(**data)
    except TypeError:  # a field this version does not know (a newer writer)
        names = cls._fields  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in names})


# ---------------------------------------------------------------- run lifecycle
DEFAULT_TASK = "knowledge"
# How the console names a task's parts; the knowledge task's, which every log written before
# tasks existed is (engine.tasks.base.Labels names each key).
KNOWLEDGE_LABELS = {"context": "passage", "question": "question", "none": "no adaptation",
                    "passage": "passage only", "passage_short": "passage", "self_edit": "self-edits",
                    "multi": "passages"}
# the few-shot (ARC) task's (engine.tasks.fewshot.task.FewShotTask.labels; imported few-shot results)
FEWSHOT_LABELS = {**KNOWLEDGE_LABELS, "context": "ARC task", "question": "test output", "none": "in-context only",
                  "passage": "oracle TTT", "passage_short": "oracle", "self_edit": "self-edit TTT"}


@_kind("run_created")
@dataclass
class RunCreated(Payload):
    name: str = ""
    preset: str = ""
    model: str = ""
    rounds: int = 0
    config: dict = field(default_factory=dict)
    source: str = "engine"            # "engine" or "imported"
    task: str = DEFAULT_TASK          # the SEAL experiment (engine.tasks)
    labels: dict = field(default_factory=lambda: dict(KNOWLEDGE_LABELS))  # how the console names the task's parts
    # the JSON Schema a self-edit must satisfy (None: free text); a person's edit in review is
    # checked against it before it is sent
    self_edit_schema: dict | None = None
    schema_version: int = SCHEMA_VERSION


@_kind("run_started")
@dataclass
class RunStarted(Payload):
    pid: int | None = None
    run_dir: str = ""
    resumed: bool = False
    imported_from: str | None = None  # an imported run: the result file
    sha256: str | None = None


@_kind("run_paused")
@dataclass
class RunPaused(Payload):
    phase: str | None = None
    reason: str | None = None         # None: a person paused it; else why the engine paused itself


@_kind("run_resumed")
@dataclass
class RunResumed(Payload):
    phase: str | None = None
    status: str = "running"           # the status it returns to (running, awaiting_review)


@_kind("run_finished")
@dataclass
class RunFinished(Payload):
    best_heldout: float | None = None
    last: dict | None = None          # the last evaluation's {none, passage, self_edit}


@_kind("run_failed")
@dataclass
class RunFailed(Payload):
    error: str = ""


@_kind("run_stopped")
@dataclass
class RunStopped(Payload):
    reason: str = ""


# ---------------------------------------------------------------- rounds and phases
@_kind("round_started")
@dataclass
class RoundStarted(Payload):
    round: int = 0
    total_rounds: int = 0


@_kind("round_finished")
@dataclass
class RoundFinished(Payload):
    round: int = 0


@_kind("phase")
@dataclass
class Phase(Payload):
    phase: str = ""
    total: int = 0


@_kind("phase_times")
@dataclass
class PhaseTimes(Payload):
    """Where one engine process's wall time went, recorded just before its run_finished, run_stopped
    or run_failed: seconds per phase (``facts.PHASES``, and "paused": waiting for a resume), and the
    process's whole time. A resumed run has one per process that ended."""

    seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0


@_kind("progress")
@dataclass
class Progress(Payload):
    phase: str | None = None
    done: int = 0
    total: int = 0


# ---------------------------------------------------------------- contexts and candidates
@_kind("contexts")
@dataclass
class Contexts(Payload):
    split: str = "train"              # "train" or "heldout"
    items: list[ContextItem] = field(default_factory=list)


@_kind("candidate_sampled")
@dataclass
class CandidateSampled(Payload):
    id: int | None = None             # None when written: the store numbers it
    context_idx: int = 0
    cand_idx: int = 0
    title: str = ""
    self_edit: str = ""
    summary: str = ""                 # the task's one-line reading of the self-edit ("" : none; few-shot: the plan)
    facets: list[str] = field(default_factory=list)  # the self-edit's choices as tags (few-shot: augmentations used)


@_kind("candidate_scored")
@dataclass
class CandidateScored(Payload):
    id: int = 0
    context_idx: int = 0
    cand_idx: int = 0
    reward: float | None = None
    baseline: float | None = None
    gain: float | None = None
    train_sequences: list[str] = field(default_factory=list)
    answers: list[AnswerRecord] = field(default_factory=list)
    rewards: list[float] | None = None   # each inner-loop run's reward, where there were several
    invalid: str | None = None           # why the task could not use the self-edit (reward 0, not adapted)
    dropped: int = 0                     # training examples left out whole: longer than model.max_seq_len


@_kind("candidate_filtered")
@dataclass
class CandidateFiltered(Payload):
    id: int = 0
    kept: bool = False
    reason: str = ""


# ---------------------------------------------------------------- review
@_kind("review_waiting")
@dataclass
class ReviewWaiting(Payload):
    count: int = 0
    mode: str | None = None
    candidate_ids: list[int] = field(default_factory=list)
    already_decided: int = 0


@_kind("review_decided")
@dataclass
class ReviewDecided(Payload):
    candidate_id: int = -1
    decision: str = ""                # approve, reject, edit or undo
    who: str | None = None
    edited_text: str | None = None    # the text the M-step trains on, for an edit


@_kind("review_done")
@dataclass
class ReviewDone(Payload):
    approved: int = 0
    rejected: int = 0
    edited: int = 0
    timed_out: bool = False


# ---------------------------------------------------------------- M-step, evaluation, numbers
@_kind("mstep_examples")
@dataclass
class MStepExamples(Payload):
    candidates: list[TrainedCandidate] = field(default_factory=list)


@_kind("mstep_progress")
@dataclass
class MStepProgress(Payload):
    step: int = 0
    total: int = 0
    loss: float | None = None
    epoch: int = 0


@_kind("mstep_done")
@dataclass
class MStepDone(Payload):
    policy_path: str | None = None
    examples: int = 0
    loss: float | None = None
    skipped: bool = False
    reason: str | None = None


@_kind("eval_result")
@dataclass
class EvalResult(Payload):
    """A round's held-out evaluation: accuracy with no adaptation (``none``), after the
    task's adaptation without a self-edit (``passage``; knowledge: the passage itself)
    and after the policy's own self-edit (``self_edit``)."""

    round: int = 0
    none: float | None = None
    passage: float | None = None
    self_edit: float | None = None
    n_contexts: int = 0
    n_questions: int = 0
    per_context: list[dict] = field(default_factory=list)
    multi_passage: dict | None = None   # {n_passages, n_questions, none, passage, self_edit[, teacher]}
    forgetting: dict | None = None      # {k, sequences, mean, std, row_mean}
    question_weighted: dict | None = None  # imported reference results: {none, self_edit} over all questions
    # after self-edits a teacher model wrote for the held-out contexts (the paper's GPT-4.1 condition)
    teacher: float | None = None


@_kind("policy_eval")
@dataclass
class PolicyEval(EvalResult):
    """``seal-engine eval``: a policy (one of the run's saved rounds, its base model or any other)
    scored on the run's held-out contexts after the run, with the run's evaluation settings (and
    ``overrides``). ``round`` is the run's round of that policy (0: its base model; -1: none of the
    run's). Not the run's own evaluation of a round: its curves and best figure stay as they were."""

    policy: str = ""                    # what was scored: a saved policy's folder or a hub id
    label: str = ""                     # in words: "round 2 policy", "base model", a folder's name
    overrides: list[str] = field(default_factory=list)   # --set fields that differ from the run's config


class TeacherItem(TypedDict):
    key: str            # hashes (teacher model, prompt, sample j, sampling settings): engine.teacher
    context_idx: int    # the held-out context's place in the run's held-out list
    j: int              # which of its eval.k samples
    text: str           # the teacher's self-edit


@_kind("teacher_self_edits")
@dataclass
class TeacherSelfEdits(Payload):
    """Self-edits a teacher model wrote for held-out contexts (``eval.teacher``), recorded as they
    arrive and before they are scored: a resumed run, a later round and a re-score reuse them."""

    model: str = ""
    items: list[TeacherItem] = field(default_factory=list)


@_kind("metric")
@dataclass
class Metric(Payload):
    name: str = ""
    value: float | None = None
    step: int | None = None


@_kind("telemetry")
@dataclass
class Telemetry(Payload):
    cpu_pct: float = 0.0
    rss_mb: float = 0.0
    gpus: list[dict] = field(default_factory=list)   # [{index, name, util, mem_used_mb, mem_total_mb, temp_c}]


# ---------------------------------------------------------------- scale-out (run.executor = "ray")
class WorkerInfo(TypedDict, total=False):
    """One scoring worker (a Ray actor with the base model resident) and, in telemetry, its machine."""

    worker: int         # its number in the run (0, 1, ...; a restarted pool numbers on)
    node: str           # the Ray node's address
    node_id: str        # the Ray node's id (its first 12 hex digits: nodes may share an address)
    pid: int            # its process on that node
    device: str         # where its model runs: cpu, cuda:0...
    state: str          # telemetry: idle, busy or lost
    chunks: int         # telemetry: chunks it has finished
    cpu_pct: float      # telemetry: its process's CPU use
    rss_mb: float       # telemetry: its process's resident memory
    busy_s: float       # telemetry: seconds it has spent adapting chunks
    gpus: list[dict]    # telemetry: its GPUs as Telemetry.gpus


@_kind("workers_started")
@dataclass
class WorkersStarted(Payload):
    address: str = ""                  # the Ray cluster the run's workers joined
    workers: list[WorkerInfo] = field(default_factory=list)


@_kind("worker_lost")
@dataclass
class WorkerLost(Payload):
    worker: int = 0
    node: str = ""
    pid: int | None = None
    reason: str = ""
    retried: int = 0                   # jobs of the chunk it was running, sent to another worker
    left: int = 0                      # workers still alive


@_kind("worker_telemetry")
@dataclass
class WorkerTelemetry(Payload):
    workers: list[WorkerInfo] = field(default_factory=list)   # one row per worker, lost ones included


@_kind("log")
@dataclass
class Log(Payload):
    level: str = "info"
    message: str = ""


@_kind("command_ack")
@dataclass
class CommandAck(Payload):
    command_id: int = 0
    kind: str = ""                     # the command: pause, resume or stop
    ok: bool = True
    message: str = ""


# ---------------------------------------------------------------- a stored event
@dataclass
class Event:
    """One row of the event log: where and when, and its payload (decoded on first use)."""

    id: int
    run_id: str
    ts: float
    kind: str
    round: int | None
    phase: str | None
    data: dict
    _payload: Payload | None = field(default=None, repr=False, compare=False)

    @property
    def payload(self) -> Any:
        if self._payload is None:
            self._payload = decode(self.kind, self.data)
        return self._payload

    def as_dict(self) -> dict:
        return {"id": self.id, "run_id": self.run_id, "ts": self.ts, "kind": self.kind,
                "round": self.round, "phase": self.phase, "data": self.data}

    @classmethod
    def of(cls, payload: Payload, *, id: int = 0, run_id: str = "", ts: float = 0.0,
           round: int | None = None, phase: str | None = None) -> Event:
        """An event made in memory (tests, replays): the payload as the store would hold it."""
        return cls(id, run_id, ts, payload.KIND, round, phase, encode(payload), payload)
