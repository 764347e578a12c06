"""Reward of a self-edit: how well the model answers its context after adapting to it.

The ``Scorer`` is what the outer loop, the held-out evaluations and the forgetting
matrix call: adapt to these items and score them, answer unadapted, merge one
adaptation into the weights, let the M-step see the bare model. The inner loop's
LoRA slots stay behind it. The task says what is answered and how answers become a
reward; the grader judges each answer.

Baseline answers (unadapted model) are computed and graded once per context and
reused for all its candidates, until the M-step changes the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.adaptation import Adaptation
from engine.executor import Chunk, Executor, LocalExecutor
from engine.generation import AnswerRule
from engine.graders import GradeItem, Grader, GraderFailure, Verdict
from engine.inner_loop import AdaptJob, AdaptResult, InnerLoop


class Grading(Protocol):
    """What the scorer asks of a task (``engine.tasks.base.Task`` has it): the queries to
    answer, how long an answer may be and where it ends, the graded answers from their
    answers, and the reward from the verdicts."""

    def queries(self, ctx: dict) -> list[str]: ...

    def answer_max_tokens(self) -> int | None: ...

    def answer_stop(self) -> str | None: ...

    def grade_items(self, ctx: dict, answers: Sequence[str]) -> list[GradeItem]: ...

    def reward(self, ctx: dict, verdicts: Sequence[Verdict]) -> float: ...


@dataclass
class Baseline:
    items: list[GradeItem]     # the unadapted model's graded answers
    correct: list[bool]

    @property
    def answers(self) -> list[str]:
        return [it.answer for it in self.items]

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.correct) if self.correct else 0.0


@dataclass
class Score:
    reward: float
    baseline: float
    gain: float
    answers: list[dict]   # per graded answer: question, gold, answer_before, answer_after, correct_*, reason (, rep)
    rewards: list[float] | None = None  # each inner-loop run's reward, where there were several
    dropped: int = 0      # training examples left out whole for being longer than model.max_seq_len


def combine_repeats(scores: Sequence[Score]) -> Score:
    """One candidate's inner-loop runs as one score: the mean reward, every run's answers
    (each marked with its run, ``rep``), and each run's reward."""
    if len(scores) == 1:
        return scores[0]
    reward = sum(s.reward for s in scores) / len(scores)
    baseline = scores[0].baseline
    answers = [dict(a, rep=rep) for rep, s in enumerate(scores) for a in s.answers]
    return Score(reward, baseline, reward - baseline, answers, [s.reward for s in scores],
                 max(s.dropped for s in scores))


@dataclass
class ScoreItem:
    context: dict
    adaptation: Adaptation | None   # None where invalid
    seed: int                       # the LoRA init and minibatch order (engine.seeds)
    invalid: str | None = None      # why the task cannot use the self-edit: reward 0, no inner loop


def _details(before: GradeItem, after: GradeItem | None) -> dict:
    """What the answers were made from (``GradeItem.detail``), where the task keeps it (few-shot:
    each view's answer and the vote); nothing for a task that does not (knowledge's records stay as they were)."""
    out = {}
    if before.detail is not None:
        out["detail_before"] = before.detail
    if after is not None and after.detail is not None:
        out["detail_after"] = after.detail
    return out


class Scorer:
    def __init__(self, inner: InnerLoop, grader: Grader, task: Grading,
                 on_grader_failure: Callable[[GraderFailure], None] | None = None,
                 executor: Executor | None = None):
        self.inner = inner
        # where score_chunks' adaptations run (the baselines, merges and the M-step stay on ``inner``)
        self.executor: Executor = executor or LocalExecutor(inner)
        self.grader = grader
        self.task = task
        self.on_grader_failure = on_grader_failure
        self.answer_rule = AnswerRule(task.answer_max_tokens(), task.answer_stop())
        self._baselines: dict[tuple, Baseline] = {}

    # ------------------------------------------------------------ grading
    def grade(self, items: list[GradeItem]):
        """Verdicts; when the grader keeps failing, ``on_grader_failure`` waits (the run
        pauses until a person resumes it) and grading is tried again. Never scores 0 silently."""
        while True:
            try:
                return self.grader.grade(items)
            except GraderFailure as exc:
                if self.on_grader_failure is None:
                    raise
                self.on_grader_failure(exc)

    def grader_metrics(self) -> dict[str, float]:
        """A grader with costs (the LLM judge) reports cumulative counters: cache hits, tokens..."""
        stats = getattr(self.grader, "stats", None)
        return {f"judge_{key}": value for key, value in stats().items()} if callable(stats) else {}

    # ------------------------------------------------------------ the unadapted model
    def _key(self, ctx: dict) -> tuple:
        return (ctx.get("title"), ctx.get("context", "")[:200], tuple(self.task.queries(ctx)))

    def _unadapted(self, contexts: Sequence[dict]) -> list[Baseline]:
        queries = [self.task.queries(c) for c in contexts]
        answers = self.inner.baseline_answers([q for qs in queries for q in qs], self.answer_rule)
        items, pos = [], 0
        for c, qs in zip(contexts, queries):
            items.append(self.task.grade_items(c, answers[pos:pos + len(qs)]))
            pos += len(qs)
        verdicts = self.grade([it for its in items for it in its])
        out, pos = [], 0
        for its in items:
            out.append(Baseline(its, [v.correct for v in verdicts[pos:pos + len(its)]]))
            pos += len(its)
        return out

    def baselines(self, contexts: Sequence[dict]) -> list[Baseline]:
        """The unadapted policy's graded answers per context (cached until the policy changes)."""
        todo = list({self._key(c): c for c in contexts if self._key(c) not in self._baselines}.values())
        if todo:
            for c, b in zip(todo, self._unadapted(todo)):
                self._baselines[self._key(c)] = b
        return [self._baselines[self._key(c)] for c in contexts]

    def unadapted_accuracy(self, ctx: dict) -> float:
        """The model's accuracy on ``ctx`` as its weights are now (never cached: the forgetting
        matrix merges adaptations into the weights between calls)."""
        return self._unadapted([ctx])[0].accuracy

    # ------------------------------------------------------------ adapting
    @staticmethod
    def _job(adaptation: Adaptation, queries: list[str], seed: int) -> AdaptJob:
        return AdaptJob(adaptation.sequences, queries, seed, pairs=adaptation.pairs, lr=adaptation.lr,
                        epochs=adaptation.epochs, prompt_loss=adaptation.prompt_loss)

    def score_chunks(self, items: Sequence[ScoreItem],
                     save_to: Callable[[int], Path | None] | None = None) -> Iterator[tuple[int, list[Score]]]:
        """Adapt, answer and grade ``items`` one chunk of stacked-LoRA slots at a time.

        Yields (index of the chunk's first item, its scores), in the items' order whatever order
        the executor's chunks finish in. ``save_to(item_index)`` names a folder to save that item's
        adapter in (PEFT format), or None."""
        prepared: dict[int, tuple[Sequence[ScoreItem], list[Baseline], list[int]]] = {}

        def chunks() -> Iterator[Chunk]:  # drawn by the executor as it can start each one
            for start in range(0, len(items), self.executor.slots):
                chunk = items[start:start + self.executor.slots]
                live = [i for i, it in enumerate(chunk) if it.invalid is None]
                prepared[start] = (chunk, self.baselines([it.context for it in chunk]), live)
                jobs = [self._job(chunk[i].adaptation, self.task.queries(chunk[i].context), chunk[i].seed)
                        for i in live]
                yield Chunk(start, jobs, self.answer_rule, [save_to(start + i) if save_to else None for i in live])

        finished: dict[int, list[Score]] = {}
        next_start = 0
        for done, results in self.executor.adapt(chunks()):
            finished[done.start] = self._graded(*prepared.pop(done.start), results)
            while next_start in finished:
                scores = finished.pop(next_start)
                yield next_start, scores
                next_start += len(scores)

    def _graded(self, chunk: Sequence[ScoreItem], bases: list[Baseline], live: list[int],
                results: list[AdaptResult]) -> list[Score]:
        answers: list[list[str] | None] = [None] * len(chunk)
        dropped = [0] * len(chunk)
        for i, res in zip(live, results):
            answers[i], dropped[i] = res.answers, res.dropped
        graded = [self.task.grade_items(it.context, a) if a is not None else [] for it, a in zip(chunk, answers)]
        flat = [g for gs in graded for g in gs]
        verdicts = self.grade(flat) if flat else []
        scores, pos = [], 0
        for it, gs, base, n_dropped in zip(chunk, graded, bases, dropped):
            if it.invalid is not None:
                scores.append(self._invalid(it.invalid, base))
                continue
            vs = verdicts[pos:pos + len(gs)]
            pos += len(gs)
            records = [{"question": g.question, "gold": g.gold,
                        "answer_before": b.answer, "answer_after": g.answer,
                        "correct_before": cb, "correct_after": v.correct, "reason": v.reason,
                        **_details(b, g)}
                       for g, b, cb, v in zip(gs, base.items, base.correct, vs)]
            reward = self.task.reward(it.context, vs)
            scores.append(Score(reward, base.accuracy, reward - base.accuracy, records, dropped=n_dropped))
        return scores

    @staticmethod
    def _invalid(reason: str, base: Baseline) -> Score:
        records = [{"question": b.question, "gold": b.gold, "answer_before": b.answer, "answer_after": "",
                    "correct_before": cb, "correct_after": False, "reason": reason, **_details(b, None)}
                   for b, cb in zip(base.items, base.correct)]
        return Score(0.0, base.accuracy, -base.accuracy, records)

    def merge(self, adaptation: Adaptation, *, lora_seed: int, seed: int) -> None:
        """Adapt a fresh LoRA (init ``lora_seed``, minibatch order ``seed``) and merge it into
        the weights: it stays until ``merges_undone`` ends."""
        self.inner.merge(self._job(adaptation, [], seed), lora_seed=lora_seed)

    @contextmanager
    def merges_undone(self) -> Iterator[None]:
        """Weights merged inside are restored on the way out."""
        with self.inner.weights_restored():
            yield

    # ------------------------------------------------------------ the M-step
    @contextmanager
    def policy_update(self) -> Iterator[None]:
        """The M-step inside sees (and saves) the bare model; the policy has changed after
        it, so its unadapted answers are computed again."""
        with self.inner.bare_model():
            yield
        self._baselines.clear()
        self.executor.policy_changed()
