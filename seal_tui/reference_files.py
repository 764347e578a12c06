"""Read and check the SEAL reference implementation's result files: what each becomes as a run.

Each file becomes one run with ``source = "imported"`` (written by
seal_tui.importers as the same events an engine run writes). The files (formats in
../shared/data/seal/README.md) and what each becomes:

What produced a file's numbers is read from its names (dataset file, file name, exp_name,
model: reference_plan.read_condition), as the reference names them: base / iter0 (the base
model's self-edits: round 0), iterN (the policy after N ReSTEM rounds: round N), gpt4_1
(GPT-4.1 writes the self-edits for the base model: the teacher condition, round 0), naive or
no self-edit at all (the passage only, round 0); alternate_prompts files add their prompt
style. ``config.reference`` keeps the condition, the policy, the file's own time (file_time:
the reference writes MMDD_HHMMSS, no year) and the headline figure the runs list shows.

``evaluation`` (query_server/eval/*.json: JSON with ``overall`` and ``articles``, a held-out dataset)
    Each article's passage is a context (saved in both splits: "heldout" as evaluated,
    "train" because candidates point there); each completion is a candidate scored with
    reward = its ``adapter_mean``, baseline, gain and per-question answers (answer
    before/after, correct flags, ``rep``). ``eval_result`` and the ``heldout_none`` /
    ``heldout_<condition>`` metrics hold the overall accuracies as the reference reports
    them: means of per-passage means (iter2: 0.3336 and 0.4699); the question-weighted
    ones are in ``eval_result.question_weighted``. The condition is ``self_edit`` (the
    policy's), ``teacher`` (gpt4_1) or ``passage`` (naive: every completion empty, so no
    candidates; each passage's answers stay in ``per_context``).
``ranking`` (train/rank_iterN.json: same format, a training dataset)
    One E-step round N+1 (the iterN policy wrote the candidates): K candidates per
    passage with rewards, then ``candidate_filtered`` with the reference's rule
    (build_SFT_dataset: per passage the top-1 by adapter_mean, the earlier one on
    ties), and the train_reward_mean / train_reward_max / baseline_mean /
    kept_count metrics. A file without per-question lists (rank_iter1) says so.
``multi_passage`` (cpt/cpt_*.json: ``overall.adapter_accuracy`` and ``server_reply``)
    An ``eval_result`` whose ``multi_passage`` payload is the one the engine writes
    (n_passages, n_questions, none, passage, self_edit; teacher for cpt_gpt4_1, passage
    for k_completions = 0) plus gain, per_title (by position; the reference keyed it by
    title, so a note says how many questions it still covers) and every per-question
    answer; metrics multi_none and multi_<condition>. The file stores neither the
    self-edits nor the question texts, so there are no candidates.
``forgetting`` (continual_self_edits/*.json: ``mean_over_sequences``)
    An ``eval_result`` whose ``forgetting`` payload is the engine's (k, sequences,
    mean, std, row_mean; cells never measured are null where the reference wrote
    0) and ``std_note`` (overall_results.json's std is the mean of its runs' stds);
    metrics forgetting_first_passage_final and forgetting_row_mean_final.
``mstep_set`` (EM_SFT/sft_best1of5_iterN.jsonl: one {prompt, completion} per line)
    Round N+1's M-step training set: one kept candidate per row (passage parsed
    from the prompt, no reward: the file has none), its trained text, and an
    ``mstep_done`` event without a saved policy.
``fewshot_results`` (few-shot/final_results.json: self-edit index -> task_id / correct columns)
    A few-shot run (task "fewshot"): a held-out evaluation of one condition, or the
    E-step of a round on ARC training tasks; seal_tui.reference_fewshot says how.

``plan_import`` reads and checks a whole file into an ``ImportPlan`` (nothing is
written here: seal_tui.importers writes plans into the store); a malformed or
unknown file raises ``ImportRejected`` naming the file and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .reference_fewshot import is_fewshot_results, plan_fewshot_results
from .reference_plan import PRESET, ImportPlan, ImportRejected, content_sha256, describe, headline, read_condition
from .reference_plan import Checker as _Checker
from .reference_plan import is_kind as _is
from .reference_plan import run_config as _config

__all__ = ["EXPECTED", "FORMATS", "KINDS", "PRESET", "ImportPlan", "ImportRejected", "plan_import"]

KINDS = ("evaluation", "ranking", "multi_passage", "forgetting", "mstep_set", "fewshot_results")
# what an error says was expected (one line); FORMATS, for `seal-tui import --help`, says each
EXPECTED = "a SEAL reference result file (`seal-tui import --help` lists the formats)"
FORMATS = (
    "The SEAL reference's result files, each imported as one read-only run: a single-passage "
    "evaluation or ranking run (JSON with 'overall' and 'articles': results/query_server/eval/*.json, "
    "train/rank_iter*.json), a multi-passage result (JSON with 'overall.adapter_accuracy' and "
    "'server_reply': results/cpt/*.json), a forgetting matrix (JSON with 'mean_over_sequences': "
    "results/continual_self_edits/), an M-step training set (JSONL of {\"prompt\", \"completion\"}: "
    "EM_SFT/sft_best1of5_iter*.jsonl) and few-shot results (JSON keyed by self-edit index with task_id "
    "and correct columns: few-shot/final_results.json). A folder is searched for .json and .jsonl files, "
    "subfolders too."
)


def plan_import(path: Path | str, *, condition: str | None = None, round_: int | None = None) -> ImportPlan:
    """Read and check ``path``; raises ImportRejected with the reason. ``condition`` and ``round_``
    name what a few-shot results file does not record (seal_tui.reference_fewshot); other files
    record their own."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ImportRejected(f"{path}: no such file; pass the path of a SEAL result file (.json or .jsonl)")
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportRejected(f"{path}: not UTF-8 text; expected {EXPECTED}") from None
    if not text.strip():
        raise ImportRejected(f"{path}: the file is empty; expected {EXPECTED}")
    data = _parse_lines(path, text) if path.suffix == ".jsonl" else _parse(path, text)
    plan = _plan(path, sha, data, condition, round_)
    plan.config["reference"]["content_sha256"] = content_sha256(data)
    if plan.notes:
        plan.config["reference"]["notes"] = list(plan.notes)
    return plan


def _plan(path: Path, sha: str, data: Any, condition: str | None, round_: int | None) -> ImportPlan:
    if isinstance(data, list):
        if data and not any(isinstance(row, dict) for row in data):
            kinds = sorted({_json_type(row) for row in data})
            raise ImportRejected(f"{path}: the JSON is a list of {len(data)} {' and '.join(kinds)}; expected an "
                                 "object (a result file) or {\"prompt\", \"completion\"} rows (an M-step set)")
        return _plan_mstep_set(path, sha, data)
    if not isinstance(data, dict):
        raise ImportRejected(f"{path}: the JSON is {_json_type(data, one=True)}; expected {EXPECTED}")
    if "articles" in data:
        return _plan_single_passage(path, sha, data)
    if is_fewshot_results(data):
        return plan_fewshot_results(path, sha, data, condition=condition, round_=round_)
    if "mean_over_sequences" in data:
        return _plan_forgetting(path, sha, data)
    if "server_reply" in data or (isinstance(data.get("overall"), dict) and "adapter_accuracy" in data["overall"]):
        return _plan_multi_passage(path, sha, data)
    keys = ", ".join(sorted(map(str, data))[:8]) or "none"
    raise ImportRejected(f"{path}: unknown kind of file (top-level keys: {keys}); expected {EXPECTED}")


def _json_type(value: Any, one: bool = False) -> str:
    """How JSON calls a value's type: "numbers", "strings"... (``one``: "a number")."""
    name = ("true/false" if isinstance(value, bool) else "number" if isinstance(value, (int, float))
            else "string" if isinstance(value, str) else "list" if isinstance(value, list)
            else "null" if value is None else "object")
    if one:
        return name if name in ("null", "true/false") else f"a {name}" if name != "object" else "an object"
    return name if name in ("null", "true/false") else name + "s"


class _Repeated(dict):
    """A JSON object whose text repeats a key: a dict (the last value wins, as json.loads reads it)
    that also keeps every (key, value) pair in order, so that nothing the file holds is lost."""

    pairs: list[tuple[str, Any]]


def _object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        obj = _Repeated(pairs)
        obj.pairs = pairs
    return obj


def _parse(path: Path, text: str) -> Any:
    """A JSON document, or the list of objects of a JSONL file."""
    try:
        return json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        first_error = exc
    try:
        return _parse_lines(path, text)
    except ImportRejected:
        raise ImportRejected(f"{path}: not valid JSON (line {first_error.lineno} column {first_error.colno}: "
                             f"{first_error.msg}); expected {EXPECTED}") from None


def _parse_lines(path: Path, text: str) -> list:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ImportRejected(f"{path}: line {n} is not valid JSON (column {exc.colno}: {exc.msg}); "
                                 "expected one JSON object per line (JSONL)") from None
    return rows


# ---------------------------------------------------------------- checks
def _lora(check: _Checker, data: dict) -> dict:
    lp = check.get(data, "lora_params", "", "dict", optional=True) or {}
    names = {"rank": "lora_r", "alpha": "lora_alpha", "dropout": "lora_dropout", "epochs": "epochs",
             "lr": "lr", "batch_size": "batch_size"}
    return {ours: lp[theirs] for theirs, ours in names.items() if theirs in lp}




# ---------------------------------------------------------------- single passage
def _plan_single_passage(path: Path, sha: str, data: dict) -> ImportPlan:
    check = _Checker(path)
    overall = check.get(data, "overall", "", "dict")
    base_overall = check.get(overall, "baseline_mean_accuracy", "overall", "number")
    adapter_overall = check.get(overall, "adapter_mean_accuracy", "overall", "number")
    articles = check.get(data, "articles", "", "list")
    if not articles:
        check.fail("articles", "at least one article", articles)
    n_articles = data.get("n_articles")
    if isinstance(n_articles, int) and n_articles != len(articles):
        raise ImportRejected(f"{path}: n_articles says {n_articles} but 'articles' holds {len(articles)}; "
                             "the file looks cut short: expected every article")
    dataset = str(data.get("dataset") or "")
    ranking = "train" in Path(dataset).parts or path.stem.lower().startswith("rank")
    kind = "ranking" if ranking else "evaluation"
    texts = [c.get("text") for a in articles if isinstance(a, dict) and isinstance(a.get("completions"), list)
             for c in a["completions"] if isinstance(c, dict)]
    reading = read_condition(Path(dataset).name, path.stem, data.get("exp_name"), data.get("model"),
                             passage_only=bool(texts) and not any(isinstance(t, str) and t.strip() for t in texts),
                             ranking=ranking)
    rnd = reading.round
    # passage only: no self-edit was written, so no candidates; each passage's answers stay with its evaluation
    passage_only = reading.key == "passage_only" and not ranking
    cond = {"passage_only": "passage", "teacher_self_edits": "teacher"}.get(reading.key, "self_edit")

    contexts, candidates, per_context = [], [], []
    n_questions = correct_before = correct_after = n_answers = 0
    for i, art in enumerate(articles):
        where = f"articles[{i}]"
        if not isinstance(art, dict):
            check.fail(where, "an object", art)
        title = check.get(art, "title", where, "str")
        context = check.get(art, "context", where, "str")
        stats = check.get(art, "stats", where, "dict")
        comps = check.get(art, "completions", where, "list")
        if not comps:
            check.fail(f"{where}.completions", "at least one completion", comps)
        questions: list[dict] | None = None
        scored = []
        for j, comp in enumerate(comps):
            cw = f"{where}.completions[{j}]"
            if not isinstance(comp, dict):
                check.fail(cw, "an object", comp)
            text = check.get(comp, "text", cw, "str")
            cstats = check.get(comp, "stats", cw, "dict")
            reward = check.get(cstats, "adapter_mean", f"{cw}.stats", "number")
            baseline = check.get(cstats, "baseline_mean", f"{cw}.stats", "number")
            gain = check.get(cstats, "gain_mean", f"{cw}.stats", "number", optional=True)
            answers = [_answer(check, q, f"{cw}.questions[{k}]")
                       for k, q in enumerate(check.get(comp, "questions", cw, "list"))]
            n_answers += len(answers)
            if questions is None and answers:
                first_rep = answers[0]["rep"]
                questions = [{"question": a["question"], "answer": a["gold"]} for a in answers
                             if a["rep"] == first_rep]
            scored.append({"context_idx": i, "cand_idx": j, "title": title, "self_edit": text,
                           "score": {"reward": reward, "baseline": baseline,
                                     "gain": gain if gain is not None else reward - baseline,
                                     "train_sequences": [], "answers": answers}})
        questions = questions or []
        contexts.append((i, {"title": title, "context": context, "questions": questions}))
        first = scored[0]["score"]["answers"]
        reps0 = [a for a in first if a["rep"] == (first[0]["rep"] if first else 0)]
        n_questions += len(reps0)
        correct_before += sum(a["correct_before"] for a in reps0)
        correct_after += sum(a["correct_after"] for a in reps0)
        entry = {"idx": i, "title": title, "n": len(questions), "passage": None, "self_edit": None,
                 "none": check.get(stats, "baseline_accuracy", f"{where}.stats", "number", optional=True)}
        entry[cond] = check.get(stats, "adapter_mean_accuracy", f"{where}.stats", "number", optional=True)
        if passage_only:
            entry["answers"] = first
        else:
            entry[f"{cond}_text"] = comps[0].get("text", "")
            candidates += scored
        per_context.append(entry)

    k = max(len(a["completions"]) for a in articles)
    inner = dict(_lora(check, data))
    if isinstance(data.get("split_newlines"), bool):
        inner["split"] = "lines" if data["split_newlines"] else "whole"
    data_section = {"path": dataset, ("n_train" if ranking else "n_heldout"): len(articles)}
    sample = {"k": k, **({"prompt_style": reading.prompt_style} if reading.prompt_style else {})}
    config = _config(path, sha, kind, rnd, reading.policy, data, inner=inner,
                     extra={"data": data_section, **({} if passage_only else {"sample": sample})})
    plan = ImportPlan(path=path, kind=kind, sha256=sha, round=rnd, config=config, summary="",
                      candidates=candidates)
    describe(plan, reading)
    if not n_answers:
        plan.notes.append("the file holds no per-question answers (every 'questions' list is empty): each "
                          "self-edit has its reward, not the answers behind it")
    if ranking:
        plan.contexts = {"train": contexts}
        _reference_filter(plan, k)
        kept = sum(1 for c in candidates if c["verdict"]["kept"])
        plan.metrics = [("inner_loop", "train_reward_mean", adapter_overall),
                        ("inner_loop", "train_reward_max", max(c["score"]["reward"] for c in candidates)),
                        ("inner_loop", "baseline_mean", base_overall), ("filter", "kept_count", float(kept))]
        headline(plan, "mean reward of the self-edits", adapter_overall, "reward")
        plan.summary = (f"ranking round {rnd} (E-step: {reading.condition}): {len(articles)} passages x {k} "
                        f"self-edits, mean reward {adapter_overall:.4f} (baseline {base_overall:.4f}), {kept} kept")
    else:
        plan.contexts = {"heldout": contexts} if passage_only else {"heldout": contexts, "train": contexts}
        plan.eval_result = {
            "round": rnd, "none": base_overall, "passage": None, "self_edit": None, cond: adapter_overall,
            "n_contexts": len(articles), "n_questions": n_questions,
            "weighting": "mean of per-passage accuracies (as the reference reports)",
            "question_weighted": ({"none": correct_before / n_questions,
                                   cond: correct_after / n_questions} if n_questions else None),
            "per_context": per_context}
        plan.metrics = [("eval", "heldout_none", base_overall), ("eval", f"heldout_{cond}", adapter_overall)]
        plan.best_heldout = adapter_overall if cond == "self_edit" else None
        after = {"passage": "training on the passage only", "teacher": f"{reading.teacher}'s self-edits"}.get(
            cond, "the self-edits")
        headline(plan, f"held-out accuracy after {after}", adapter_overall, "accuracy")
        plan.summary = (f"held-out evaluation of {reading.condition}, round {rnd}: {len(articles)} passages, "
                        f"{n_questions} questions, accuracy {base_overall:.4f} with no adaptation and "
                        f"{adapter_overall:.4f} after {after}")
    return plan


def _answer(check: _Checker, q: Any, where: str) -> dict:
    if not isinstance(q, dict):
        check.fail(where, "an object with question, answer, baseline_answer, adapter_answer...", q)
    return {"question": check.get(q, "question", where, "str"),
            "gold": check.get(q, "answer", where, "str"),
            "answer_before": check.get(q, "baseline_answer", where, "str"),
            "answer_after": check.get(q, "adapter_answer", where, "str"),
            "correct_before": bool(check.get(q, "baseline_correct", where, "bool")),
            "correct_after": bool(check.get(q, "adapter_correct", where, "bool")),
            "reason": "", "rep": check.get(q, "rep", where, "int", optional=True) or 0}


def _reference_filter(plan: ImportPlan, k: int) -> None:
    """The reference's build_SFT_dataset rule: per passage, the top-1 by adapter_mean."""
    by_ctx: dict[int, list[dict]] = {}
    for c in plan.candidates:
        by_ctx.setdefault(c["context_idx"], []).append(c)
    for group in by_ctx.values():
        eligible = sorted((c for c in group if c["self_edit"].strip()),
                          key=lambda c: (-c["score"]["reward"], c["cand_idx"]))
        rank = {id(c): n for n, c in enumerate(eligible, 1)}
        for c in group:
            r, reward = rank.get(id(c)), c["score"]["reward"]
            if r is None:
                c["verdict"] = {"kept": False, "reason": "empty self-edit"}
            else:
                c["verdict"] = {"kept": r == 1, "reason": f"rank {r} by reward {reward:.2f}"
                                + (f" (best 1 of {k}, the reference's rule)" if r == 1 else " > top-1")}


# ---------------------------------------------------------------- multi passage
def _plan_multi_passage(path: Path, sha: str, data: dict) -> ImportPlan:
    check = _Checker(path)
    overall = check.get(data, "overall", "", "dict")
    base = check.get(overall, "baseline_accuracy", "overall", "number")
    adapter = check.get(overall, "adapter_accuracy", "overall", "number")
    gain = check.get(overall, "gain", "overall", "number", optional=True)
    reply = check.get(data, "server_reply", "", "dict", optional=True) or {}
    answers: list[dict] = []
    if reply:
        lists = {key: check.get(reply, key, "server_reply", "list")
                 for key in ("baseline_texts", "adapter_texts", "baseline_correct", "adapter_correct")}
        lengths = {len(v) for v in lists.values()}
        if len(lengths) != 1:
            raise ImportRejected(f"{path}: server_reply's per-question lists differ in length "
                                 f"({', '.join(f'{k} {len(v)}' for k, v in lists.items())}); expected one entry per question each")
        gains = reply.get("gains") if isinstance(reply.get("gains"), list) else []
        for n in range(lengths.pop()):
            answers.append({"q_idx": n, "answer_before": str(lists["baseline_texts"][n]),
                            "answer_after": str(lists["adapter_texts"][n]),
                            "correct_before": bool(lists["baseline_correct"][n]),
                            "correct_after": bool(lists["adapter_correct"][n]),
                            **({"gain": gains[n]} if n < len(gains) else {})})
    n_questions = data.get("eval_questions") if isinstance(data.get("eval_questions"), int) else len(answers)
    if answers and n_questions != len(answers):
        raise ImportRejected(f"{path}: eval_questions says {n_questions} but server_reply answers "
                             f"{len(answers)}; expected one answer per question")
    k_completions = data.get("k_completions")
    dataset = str(data.get("dataset") or "")
    reading = read_condition(Path(dataset).name, path.stem, data.get("exp_name"), passage_only=k_completions == 0)
    rnd = reading.round
    cond = {"passage_only": "passage", "teacher_self_edits": "teacher"}.get(reading.key, "self_edit")
    articles = check.get(data, "per_article", "", "dict", optional=True) or {}
    per_title = []
    # a key the JSON text repeats is kept, in its place (_parse); the reference's own files lost theirs on writing
    for position, (title, rec) in enumerate(getattr(articles, "pairs", None) or articles.items()):
        if not isinstance(rec, dict):
            check.fail(f"per_article[{title!r}]", "an object with baseline_correct and adapter_correct", rec)
        b = check.get(rec, "baseline_correct", f"per_article[{title!r}]", "list")
        a = check.get(rec, "adapter_correct", f"per_article[{title!r}]", "list")
        per_title.append({"position": position, "title": title, "n": len(b),
                          "none": sum(map(bool, b)) / len(b) if b else None,
                          cond: sum(map(bool, a)) / len(a) if a else None})
    n_passages = data.get("n_articles") if isinstance(data.get("n_articles"), int) else None
    multi = {"n_passages": n_passages, "n_questions": n_questions, "none": base, "passage": None,
             "self_edit": None, cond: adapter, "gain": gain if gain is not None else adapter - base,
             "k_completions": k_completions, "train_sequences": data.get("train_sequences"),
             "per_title": per_title, "answers": answers}
    config = _config(path, sha, "multi_passage", rnd, reading.policy, data, inner=_lora(check, data),
                     extra={"data": {"path": dataset, "n_heldout": n_passages},
                            "eval": {"multi_passage": n_passages}})
    after = {"passage": "one LoRA on all the passages (no self-edits)",
             "teacher": f"one LoRA on all of {reading.teacher}'s self-edits"}.get(cond, "one LoRA on all self-edits")
    plan = ImportPlan(path=path, kind="multi_passage", sha256=sha, round=rnd, config=config,
                      summary=(f"multi-passage result of {reading.condition}, round {rnd}: {n_passages} passages, "
                               f"{n_questions} questions, accuracy {base:.4f} with no adaptation and {adapter:.4f} "
                               f"after {after}"))
    describe(plan, reading)
    covered = sum(t["n"] for t in per_title)
    if per_title and n_questions and covered < n_questions:
        plan.notes.append(f"per_article keeps {len(per_title)} titles covering {covered} of {n_questions} questions: "
                          "the reference keys it by title, so passages sharing a title overwrote each other there "
                          f"(each title's last passage is left); all {len(answers) or n_questions} per-question "
                          "answers are kept")
        multi["per_title_covers"] = covered
    if not answers:
        plan.notes.append("the file holds no per-question answers (no server_reply lists)")
    plan.eval_result = {"round": rnd, "none": None, "passage": None, "self_edit": None,
                        "n_contexts": n_passages, "n_questions": n_questions, "per_context": [],
                        "multi_passage": multi}
    plan.metrics = [("eval", "multi_none", base), ("eval", f"multi_{cond}", adapter)]
    headline(plan, "multi-passage accuracy after " + after.removeprefix("one LoRA on "), adapter, "accuracy")
    return plan


# ---------------------------------------------------------------- forgetting
def _plan_forgetting(path: Path, sha: str, data: dict) -> ImportPlan:
    check = _Checker(path)
    mean = _matrix(check, data, "mean_over_sequences")
    std = _matrix(check, data, "std_over_sequences", optional=True)
    k = len(mean) - 1
    if k < 1 or any(len(row) != k for row in mean):
        raise ImportRejected(f"{path}: mean_over_sequences is {len(mean)} rows of "
                             f"{sorted({len(r) for r in mean})} values; expected k+1 rows of k accuracies "
                             "(row 0 the model before any edit, row i after i sequential edits)")
    if std is not None and [len(r) for r in std] != [len(r) for r in mean]:
        check.fail("std_over_sequences", f"the same shape as mean_over_sequences ({k + 1} x {k})")
    n_points = data.get("n_datapoints")
    if isinstance(n_points, int) and n_points != k:
        raise ImportRejected(f"{path}: n_datapoints says {n_points} but the matrix has {k} columns; "
                             "expected one column per passage")

    def measured(m: list[list[float]]) -> list[list[float | None]]:
        return [[v if r == 0 or c < r else None for c, v in enumerate(row)] for r, row in enumerate(m)]

    mean_m = measured(mean)
    row_mean = [sum(v for v in row if v is not None) / sum(v is not None for v in row) for row in mean_m]
    reading = read_condition(data.get("base_model"), data.get("exp_name"), path.stem)
    rnd = reading.round
    n_seq = data.get("n_sequences") if isinstance(data.get("n_sequences"), int) else None
    # the reference's average_results.py writes overall_results.json's std as the mean of its runs' stds
    std_note = (("the mean of the runs' stds, each over its own sequences" if "overall" in path.stem.lower()
                 else f"the std over {n_seq} sequences" if n_seq else "the std over sequences") if std else None)
    forgetting = {"k": k, "sequences": n_seq, "mean": mean_m, "std": measured(std) if std else None,
                  "std_note": std_note, "row_mean": row_mean}
    config = _config(path, sha, "forgetting", rnd, reading.policy, data,
                     extra={"data": {"path": str(data.get("dataset") or "")},
                            "eval": {"forgetting_k": k, "forgetting_sequences": n_seq}})
    plan = ImportPlan(path=path, kind="forgetting", sha256=sha, round=rnd, config=config,
                      summary=(f"forgetting matrix of {reading.condition}, round {rnd}: {k} sequential self-edits "
                               f"averaged over {n_seq} sequences; first passage {mean_m[0][0]:.4f} before, "
                               f"{mean_m[k][0]:.4f} after all {k} edits"))
    describe(plan, reading)
    plan.eval_result = {"round": rnd, "none": None, "passage": None, "self_edit": None,
                        "n_contexts": k, "per_context": [], "forgetting": forgetting}
    plan.metrics = [("eval", "forgetting_first_passage_final", mean_m[k][0]),
                    ("eval", "forgetting_row_mean_final", row_mean[k])]
    headline(plan, f"mean accuracy on the passages seen, after all {k} edits", row_mean[k], "accuracy")
    return plan


def _matrix(check: _Checker, data: dict, key: str, optional: bool = False) -> list[list[float]] | None:
    rows = check.get(data, key, "", "list", optional=optional)
    if rows is None:
        return None
    for r, row in enumerate(rows):
        if not isinstance(row, list) or not all(_is(v, "number") for v in row):
            check.fail(f"{key}[{r}]", "a list of accuracies (numbers)", row)
    return [[float(v) for v in row] for row in rows]


# ---------------------------------------------------------------- M-step training set
def _plan_mstep_set(path: Path, sha: str, rows: list) -> ImportPlan:
    check = _Checker(path)
    if not rows:
        raise ImportRejected(f"{path}: no rows; expected one {{\"prompt\", \"completion\"}} object per line")
    contexts, candidates = [], []
    for i, row in enumerate(rows):
        where = f"line {i + 1}"
        if not isinstance(row, dict):
            check.fail(where, "a {\"prompt\", \"completion\"} object", row)
        prompt = check.get(row, "prompt", where, "str")
        completion = check.get(row, "completion", where, "str")
        title, context = _passage_of(prompt, i)
        contexts.append((i, {"title": title, "context": context, "questions": []}))
        candidates.append({"context_idx": i, "cand_idx": 0, "title": title, "self_edit": completion,
                           "trained": completion,
                           "verdict": {"kept": True, "reason": "in the reference's M-step training set"}})
    reading = read_condition(path.stem, ranking=True)   # built from round r's E-step by the policy of r-1
    rnd = reading.round
    best = re.search(r"best(\d+)of(\d+)", path.stem)
    extra = {"data": {"n_train": len(rows)}}
    if best:
        extra["filter"] = {"rule": "best", "top_k": int(best.group(1))}
        extra["sample"] = {"k": int(best.group(2))}
    config = _config(path, sha, "mstep_set", rnd, reading.policy, {}, extra=extra)
    plan = ImportPlan(path=path, kind="mstep_set", sha256=sha, round=rnd, config=config,
                      summary=f"M-step training set of round {rnd} ({reading.condition}): {len(rows)} self-edits",
                      contexts={"train": contexts}, candidates=candidates)
    describe(plan, reading)
    plan.notes.append("the file holds the trained self-edits only: no rewards, no questions, no trained weights")
    plan.metrics = [("filter", "kept_count", float(len(rows)))]
    plan.mstep = {"policy_path": None, "examples": len(rows), "loss": None, "skipped": False,
                  "reason": "imported training set: the reference's trained policy is not part of the file"}
    headline(plan, "self-edits in the M-step set", float(len(rows)), "count")
    return plan


def _passage_of(prompt: str, i: int) -> tuple[str, str]:
    """(title, passage) from a self-edit prompt "...Passage:\\n<title>\\n<passage>\\n\\n<Label>:"."""
    m = re.search(r"Passage:\s*\n(?P<title>[^\n]*)\n(?P<body>.*)", prompt, re.DOTALL)
    if not m:
        return f"row {i + 1}", prompt.strip()
    body = re.sub(r"\n\n[^\n]{1,40}:\s*(<\|im_end\|>.*)?$", "", m["body"].rstrip(), flags=re.DOTALL)
    return m["title"].strip() or f"row {i + 1}", body.strip()
