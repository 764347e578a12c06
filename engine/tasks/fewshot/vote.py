"""Evaluation by voting: ask for each test output under several views, vote, two attempts.

As the reference does (few-shot/inference/preprocess.py ``get_leave_n_test_task`` and
arclib/voting.py ``vote``):
- prompt variants: the demonstrations with one left out (each in turn; a model trained on
  leave-one-out tasks sees the count it learned from), plus two random orders of each;
- views: every variant as it is, and transpose, both flips and two rotations each applied
  to one variant drawn at random (the whole task viewed, so the rule holds);
- each answer parsed and mapped back through its view's inverse (unparseable or
  non-invertible answers drop out);
- the vote: the three most frequent grids among all answers and among each view's answers
  are candidates; the two candidates named most often are the attempts (ties: more answers
  overall, then more identity-view answers, then the first seen). The reference also adds
  row- and column-majority grids when fewer than three grids were answered; here an attempt is
  always a grid some answer gave.
A task is solved when every test output is one of its attempts; the reward is 1.0 or 0.0.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from engine.tasks.fewshot.arc import ArcTask, Example, Grid
from engine.tasks.fewshot.prompts import Layout
from engine.tasks.fewshot.views import DIHEDRAL, NotInvertible

EVAL_VIEWS = ("transpose", "flip_rows", "flip_cols", "rot90", "rot180")  # the reference's five
N_ATTEMPTS = 2
CANDIDATES_PER_GROUP = 3


@dataclass(frozen=True)
class EvalQuery:
    """One prompt for one test input: which demonstrations in which order, under which view."""

    test_index: int
    view: str                       # a name of views.DIHEDRAL
    demonstrations: tuple[int, ...]  # indices into the task's demonstrations, in prompt order
    prompt: str


def prompt_variants(n_demos: int, leave: int, permutations: int, rng: random.Random) -> list[tuple[int, ...]]:
    """Orders of demonstration indices: each leave-``leave``-out subset, then random orders of it."""
    if leave >= n_demos:
        leave = 0  # a single demonstration cannot be left out: show it
    variants = []
    for dropped in combinations(range(n_demos), leave):
        kept = [i for i in range(n_demos) if i not in dropped]
        variants.append(tuple(kept))
        for _ in range(permutations):
            variants.append(tuple(rng.sample(kept, len(kept))))
    return list(dict.fromkeys(variants))


def eval_queries(task: ArcTask, layout: Layout, *, seed: int = 0, leave: int = 1, permutations: int = 2,
                 views: Sequence[str] = EVAL_VIEWS) -> list[EvalQuery]:
    """Every prompt to answer greedily for ``task``, test input by test input."""
    queries = []
    for k, test_input in enumerate(task.test_inputs):
        rng = random.Random(seed * 1_000_003 + k)
        variants = prompt_variants(len(task.train), leave, permutations, rng)
        prompts: dict[str, EvalQuery] = {}
        for order in variants:
            p = layout.prompt([task.train[i] for i in order], test_input)
            prompts.setdefault(p, EvalQuery(k, "identity", order, p))
        for name in views:
            v = DIHEDRAL[name]
            order = rng.choice(variants)
            demos = [Example(v(task.train[i].input), v(task.train[i].output)) for i in order]
            p = layout.prompt(demos, v(test_input))
            # a symmetric task looks the same in some views: the same prompt twice adds no vote
            prompts.setdefault(p, EvalQuery(k, name, order, p))
        queries += prompts.values()
    return queries


def answers_by_test(queries: Sequence[EvalQuery], answers: Sequence[str], layout: Layout,
                    n_tests: int) -> list[list[tuple[str, Grid]]]:
    """Per test input, (view, grid mapped back to the task's own orientation) of each usable answer."""
    out: list[list[tuple[str, Grid]]] = [[] for _ in range(n_tests)]
    for q, text in zip(queries, answers, strict=True):
        grid = layout.parse(text)
        if grid is None:
            continue
        try:
            out[q.test_index].append((q.view, DIHEDRAL[q.view].invert(grid)))
        except NotInvertible:
            continue
    return out


def _top(grids: Sequence[Grid], k: int) -> list[Grid]:
    # Counter keeps first-seen order among equal counts, and most_common sorts stably
    return [g for g, _ in Counter(grids).most_common(k)]


def vote(answers: Sequence[tuple[str, Grid]], n_attempts: int = N_ATTEMPTS) -> tuple[Grid, ...]:
    """The attempts for one test input from its (view, grid) answers (fewer when fewer grids were given)."""
    if not answers:
        return ()
    everything = [g for _, g in answers]
    groups = [everything] + [[g for v, g in answers if v == name] for name in dict.fromkeys(v for v, _ in answers)]
    candidates = [g for group in groups for g in _top(group, CANDIDATES_PER_GROUP)]
    named, total = Counter(candidates), Counter(everything)
    identity = Counter(g for v, g in answers if v == "identity")
    first = {g: i for i, g in reversed(list(enumerate(everything)))}
    ranked = sorted(named, key=lambda g: (-named[g], -total[g], -identity[g], first[g]))
    return tuple(ranked[:n_attempts])


def attempts(task: ArcTask, queries: Sequence[EvalQuery], answers: Sequence[str], layout: Layout,
             n_attempts: int = N_ATTEMPTS) -> list[tuple[Grid, ...]]:
    """The attempts for each test input of ``task`` from the answers to ``eval_queries``."""
    per_test = answers_by_test(queries, answers, layout, len(task.test_inputs))
    return [vote(a, n_attempts) for a in per_test]


def best_attempt(tries: Sequence[Grid], gold: Grid) -> Grid | None:
    """The attempt that is the gold grid when one is, else the first (what a grader compares)."""
    return gold if gold in tries else (tries[0] if tries else None)


def solved(task: ArcTask, tries: Sequence[Sequence[Grid]]) -> bool:
    """Every test output matched exactly by one of its attempts."""
    return len(tries) == len(task.test_outputs) and all(g in t for g, t in zip(task.test_outputs, tries))


def reward(task: ArcTask, tries: Sequence[Sequence[Grid]]) -> float:
    """The paper's few-shot reward: 1 if the adapted model solves the task, else 0."""
    return 1.0 if solved(task, tries) else 0.0
