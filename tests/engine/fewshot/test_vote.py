"""Evaluation by voting: queries under invertible views, answers mapped back, two attempts,
and the reward (1 when every test output is among its attempts)."""

from __future__ import annotations

import pytest

from engine.tasks.fewshot import vote as V
from engine.tasks.fewshot.arc import ArcTask, Example
from engine.tasks.fewshot.prompts import CHAT_LAYOUT, COMPACT_LAYOUT
from engine.tasks.fewshot.views import DIHEDRAL

A = ((1, 2), (3, 4))
B = ((4, 3), (2, 1))
C = ((0, 0), (0, 5))


def fliplr(g):
    return tuple(r[::-1] for r in g)


def make_task(n_demos: int = 3, tests=(((5, 0, 1), (0, 2, 0)),)) -> ArcTask:
    """Rule: flip left-right. Asymmetric grids, so every view gives a different prompt."""
    demos = tuple(Example(g, fliplr(g)) for g in (((i, 1, 0), (2, 0, 3)) for i in range(n_demos)))
    return ArcTask("flip", demos, tuple(tests), tuple(fliplr(t) for t in tests))


def perfect_answers(task, queries, layout):
    """What a model that knows the rule writes for each query: the gold output in the query's view."""
    return [layout.grid.render(DIHEDRAL[q.view](task.test_outputs[q.test_index])) for q in queries]


def test_queries_cover_the_leave_one_out_variants_and_the_five_views():
    task = make_task(3)
    qs = V.eval_queries(task, CHAT_LAYOUT, seed=0)
    assert {q.view for q in qs} == {"identity", *V.EVAL_VIEWS}
    identity = [q for q in qs if q.view == "identity"]
    assert {frozenset(q.demonstrations) for q in identity} == {frozenset({0, 1}), frozenset({0, 2}), frozenset({1, 2})}
    assert len({q.prompt for q in qs}) == len(qs)
    for q in qs:
        assert q.prompt.endswith(CHAT_LAYOUT.query(DIHEDRAL[q.view](task.test_inputs[0])))
    assert V.eval_queries(task, CHAT_LAYOUT, seed=0) == qs                 # seeded


def test_a_single_demonstration_is_shown_rather_than_left_out():
    qs = V.eval_queries(make_task(1), CHAT_LAYOUT)
    assert all(q.demonstrations == (0,) for q in qs)


@pytest.mark.parametrize("layout", [CHAT_LAYOUT, COMPACT_LAYOUT])
def test_answers_given_in_each_view_are_mapped_back_and_solve_the_task(layout):
    task = make_task(4)
    qs = V.eval_queries(task, layout, seed=2)
    tries = V.attempts(task, qs, perfect_answers(task, qs, layout), layout)
    assert tries == [(task.test_outputs[0],)]
    assert V.solved(task, tries) and V.reward(task, tries) == 1.0


def test_two_attempts_are_the_two_most_voted_grids():
    answers = [("identity", A)] * 3 + [("transpose", B)] * 2 + [("flip_rows", C)]
    assert V.vote(answers) == (A, B)
    task = ArcTask("t", make_task().train, (A,), (B,))
    assert V.reward(task, [V.vote(answers)]) == 1.0                       # the second attempt counts
    assert V.reward(ArcTask("t", make_task().train, (A,), (C,)), [V.vote(answers)]) == 0.0


def test_a_grid_many_views_agree_on_beats_one_repeated_in_a_single_view():
    # B is named a candidate by the "all" group and by three views; A only by "all" and identity
    answers = [("identity", A)] * 4 + [("transpose", B), ("flip_rows", B), ("rot90", B)]
    assert V.vote(answers)[0] == B


def test_ties_go_to_the_grid_more_identity_answers_gave():
    answers = [("transpose", A), ("identity", B), ("flip_rows", A), ("flip_rows", B)]
    assert V.vote(answers) == (B, A)


def test_unparseable_and_non_invertible_answers_drop_out_and_no_answer_scores_zero():
    task = make_task(3)
    qs = V.eval_queries(task, CHAT_LAYOUT)
    per_test = V.answers_by_test(qs, ["no idea"] * len(qs), CHAT_LAYOUT, 1)
    assert per_test == [[]]
    tries = V.attempts(task, qs, ["1 2\n3"] * len(qs), CHAT_LAYOUT)       # ragged everywhere
    assert tries == [()] and V.reward(task, tries) == 0.0


def test_every_test_output_must_be_solved():
    task = make_task(3, tests=(((5, 0, 1), (0, 2, 0)), ((7, 7, 0),)))
    qs = V.eval_queries(task, CHAT_LAYOUT)
    assert {q.test_index for q in qs} == {0, 1}
    answers = perfect_answers(task, qs, CHAT_LAYOUT)
    assert V.reward(task, V.attempts(task, qs, answers, CHAT_LAYOUT)) == 1.0
    wrong_second = [a if q.test_index == 0 else "9" for q, a in zip(qs, answers)]
    tries = V.attempts(task, qs, wrong_second, CHAT_LAYOUT)
    assert tries[0] == (task.test_outputs[0],) and V.reward(task, tries) == 0.0


def test_the_graded_attempt_is_the_gold_one_when_either_matches():
    assert V.best_attempt((A, B), B) == B
    assert V.best_attempt((A, B), C) == A
    assert V.best_attempt((), C) is None
