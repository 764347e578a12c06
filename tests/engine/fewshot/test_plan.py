"""The self-edit plan: a sampled config is read through the words around it, held strictly
to the schema (each refusal a reason the console shows), and labelled compactly."""

from __future__ import annotations

import json

import pytest

from engine.tasks.fewshot.plan import Plan, PlanError, check_plan, parse_plan, short_float

VALID = {"data_generation": {"use_basic_augmentations": True, "use_size_augmentations": True,
                             "use_chain_augmentations": False, "use_repeat_augmentations": False},
         "training": {"strategy": "train_using_output_tokens", "learning_rate": 1e-4, "num_train_epochs": 3}}


def with_(path: str, value):
    obj = json.loads(json.dumps(VALID))
    *parents, key = path.split(".")
    node = obj
    for p in parents:
        node = node[p]
    node[key] = value
    return json.dumps(obj)


def test_a_valid_plan_parses_and_gets_the_compact_label():
    plan = parse_plan(json.dumps(VALID))
    assert plan == Plan(True, True, False, False, "train_using_output_tokens", 1e-4, 3)
    assert plan.families == ("basic", "size")
    assert plan.output_tokens_only
    assert plan.label() == "basic+size · out · lr 1e-4 · 3 ep"
    assert parse_plan(plan.to_text()) == plan


def test_words_and_code_fences_around_the_json_are_tolerated():
    text = "Here is my configuration:\n```json\n" + json.dumps(VALID, indent=2) + "\n```\nGood luck {!}"
    assert parse_plan(text).num_train_epochs == 3
    assert check_plan("{not json} then " + json.dumps(VALID)) is None


@pytest.mark.parametrize(("text", "reason"), [
    ("I would train for a while.", "no JSON object"),
    (with_("training.batch_size", 2), "unknown key batch_size in \"training\""),
    (json.dumps({**VALID, "notes": "x"}), "unknown key notes"),
    (with_("data_generation.use_basic_augmentations", "true"), "use_basic_augmentations must be true or false"),
    (with_("data_generation.use_size_augmentations", 1), "must be true or false, not 1"),
    (with_("training.strategy", "train_using_some_tokens"), "strategy must be"),
    (with_("training.learning_rate", "1e-4"), "learning_rate must be a number"),
    (with_("training.learning_rate", True), "learning_rate must be a number"),
    (with_("training.learning_rate", 5.0), "learning_rate 5 is outside"),
    (with_("training.learning_rate", 0), "learning_rate 0 is outside"),
    (with_("training.num_train_epochs", 2.5), "num_train_epochs must be an integer, not 2.5"),
    (with_("training.num_train_epochs", 0), "num_train_epochs must be at least 1"),
    (with_("training", [1]), "\"training\" must be an object"),
    (json.dumps({"data_generation": VALID["data_generation"]}), "\"training\" must be an object"),
    (with_("training.learning_rate", float("nan")), "learning_rate must be a number"),  # json reads NaN
])
def test_a_plan_off_the_schema_is_refused_with_its_reason(text, reason):
    with pytest.raises(PlanError, match=reason.replace("(", r"\(")):
        parse_plan(text)
    assert reason in check_plan(text)


def test_a_missing_key_is_named():
    obj = json.loads(json.dumps(VALID))
    del obj["data_generation"]["use_chain_augmentations"]
    assert check_plan(json.dumps(obj)) == "\"data_generation\" lacks use_chain_augmentations"


def test_labels_say_all_tokens_and_no_augmentation_in_few_characters():
    plan = parse_plan(with_("data_generation.use_basic_augmentations", False).replace(
        "use_size_augmentations\": true", "use_size_augmentations\": false").replace(
        "train_using_output_tokens", "train_using_all_tokens"))
    assert plan.label() == "no aug · all · lr 1e-4 · 3 ep"
    assert [short_float(x) for x in (0.0025, 1e-3, 3e-5, 9.999e-5, 0.1)] == ["2.5e-3", "1e-3", "3e-5", "1e-4", "1e-1"]
