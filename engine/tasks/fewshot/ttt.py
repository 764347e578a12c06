"""Test-time training data: what a fresh LoRA learns from a task's demonstrations under a plan.

As the reference does (few-shot/self-edit.py, ``get_test_time_train_data`` and ``process_task``):
1. leave-one-out and leave-two-out tasks: each demonstration in turn is the query, the
   others (less one more, for leave-two-out) are its in-context examples;
2. every view of the plan's augmentation families applied to each, where the grids stay
   within 30x30, kept beside the unaugmented tasks;
3. one more copy of each with its colours permuted (background kept; only when the plan
   has augmentations) and its in-context examples in a random order;
4. duplicates dropped, then at most ``cap`` (250) of them after a seeded shuffle.
Each becomes a (prompt, completion) pair: the in-context examples and the query input, then
the query output. The reference's set()-based dedup has no stable order; here the order is
first-seen, so a seed gives the same data in every process.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

from engine.tasks.fewshot.arc import MAX_SIDE, ArcTask, Example
from engine.tasks.fewshot.plan import Plan, PlanError, parse_plan
from engine.tasks.fewshot.prompts import Layout
from engine.tasks.fewshot.views import View, augmentation_families, colour_permutation, colour_view

MAX_TTT_EXAMPLES = 250      # the reference's Nmax
TTT_BATCH_SIZE = 2          # the reference's per-device batch
MAX_TTT_STEPS = 375         # the reference refuses a config needing more optimizer steps than this
LEAVE_OUT = (1, 2)          # leave-one-out and leave-two-out


@dataclass(frozen=True)
class InContextTask:
    """Demonstrations shown in context, and the query the model must answer from them."""

    demonstrations: tuple[Example, ...]
    query: Example

    def view(self, v: View) -> InContextTask:
        """The same task with ``v`` applied to every grid (the rule still holds in the view)."""
        see = lambda e: Example(v(e.input), v(e.output))
        return InContextTask(tuple(see(e) for e in self.demonstrations), see(self.query))

    def max_side(self) -> int:
        grids = [g for e in (*self.demonstrations, self.query) for g in (e.input, e.output)]
        return max(max(len(g), len(g[0])) for g in grids)


def leave_out(train: Sequence[Example], n: int = 1) -> list[InContextTask]:
    """Each demonstration as the query with n-1 more left out of its context: N * C(N-1, n-1) tasks."""
    tasks = []
    for i, query in enumerate(train):
        others = [j for j in range(len(train)) if j != i]
        for dropped in combinations(others, n - 1):
            kept = tuple(train[j] for j in others if j not in dropped)
            tasks.append(InContextTask(kept, query))
    return tasks


def leave_one_out(train: Sequence[Example]) -> list[InContextTask]:
    return leave_out(train, 1)


def permute_demonstrations(t: InContextTask, rng: random.Random) -> InContextTask:
    order = list(t.demonstrations)
    rng.shuffle(order)
    return InContextTask(tuple(order), t.query)


def augmented_tasks(initial: Sequence[InContextTask], views: Sequence[View], rng: random.Random) -> list[InContextTask]:
    """Steps 2-3 above for one leave-n set; first-seen order, no duplicates."""
    viewed = [vt for v in views for t in initial
              if (vt := t.view(v)).max_side() <= MAX_SIDE]  # an upscale may pass ARC's 30x30
    base = list(dict.fromkeys([*viewed, *initial]))
    recoloured = []
    for t in base:
        if views:  # the reference permutes colours only when the plan has augmentations
            t = t.view(colour_view(colour_permutation(rng)))
        recoloured.append(permute_demonstrations(t, rng))
    return list(dict.fromkeys([*recoloured, *base]))


def ttt_tasks(task: ArcTask, plan: Plan, *, seed: int = 0, cap: int = MAX_TTT_EXAMPLES,
              leave: Sequence[int] = LEAVE_OUT) -> list[InContextTask]:
    """The in-context tasks a plan trains on for ``task`` (steps 1-4 above)."""
    rng = random.Random(seed)
    families = augmentation_families(rng)
    views = [v for name in plan.families for v in families[name]]
    out: list[InContextTask] = []
    for n in leave:
        if n <= len(task.train):
            out += augmented_tasks(leave_out(task.train, n), views, rng)
    out = list(dict.fromkeys(out))
    if len(out) > cap:
        rng.shuffle(out)
        out = out[:cap]
    return out


def training_pairs(tasks: Sequence[InContextTask], layout: Layout) -> list[tuple[str, str]]:
    """(prompt, completion) per task: ``train_using_output_tokens`` puts the loss on the completion,
    ``train_using_all_tokens`` on both."""
    return [(layout.prompt(t.demonstrations, t.query.input), layout.completion(t.query.output)) for t in tasks]


def ttt_steps(n_examples: int, epochs: int, batch_size: int = TTT_BATCH_SIZE) -> int:
    """Optimizer steps as the reference counts them (epochs x examples // batch)."""
    return epochs * n_examples // batch_size


def check_budget(n_examples: int, epochs: int, *, batch_size: int = TTT_BATCH_SIZE,
                 max_steps: int = MAX_TTT_STEPS, chars: int = 0, max_chars: int = 0) -> str | None:
    """None when the training fits the budget, else the reason (the config is refused, as in the
    reference): at most ``max_steps`` optimizer steps and, where ``max_chars`` is set, at most that
    many characters read (epochs x ``chars``, the characters of the examples as the prompts write them)."""
    if n_examples == 0:
        return "the plan makes no training examples from this task"
    steps = ttt_steps(n_examples, epochs, batch_size)
    if steps > max_steps:
        return (f"{epochs} epochs x {n_examples} examples is {steps} steps at batch {batch_size}, "
                f"over the budget of {max_steps}")
    if max_chars and epochs * chars > max_chars:
        return (f"{epochs} epochs x {chars} characters of examples is {epochs * chars} characters of training, "
                f"over fewshot.max_train_chars = {max_chars}")
    return None


def check_self_edit(task: ArcTask, text: str, *, seed: int = 0, cap: int = MAX_TTT_EXAMPLES,
                    batch_size: int = TTT_BATCH_SIZE, max_steps: int = MAX_TTT_STEPS) -> str | None:
    """None when ``text`` is a plan whose training on ``task`` fits the step budget, else the reason
    (``Task.check_self_edit``; counted before any example is dropped for length, so never too lenient)."""
    try:
        plan = parse_plan(text)
    except PlanError as exc:
        return str(exc)
    n = len(ttt_tasks(task, plan, seed=seed, cap=cap))
    return check_budget(n, plan.num_train_epochs, batch_size=batch_size, max_steps=max_steps)


def drop_too_long(pairs: Sequence[tuple[str, str]], n_tokens: Callable[[str], int],
                  max_tokens: int) -> tuple[list[tuple[str, str]], int]:
    """The pairs that fit ``max_tokens`` whole, and how many were dropped (never cut: a cut grid
    teaches a wrong shape)."""
    kept = [p for p in pairs if n_tokens(p[0] + p[1]) <= max_tokens]
    return kept, len(pairs) - len(kept)
