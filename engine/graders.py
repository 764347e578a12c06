"""Graders: a batch of (question, gold, answer) in, verdicts with a short reason out.

``exact``, ``contains`` and ``f1`` are local string rules; ``llm`` (engine.judge)
asks an OpenAI-compatible model. All share the ``Grader`` interface, so the inner
loop never knows which one it has; the task picks one (``engine.tasks.base.make_grader``
reads the run's ``[grader]`` section).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_LABEL = re.compile(r"^\s*answer\s*:\s*", re.IGNORECASE)
_PUNCT = str.maketrans("", "", string.punctuation)


@dataclass(frozen=True)
class GradeItem:
    question: str
    gold: str
    answer: str
    # what the answer was made from, kept with it in the store (few-shot: each view's answer and the
    # vote); graders never read it
    detail: dict | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Verdict:
    correct: bool
    reason: str


class GraderFailure(RuntimeError):
    """The grader could not produce verdicts (e.g. the judge server keeps failing)."""


class Grader(Protocol):
    name: str

    def grade(self, items: Sequence[GradeItem]) -> list[Verdict]: ...


def normalize(text: str) -> str:
    """SQuAD-style normalization: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def strip_label(answer: str) -> str:
    """An answer without a leading "Answer:" label, which chat models often write."""
    return _LABEL.sub("", answer, count=1)


def token_f1(gold: str, answer: str) -> float:
    g, a = normalize(gold).split(), normalize(strip_label(answer)).split()
    if not g or not a:
        return float(g == a)
    common = Counter(g) & Counter(a)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(a), same / len(g)
    return 2 * precision * recall / (precision + recall)


class ExactGrader:
    name = "exact"

    def grade(self, items: Sequence[GradeItem]) -> list[Verdict]:
        out = []
        for it in items:
            ok = normalize(strip_label(it.answer)) == normalize(it.gold) and normalize(it.gold) != ""
            out.append(Verdict(ok, "exact match" if ok else "differs from gold"))
        return out


class ContainsGrader:
    name = "contains"

    def grade(self, items: Sequence[GradeItem]) -> list[Verdict]:
        out = []
        for it in items:
            gold, ans = normalize(it.gold), normalize(strip_label(it.answer))
            ok = bool(gold) and re.search(rf"(?:^| ){re.escape(gold)}(?: |$)", ans) is not None
            out.append(Verdict(ok, "gold found in answer" if ok else "gold not in answer"))
        return out


class F1Grader:
    name = "f1"

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def grade(self, items: Sequence[GradeItem]) -> list[Verdict]:
        out = []
        for it in items:
            score = token_f1(it.gold, it.answer)
            ok = score >= self.threshold
            out.append(Verdict(ok, f"F1 {score:.2f} {'>=' if ok else '<'} {self.threshold:g}"))
        return out

