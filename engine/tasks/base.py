"""What the outer loop asks of a SEAL experiment: the ``Task`` interface.

ReSTEM (``engine.restem``) is the same for every experiment; a task says what
differs: the contexts and their split, the self-edit prompt, whether a sampled
self-edit is usable, the inner-loop work a self-edit becomes, the queries answered
after adaptation and how their answers become a reward, the held-out conditions of
each round, and how the console names all of these.

A context is a dict that the store keeps as it is (``engine.events.ContextItem``:
idx, title, context, questions); a task may keep more keys in it.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from engine.adaptation import Adaptation
from engine.events import KNOWLEDGE_LABELS
from engine.graders import ContainsGrader, ExactGrader, F1Grader, GradeItem, Grader, Verdict

if TYPE_CHECKING:
    from engine.config import Config


def make_grader(cfg, store=None, run_id: str | None = None) -> Grader:
    """The grader a run's ``[grader]`` section asks for."""
    if cfg.kind == "exact":
        return ExactGrader()
    if cfg.kind == "contains":
        return ContainsGrader()
    if cfg.kind == "f1":
        return F1Grader(cfg.f1_threshold)
    if cfg.kind == "llm":
        from engine.judge import LLMJudge  # the openai client only when asked for
        return LLMJudge(cfg, store=store, run_id=run_id)
    raise ValueError(f"grader.kind = {cfg.kind!r}: expected exact, contains, f1 or llm")


class DataError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Labels:
    """How the console names a task's parts (sent with the ``run_created`` event, so the
    console never imports the task). The defaults are knowledge incorporation's, which
    every log written before tasks existed is (``engine.events.KNOWLEDGE_LABELS``)."""

    context: str = KNOWLEDGE_LABELS["context"]            # one context
    question: str = KNOWLEDGE_LABELS["question"]          # one graded query
    none: str = KNOWLEDGE_LABELS["none"]                  # the held-out conditions, as EvalResult names them
    passage: str = KNOWLEDGE_LABELS["passage"]
    passage_short: str = KNOWLEDGE_LABELS["passage_short"]  # the same, in the accuracy legend
    self_edit: str = KNOWLEDGE_LABELS["self_edit"]
    multi: str = KNOWLEDGE_LABELS["multi"]                # multi-passage: trained on the contexts themselves

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


class Task(ABC):
    """One SEAL experiment. Built from the run's config; holds no model."""

    name: ClassVar[str]
    labels: ClassVar[Labels] = Labels()
    # sampled self-edits the task rejects are sampled again this many times, then scored 0
    resample_limit: ClassVar[int] = 0

    def __init__(self, cfg: Config):
        self.cfg = cfg

    # ------------------------------------------------------------ contexts
    @abstractmethod
    def load_contexts(self) -> tuple[list[dict], list[dict]]:
        """(training pool, held-out contexts); the two share none. Raises DataError."""

    # ------------------------------------------------------------ E-step
    @abstractmethod
    def self_edit_prompt(self, ctx: dict) -> str:
        """The user turn that asks the policy for a self-edit of ``ctx`` (chat template applied later)."""

    def check_self_edit(self, ctx: dict, text: str) -> str | None:
        """None when ``text`` is a usable self-edit of ``ctx``, else why not (in a few words)."""
        return None

    # ------------------------------------------------------------ inner loop
    @abstractmethod
    def adaptation(self, ctx: dict, self_edit: str) -> Adaptation:
        """What a fresh LoRA trains on for a usable self-edit of ``ctx``."""

    @abstractmethod
    def reference_adaptation(self, ctx: dict) -> Adaptation:
        """The held-out "passage" condition: the task's own adaptation, without a self-edit."""

    def describe_self_edit(self, text: str) -> dict:
        """The self-edit read by the task for people: ``summary`` (one line for tables) and
        ``facets`` (its choices as tags, counted over kept self-edits), as fields of the
        candidate_sampled event; nothing for free text."""
        return {}

    def self_edit_schema(self) -> dict | None:
        """The JSON Schema a self-edit must satisfy (a person's edit in review is checked against
        it before it is sent); None: free text."""
        return None

    def shown_training(self, adaptation: Adaptation) -> list[str]:
        """What a candidate's record keeps of its training data (``train_sequences``): all of it,
        unless the task's data is too large to keep per candidate."""
        return adaptation.sequences

    # ------------------------------------------------------------ reward
    @abstractmethod
    def queries(self, ctx: dict) -> list[str]:
        """What the model answers, adapted and unadapted (greedy, one generation each)."""

    def query_prompt(self, query: str) -> str:
        """The user turn for one query (chat template applied later)."""
        return query

    @abstractmethod
    def grade_items(self, ctx: dict, answers: Sequence[str]) -> list[GradeItem]:
        """The graded answers of ``ctx`` from the answers to its queries, in order."""

    def reward(self, ctx: dict, verdicts: Sequence[Verdict]) -> float:
        """The reward of one adaptation from its verdicts: the share graded correct."""
        return sum(v.correct for v in verdicts) / len(verdicts) if verdicts else 0.0

    def answer_max_tokens(self) -> int | None:
        """The longest answer to a query, in tokens (None: the config's ``inner.answer_max_tokens``)."""
        return None

    def answer_stop(self) -> str | None:
        """Text that ends an answer (None: the first line break, a knowledge answer's end)."""
        return None

    def make_grader(self, store=None, run_id: str | None = None) -> Grader:
        """The grader of this task's answers (``[grader]`` of the config)."""
        return make_grader(self.cfg.grader, store=store, run_id=run_id)

    # ------------------------------------------------------------ held-out evaluation
    def heldout_conditions(self, round_: int) -> tuple[str, ...]:
        """The adapted conditions measured after round ``round_`` ("none" always is). The baselines of
        the base model, the passage alone and a teacher's self-edits (``eval.teacher``), are measured at
        round 0 (every round with ``eval.passage_every_round``)."""
        ev = self.cfg.eval
        baselines = round_ == 0 or ev.passage_every_round
        return (*(("passage",) if ev.passage_only and baselines else ()),
                *(("teacher",) if ev.teacher and baselines else ()), "self_edit")

    def heldout_self_edits(self) -> int:
        """Self-edits sampled per held-out context; the "self_edit" condition averages over them."""
        return 1

    def heldout_tally(self, ctx: dict, correct: Sequence[bool]) -> tuple[int, int]:
        """(correct, count) that one held-out context adds to a condition's accuracy, from its graded
        answers: each answer counts once (knowledge's question-weighted accuracy)."""
        return sum(correct), len(correct)

    def further_evaluations(self, run, scorer, heldout: list[dict], self_edits: list[str]) -> dict:
        """The task's own evaluations of the round's policy (``run``: the RunContext, ``scorer``:
        the Scorer) beside the held-out conditions, as extra keys of the ``eval_result`` event
        (knowledge: multi_passage, forgetting). Untyped here: the scorer's module imports this one."""
        return {}
