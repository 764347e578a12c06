"""Reward of a self-edit: accuracy of the adapted model on its context's questions.

Baseline answers (unadapted model) are computed and graded once per context and
reused for all its candidates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from engine.graders import GradeItem, Grader, GraderFailure
from engine.inner_loop import AdaptJob, InnerLoop


@dataclass
class Baseline:
    answers: list[str]
    correct: list[bool]

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.correct) if self.correct else 0.0


@dataclass
class Score:
    reward: float
    baseline: float
    gain: float
    answers: list[dict]   # per question: question, gold, answer_before, answer_after, correct_*, reason (, rep)
    rewards: list[float] | None = None  # each inner-loop run's reward, where there were several


# seeds of a candidate's repeated inner-loop runs are this far apart
REPEAT_SEED_STRIDE = 7_919_000


def candidate_seed(run_seed: int, round_: int, context_idx: int, cand_idx: int, rep: int = 0) -> int:
    """The LoRA-initialisation seed of one inner-loop run of one candidate.

    Made from where the candidate stands in its run (round, context, sample) and never
    from its row id in the store: the same config and run.seed give the same rewards
    whatever else the store holds (a bench's third run used to score differently from
    the same run alone in a fresh store)."""
    key = f"{run_seed}/{round_}/{context_idx}/{cand_idx}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=7).digest(), "big") + rep * REPEAT_SEED_STRIDE


def combine_repeats(scores: Sequence[Score]) -> Score:
    """One candidate's inner-loop runs as one score: the mean reward, every run's answers
    (each marked with its run, ``rep``), and each run's reward."""
    if len(scores) == 1:
        return scores[0]
    reward = sum(s.reward for s in scores) / len(scores)
    baseline = scores[0].baseline
    answers = [dict(a, rep=rep) for rep, s in enumerate(scores) for a in s.answers]
    return Score(reward, baseline, reward - baseline, answers, [s.reward for s in scores])


@dataclass
class ScoreItem:
    context: dict
    sequences: list[str]
    seed: int


def _key(ctx: dict) -> tuple:
    return (ctx["title"], ctx["context"][:200], len(ctx["questions"]))


class Scorer:
    def __init__(self, inner: InnerLoop, grader: Grader,
                 on_grader_failure: Callable[[GraderFailure], None] | None = None):
        self.inner = inner
        self.grader = grader
        self.on_grader_failure = on_grader_failure
        self._baselines: dict[tuple, Baseline] = {}

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

    def clear_baselines(self) -> None:
        """After the M-step the policy has changed: its unadapted answers must be recomputed."""
        self._baselines.clear()

    def baselines(self, contexts: Sequence[dict]) -> list[Baseline]:
        todo = [c for c in contexts if _key(c) not in self._baselines]
        todo = list({_key(c): c for c in todo}.values())
        if todo:
            questions = [q["question"] for c in todo for q in c["questions"]]
            answers = self.inner.baseline_answers(questions)
            verdicts = self.grade([GradeItem(q["question"], q["answer"], a) for q, a in
                                          zip((q for c in todo for q in c["questions"]), answers)])
            pos = 0
            for c in todo:
                n = len(c["questions"])
                self._baselines[_key(c)] = Baseline(answers[pos:pos + n], [v.correct for v in verdicts[pos:pos + n]])
                pos += n
        return [self._baselines[_key(c)] for c in contexts]

    def score_chunks(self, items: Sequence[ScoreItem],
                     save_adapter: Callable[[int, int], None] | None = None) -> Iterator[tuple[int, list[Score]]]:
        """Adapt, answer and grade ``items`` one chunk of stacked-LoRA slots at a time.

        Yields (index of the chunk's first item, its scores). ``save_adapter(item_index,
        slot)`` is called while an item's adapter is still in its slot."""
        slots = self.inner.slots
        for start in range(0, len(items), slots):
            chunk = items[start:start + slots]
            bases = self.baselines([it.context for it in chunk])
            jobs = [AdaptJob(it.sequences, [q["question"] for q in it.context["questions"]], it.seed)
                    for it in chunk]
            results = self.inner.run(jobs, save_slot=(lambda i, slot, base=start: save_adapter(base + i, slot))
                                     if save_adapter else None)
            grade_items = [GradeItem(q["question"], q["answer"], ans)
                           for it, res in zip(chunk, results)
                           for q, ans in zip(it.context["questions"], res.answers)]
            verdicts = self.grade(grade_items)
            scores, pos = [], 0
            for it, res, base in zip(chunk, results, bases):
                qs = it.context["questions"]
                vs = verdicts[pos:pos + len(qs)]
                pos += len(qs)
                records = [{"question": q["question"], "gold": q["answer"],
                            "answer_before": b, "answer_after": a,
                            "correct_before": cb, "correct_after": v.correct, "reason": v.reason}
                           for q, a, b, cb, v in zip(qs, res.answers, base.answers, base.correct, vs)]
                reward = sum(v.correct for v in vs) / len(vs) if vs else 0.0
                scores.append(Score(reward, base.accuracy, reward - base.accuracy, records))
            yield start, scores
