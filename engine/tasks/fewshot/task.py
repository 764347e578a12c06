"""Few-shot learning on ARC behind the ``Task`` interface: SEAL's second experiment.

A context is an ARC task (``data``); a self-edit is a JSON plan (``plan``) that the E-step
resamples while it does not parse or its training would pass the step (or character) budget. The inner loop
trains a fresh LoRA on the plan's test-time training data (``ttt``: leave-one-out and
leave-two-out tasks and their augmentations; output tokens only -> prompt/completion pairs,
all tokens -> whole sequences) at the plan's learning rate and epochs, then answers each test
input under several views; the answers are mapped back and voted on (``vote``), and a test
output is correct when one of its attempts is the gold grid. Reward 1 when every test output
is. Held out: in context only, the hand-set oracle plan (``[fewshot] oracle_*``), and the
policy's own plans, several per task (the success rate over tasks x self-edits).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine import events as ev
from engine import seeds
from engine.adaptation import Adaptation
from engine.config import ConfigError
from engine.graders import GradeItem, Verdict
from engine.tasks.base import DataError, Labels, Task
from engine.tasks.fewshot import ttt
from engine.tasks.fewshot.arc import MAX_SIDE, ArcTask, Grid
from engine.tasks.fewshot.data import load_run_tasks, to_context
from engine.tasks.fewshot.grids import GridFormat
from engine.tasks.fewshot.plan import Plan, PlanError, json_schema, parse_plan
from engine.tasks.fewshot.prompts import LAYOUTS, self_edit_prompt
from engine.tasks.fewshot.views import DIHEDRAL, NotInvertible, transpose
from engine.tasks.fewshot.vote import EvalQuery, best_attempt, eval_queries, vote

# where an answer ends: a chat grid is lines (a blank line or the eos after it ends it); a compact
# grid is one word on one line (None: the first line break)
ANSWER_STOP = {"chat": "\n\n", "compact": None}
# what a candidate's record keeps of its training data: a summary line and the first examples
SHOWN_EXAMPLES = 2


def _rows(grid: Grid | None) -> list[list[int]] | None:
    """A grid as JSON keeps it (lists of rows)."""
    return None if grid is None else [list(r) for r in grid]


class GridGrader:
    """Exact grid match: the answer and the gold read as grids in the run's format and compared cell by cell."""

    name = "grid"

    def __init__(self, fmt: GridFormat):
        self.fmt = fmt

    def grade(self, items: Sequence[GradeItem]) -> list[Verdict]:
        out = []
        for it in items:
            gold, got = self.fmt.parse(it.gold), self.fmt.parse(it.answer) if it.answer else None
            if got is None or gold is None:
                out.append(Verdict(False, "no grid answered"))
            elif got == gold:
                out.append(Verdict(True, "exact grid match"))
            elif (len(got), len(got[0])) != (len(gold), len(gold[0])):
                out.append(Verdict(False, f"{len(got)}x{len(got[0])} grid, gold is {len(gold)}x{len(gold[0])}"))
            else:
                wrong = sum(a != b for ra, rb in zip(got, gold) for a, b in zip(ra, rb))
                out.append(Verdict(False, f"{wrong} of {len(gold) * len(gold[0])} cells differ"))
        return out


class FewShotTask(Task):
    name = "fewshot"
    labels = Labels(**ev.FEWSHOT_LABELS)

    def __init__(self, cfg):
        super().__init__(cfg)
        fs = cfg.fewshot
        self.layout = LAYOUTS[fs.grid_format]
        self.resample_limit = fs.resample  # an instance's own (the ClassVar is the default)
        unknown = [v for v in fs.eval_views if v not in DIHEDRAL or v == "identity"]
        if unknown:
            names = " ".join(v for v in DIHEDRAL if v != "identity")
            raise ConfigError(f"fewshot.eval_views: unknown view {', '.join(map(repr, unknown))}; "
                              f"choose among {names} (identity is always asked)")
        self.oracle = Plan(fs.oracle_basic, fs.oracle_size, fs.oracle_chain, fs.oracle_repeat, fs.oracle_strategy,
                           fs.oracle_lr, fs.oracle_epochs)
        try:
            parse_plan(self.oracle.to_text())
        except PlanError as exc:
            raise ConfigError(f"fewshot.oracle_*: the oracle plan is not a valid plan ({exc})") from None
        self._tasks: dict[str, ArcTask] = {}                   # by task id
        self._queries: dict[str, list[EvalQuery]] = {}
        self._ttt_size: dict[tuple[str, tuple[str, ...]], tuple[int, int]] = {}  # (task id, plan families) ->
        # (TTT examples, their characters as the prompts write them)
        self._answer_tokens = self._grid_chars(MAX_SIDE, MAX_SIDE)

    # ------------------------------------------------------------ contexts
    def load_contexts(self) -> tuple[list[dict], list[dict]]:
        train, heldout = load_run_tasks(self.cfg.data, self.cfg.fewshot, self.cfg.run.seed)
        for t in (*train, *heldout):
            self._tasks[t.task_id] = t
        grids = [g for t in (*train, *heldout) for e in t.train for g in (e.input, e.output)]
        grids += [g for t in (*train, *heldout) for g in (*t.test_inputs, *t.test_outputs)]
        self._answer_tokens = max(self._grid_chars(len(g), len(g[0])) for g in grids)
        train_ctx = [to_context(t, self.layout, "train") for t in train]
        heldout_ctx = [to_context(t, self.layout, "heldout") for t in heldout]
        for ctx in heldout_ctx:
            why = self.check_self_edit(ctx, self.oracle.to_text())
            if why:
                raise DataError(f"held-out task {ctx['title']}: the oracle plan (fewshot.oracle_*) fails on it ({why}); "
                                "lower fewshot.oracle_epochs, raise fewshot.max_steps (or fewshot.max_train_chars) or hold out another task")
        return train_ctx, heldout_ctx

    def _task(self, ctx: dict) -> ArcTask:
        task = self._tasks.get(ctx["title"])
        if task is None:  # a context made elsewhere (a test, a stored context): its raw grids
            task = self._tasks[ctx["title"]] = ArcTask.from_dict(ctx["arc"])
        return task

    def _seed(self, ctx: dict) -> int:
        """run.seed for a training task, eval.seed for a held-out one (the same instrument every round)."""
        return self.cfg.eval.seed if ctx.get("_split") == "heldout" else self.cfg.run.seed

    def _grid_chars(self, h: int, w: int) -> int:
        """Characters of an h x w grid written in the run's format, either way round (a bound on its tokens)."""
        grid = tuple(tuple(0 for _ in range(w)) for _ in range(h))
        return max(len(self.layout.grid.render(grid)), len(self.layout.grid.render(transpose(grid))))

    # ------------------------------------------------------------ E-step
    def self_edit_prompt(self, ctx: dict) -> str:
        return self_edit_prompt(self._task(ctx), self.layout)

    def check_self_edit(self, ctx: dict, text: str) -> str | None:
        """A plan that parses and whose training fits the budget (``ttt.check_budget``) on this task's data."""
        try:
            plan = parse_plan(text)
        except PlanError as exc:
            return str(exc)
        key = (ctx["title"], plan.families)
        if key not in self._ttt_size:
            pairs = ttt.training_pairs(self._ttt_tasks(ctx, plan), self.layout)
            self._ttt_size[key] = len(pairs), sum(len(p) + len(c) for p, c in pairs)
        n, chars = self._ttt_size[key]
        batch = self.cfg.inner.batch_size or max(n, 1)  # 0: the whole data is one batch
        fs = self.cfg.fewshot
        return ttt.check_budget(n, plan.num_train_epochs, batch_size=batch, max_steps=fs.max_steps, chars=chars,
                                max_chars=fs.max_train_chars)

    def describe_self_edit(self, text: str) -> dict:
        """The plan in a line (``basic+size · out · lr 1e-4 · 3 ep``) and its choices as facets
        (the augmentation families switched on, and the tokens trained on); an unusable plan: none."""
        try:
            plan = parse_plan(text)
        except PlanError:
            return {}
        return {"summary": plan.label(), "facets": [*plan.families, "output tokens" if plan.output_tokens_only
                                                     else "all tokens"]}

    def self_edit_schema(self) -> dict | None:
        return json_schema()

    # ------------------------------------------------------------ inner loop
    def _ttt_tasks(self, ctx: dict, plan: Plan) -> list[ttt.InContextTask]:
        task = self._task(ctx)
        return ttt.ttt_tasks(task, plan, seed=seeds.ttt_data(self._seed(ctx), task.task_id), cap=self.cfg.fewshot.ttt_cap)

    def adaptation(self, ctx: dict, self_edit: str) -> Adaptation:
        plan = parse_plan(self_edit)
        pairs = ttt.training_pairs(self._ttt_tasks(ctx, plan), self.layout)
        # all tokens: the same pairs, rendered as the queries are, with the loss on the prompt too
        return Adaptation([], pairs=pairs, lr=plan.learning_rate, epochs=plan.num_train_epochs,
                          prompt_loss=not plan.output_tokens_only)

    def reference_adaptation(self, ctx: dict) -> Adaptation:
        return self.adaptation(ctx, self.oracle.to_text())

    def shown_training(self, adaptation: Adaptation) -> list[str]:
        tokens = "all tokens" if adaptation.prompt_loss else "output tokens"
        head = f"{len(adaptation.pairs)} test-time training examples, loss on {tokens}"
        return [head, *(p + c for p, c in adaptation.pairs[:SHOWN_EXAMPLES])]

    # ------------------------------------------------------------ reward
    def _eval_queries(self, ctx: dict) -> list[EvalQuery]:
        if ctx["title"] not in self._queries:
            fs, task = self.cfg.fewshot, self._task(ctx)
            self._queries[ctx["title"]] = eval_queries(
                task, self.layout, seed=seeds.eval_views(self._seed(ctx), task.task_id), leave=fs.eval_leave,
                permutations=fs.eval_permutations, views=fs.eval_views)
        return self._queries[ctx["title"]]

    def queries(self, ctx: dict) -> list[str]:
        return [q.prompt for q in self._eval_queries(ctx)]

    def _read(self, query: EvalQuery, text: str) -> Grid | None:
        """An answer as a grid in the task's own orientation (None: no grid, or not one the view makes)."""
        grid = self.layout.parse(text)
        if grid is None:
            return None
        try:
            return DIHEDRAL[query.view].invert(grid)
        except NotInvertible:
            return None

    def grade_items(self, ctx: dict, answers: Sequence[str]) -> list[GradeItem]:
        """One item per test output: the attempt that is the gold grid where one is (else the first),
        with the grids, each view's answer and the attempts as its detail (``engine.events.GridDetail``)."""
        task, queries, fmt = self._task(ctx), self._eval_queries(ctx), self.layout.grid
        views: list[list[dict]] = [[] for _ in task.test_inputs]
        read: list[list[tuple[str, Grid]]] = [[] for _ in task.test_inputs]
        for q, text in zip(queries, answers, strict=True):
            grid = self._read(q, text)
            views[q.test_index].append({"view": q.view, "demos": list(q.demonstrations), "answer": text,
                                        "grid": _rows(grid)})
            if grid is not None:
                read[q.test_index].append((q.view, grid))
        items = []
        for k, (question, gold) in enumerate(zip(ctx["questions"], task.test_outputs)):
            tries = vote(read[k], self.cfg.fewshot.attempts)
            best = best_attempt(tries, gold)
            detail = {"input": _rows(task.test_inputs[k]), "gold": _rows(gold), "answer": _rows(best),
                      "attempts": [_rows(t) for t in tries], "views": views[k]}
            items.append(GradeItem(question["question"], fmt.render(gold), "" if best is None else fmt.render(best),
                                   detail=detail))
        return items

    def make_grader(self, store=None, run_id: str | None = None) -> GridGrader:
        return GridGrader(self.layout.grid)

    def reward(self, ctx: dict, verdicts: Sequence[Verdict]) -> float:
        """1 when every test output is solved (the paper's few-shot reward), else 0."""
        return 1.0 if verdicts and all(v.correct for v in verdicts) else 0.0

    def answer_max_tokens(self) -> int | None:
        return self._answer_tokens + 2  # the grid, then its end (a blank line or eos)

    def answer_stop(self) -> str | None:
        return ANSWER_STOP[self.cfg.fewshot.grid_format]

    # ------------------------------------------------------------ held-out evaluation
    def heldout_self_edits(self) -> int:
        return self.cfg.fewshot.heldout_self_edits

    def heldout_tally(self, ctx: dict, correct: Sequence[bool]) -> tuple[int, int]:
        """A task counts once: solved when every test output is."""
        return int(bool(correct) and all(correct)), 1
