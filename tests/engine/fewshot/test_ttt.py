"""Test-time training data: leave-one-out and leave-two-out tasks, the plan's augmentations,
the cap, the step budget, and (prompt, completion) pairs whose completion is the query output."""

from __future__ import annotations

import pytest

from engine.tasks.fewshot import ttt
from engine.tasks.fewshot.arc import ArcTask, Example
from engine.tasks.fewshot.grids import CHAT
from engine.tasks.fewshot.plan import Plan
from engine.tasks.fewshot.prompts import CHAT_LAYOUT, COMPACT_LAYOUT

NO_AUG = Plan(False, False, False, False, "train_using_output_tokens", 1e-4, 2)
ALL_AUG = Plan(True, True, True, True, "train_using_all_tokens", 1e-4, 2)


def make_task(n_demos: int, same: bool = False) -> ArcTask:
    """Demonstrations of distinct 2x3 grids; the rule is flip left-right (or identity when ``same``)."""
    demos = []
    for i in range(n_demos):
        g = ((i % 10, 1, 0), (2, 0, (i + 3) % 10))
        demos.append(Example(g, g if same else tuple(r[::-1] for r in g)))
    return ArcTask("synthetic", tuple(demos), (((5, 0, 0), (0, 0, 6)),), (((0, 0, 5), (6, 0, 0)),))


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_leave_one_out_and_leave_two_out_counts(n):
    train = make_task(n).train
    loo = ttt.leave_one_out(train)
    assert len(loo) == n and all(len(t.demonstrations) == n - 1 for t in loo)
    assert [t.query for t in loo] == list(train)                      # each demonstration once the query
    assert all(t.query not in t.demonstrations for t in loo)
    l2o = ttt.leave_out(train, 2)
    assert len(l2o) == n * (n - 1) and all(len(t.demonstrations) == n - 2 for t in l2o)


def test_without_augmentations_the_data_is_the_left_out_tasks_and_their_reorderings():
    task = make_task(4)
    tasks = ttt.ttt_tasks(task, NO_AUG, seed=0)
    initial = set(ttt.leave_out(task.train, 1) + ttt.leave_out(task.train, 2))
    assert initial <= set(tasks)
    assert len(tasks) <= 2 * len(initial) and len(tasks) == len(set(tasks))
    # no colour permutation without augmentations (as the reference): every query is a demonstration
    assert {t.query for t in tasks} == set(task.train)


def test_augmentations_are_capped_at_250_deterministically_by_seed():
    task = make_task(5)
    a, b = ttt.ttt_tasks(task, ALL_AUG, seed=3), ttt.ttt_tasks(task, ALL_AUG, seed=3)
    assert a == b and len(a) == ttt.MAX_TTT_EXAMPLES == 250
    assert ttt.ttt_tasks(task, ALL_AUG, seed=4) != a
    assert len(ttt.ttt_tasks(task, ALL_AUG, seed=0, cap=40)) == 40
    assert all(t.max_side() <= 30 for t in a)


def test_every_training_task_applies_one_transform_to_all_its_grids():
    # with an identity rule, any view or colour permutation of the whole task keeps output == input
    tasks = ttt.ttt_tasks(make_task(4, same=True), ALL_AUG, seed=1, cap=10_000)
    assert len(tasks) > 100
    assert all(e.input == e.output for t in tasks for e in (*t.demonstrations, t.query))
    assert len({t.query.input for t in tasks}) > 20                 # views and colours made new grids


def test_upscales_that_would_pass_30x30_are_left_out():
    big = tuple(tuple((r + c) % 10 for c in range(20)) for r in range(20))
    task = ArcTask("big", (Example(big, big), Example(big[::-1], big[::-1])), (big,), (big,))
    tasks = ttt.ttt_tasks(task, Plan(False, True, False, False, "train_using_all_tokens", 1e-4, 1), cap=10_000)
    assert tasks and all(t.max_side() == 20 for t in tasks)


@pytest.mark.parametrize("layout", [CHAT_LAYOUT, COMPACT_LAYOUT])
def test_a_training_pair_is_the_context_and_query_input_then_the_query_output(layout):
    task = make_task(3)
    t = ttt.leave_one_out(task.train)[0]
    prompt, completion = ttt.training_pairs([t], layout)[0]
    assert layout.parse(completion) == t.query.output
    assert prompt.endswith(layout.query(t.query.input))
    assert prompt.count(layout.input_label) == 3                       # two in context, one query


def test_the_chat_prompt_shows_each_grid_one_row_a_line():
    prompt, completion = ttt.training_pairs([ttt.leave_one_out(make_task(2).train)[1]], CHAT_LAYOUT)[0]
    assert "Input:\n0 1 0\n2 0 3\nOutput:\n0 1 0\n3 0 2\n\nInput:\n1 1 0\n2 0 4\nOutput:\n" in prompt
    assert CHAT.parse(completion) == ((0, 1, 1), (4, 0, 2))


def test_the_step_budget_refuses_what_the_reference_refuses():
    assert ttt.ttt_steps(250, 3) == 375
    assert ttt.check_budget(250, 3) is None
    reason = ttt.check_budget(250, 4)
    assert reason == "4 epochs x 250 examples is 500 steps at batch 2, over the budget of 375"
    assert ttt.check_budget(0, 1) == "the plan makes no training examples from this task"
    assert ttt.check_budget(100, 10, max_steps=1000) is None


def test_pairs_too_long_are_dropped_whole_and_counted():
    pairs = [("p" * n, "c") for n in (5, 50, 10)]
    kept, dropped = ttt.drop_too_long(pairs, len, max_tokens=20)
    assert kept == [pairs[0], pairs[2]] and dropped == 1


def test_a_self_edit_is_checked_for_its_schema_then_for_the_step_budget_on_this_task():
    task = make_task(5)
    fits = ALL_AUG.to_text()                                     # 250 examples x 2 epochs = 250 steps
    assert ttt.check_self_edit(task, fits) is None
    too_long = fits.replace('"num_train_epochs": 2', '"num_train_epochs": 4')
    assert ttt.check_self_edit(task, too_long) == "4 epochs x 250 examples is 500 steps at batch 2, over the budget of 375"
    assert ttt.check_self_edit(task, "{}") == "\"data_generation\" must be an object with " + ", ".join(
        ["use_basic_augmentations", "use_size_augmentations", "use_chain_augmentations", "use_repeat_augmentations"])
    # few demonstrations and no augmentation: many epochs still fit
    small = NO_AUG.to_text().replace('"num_train_epochs": 2', '"num_train_epochs": 20')
    assert ttt.check_self_edit(make_task(2), small) is None
