"""The self-edit prompt shows the policy every demonstration and the plan's schema; the
TTT/evaluation layouts put the query input last, where the output grid begins."""

from __future__ import annotations

from engine.tasks.fewshot.arc import ArcTask, Example
from engine.tasks.fewshot.plan import SWITCHES, TRAINING_KEYS, check_plan
from engine.tasks.fewshot.prompts import CHAT_LAYOUT, COMPACT_LAYOUT, SELF_EDIT_REQUEST, self_edit_prompt

TASK = ArcTask("t", (Example(((1, 0),), ((0, 1),)), Example(((2, 0), (0, 0)), ((0, 2), (0, 0)))),
               (((3, 0),),), (((0, 3),),))


def test_the_self_edit_prompt_shows_every_demonstration_and_every_schema_key():
    prompt = self_edit_prompt(TASK)
    assert "Input:\n1 0\nOutput:\n0 1\n" in prompt and "Input:\n2 0\n0 0\nOutput:\n0 2\n0 0\n" in prompt
    assert all(k in prompt for k in (*SWITCHES, *TRAINING_KEYS, "train_using_all_tokens", "train_using_output_tokens"))
    assert "3 0" not in prompt                                          # the test input is not the plan's business


def test_the_compact_layouts_short_request_still_names_every_schema_key():
    prompt = self_edit_prompt(TASK, COMPACT_LAYOUT)
    assert prompt.startswith("in 10 out 01\nin 20|00 out 02|00\n------")
    assert all(k in prompt for k in (*SWITCHES, *TRAINING_KEYS, "train_using_all_tokens", "train_using_output_tokens"))
    assert len(prompt) < len(self_edit_prompt(TASK)) / 2


def test_copying_the_prompts_placeholder_shape_is_not_a_plan():
    shape = SELF_EDIT_REQUEST[SELF_EDIT_REQUEST.index("{"):]
    assert check_plan(shape) == "no JSON object in the self-edit"


def test_the_compact_layout_is_one_word_a_grid():
    prompt = COMPACT_LAYOUT.prompt(TASK.train, TASK.test_inputs[0])
    assert prompt == "in 10 out 01\nin 20|00 out 02|00\nin 30 out "
    assert CHAT_LAYOUT.prompt([], ((5,),)).endswith("Input:\n5\nOutput:\n")
