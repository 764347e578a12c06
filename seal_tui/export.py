"""Export a run's candidates, answers, metrics or events as JSONL or CSV for pandas.

``pd.read_json(path, lines=True)`` and ``pd.read_csv(path)`` read every file this
writes. Times are UNIX seconds (pandas turns the ``*_at`` columns of JSONL into
datetimes by itself). What each export holds:

candidates  one record per sampled self-edit: run_id, id, round, context_idx,
            cand_idx, title, self_edit, reward, baseline, gain, kept, keep_reason,
            review, trained_text, created_at, scored_at, n_questions, n_runs,
            n_correct_before, n_correct_after. n_runs: inner-loop runs (``rep``;
            inner.reward_repeats, the reference's eval_times); the correct counts are
            over all of them, as the reward counts them (reward = n_correct_after /
            (n_questions x n_runs) where every run answered every question). JSONL
            adds the nested ``train_sequences`` (list of str) and ``answers`` (list
            of per-question records); CSV, one flat row per candidate, has
            n_train_sequences instead; the per-question rows are ``answers``.
answers     one row per (candidate, question, inner-loop run): run_id, candidate_id,
            round, context_idx, cand_idx, q_idx, question, gold, answer_before,
            answer_after, correct_before, correct_after, reason, rep. Answers an
            evaluation holds without a candidate (an imported passage-only
            evaluation's, a multi-passage result's: no self-edit behind them) follow,
            with candidate_id and cand_idx empty and an ``evaluation`` column
            (passage_only, multi_passage) that the candidates' rows leave empty.
            A few-shot run's candidates add summary (the plan in a line), facets (its
            switches: a list in JSONL, joined by "+" in CSV) and invalid (why the
            plan was refused); its JSONL answers add detail_before / detail_after
            (the grids, each view's answer and the vote: engine.events.GridDetail).
metrics     one row per recorded number: run_id, round, name, value, step, ts.
events      the event log: id, run_id, ts, kind, round, phase, data (an object in
            JSONL, its JSON text in CSV).

Pictures rather than rows: ``--what svg`` draws a few-shot candidate's task, answer and
gold grid (seal_tui.export_svg).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from engine.store import Store

WHATS = ("candidates", "answers", "metrics", "events")
FORMATS = ("jsonl", "csv")

CANDIDATE_FIELDS = ("run_id", "id", "round", "context_idx", "cand_idx", "title", "self_edit", "reward",
                    "baseline", "gain", "kept", "keep_reason", "review", "trained_text", "created_at",
                    "scored_at", "n_questions", "n_runs", "n_correct_before", "n_correct_after")
FEWSHOT_CANDIDATE_FIELDS = ("summary", "facets", "invalid")
FEWSHOT_ANSWER_FIELDS = ("detail_before", "detail_after")
ANSWER_FIELDS = ("run_id", "candidate_id", "round", "context_idx", "cand_idx", "q_idx", "question", "gold",
                 "answer_before", "answer_after", "correct_before", "correct_after", "reason", "rep")
METRIC_FIELDS = ("run_id", "round", "name", "value", "step", "ts")
EVENT_FIELDS = ("id", "run_id", "ts", "kind", "round", "phase", "data")


def default_path(run_id: str, what: str, fmt: str) -> Path:
    return Path(f"{run_id}-{what}.{fmt}")


def export_run(store: Store, run_id: str, what: str, fmt: str, out: TextIO) -> int:
    """Write ``what`` of run ``run_id`` to ``out`` (opened with newline=""); returns the rows written."""
    if what not in WHATS:
        raise ValueError(f"unknown export {what!r}: expected one of {', '.join(WHATS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    flat = fmt == "csv"
    created = store.events_of(run_id, ("run_created",))
    fewshot = bool(created) and created[0].payload.task == "fewshot"
    if what == "candidates":
        fields, rows = CANDIDATE_FIELDS + (FEWSHOT_CANDIDATE_FIELDS if fewshot else ()) \
            + (("n_train_sequences",) if flat else ("train_sequences", "answers")), \
            candidate_records(store, run_id, nested=not flat, fewshot=fewshot)
    elif what == "answers":
        held = list(evaluation_answers(store, run_id))
        fields = ANSWER_FIELDS + (FEWSHOT_ANSWER_FIELDS if fewshot and not flat else ()) + (("evaluation",) if held else ())
        rows = _with_details(store, store.answer_rows(run_id)) if fewshot and not flat else store.answer_rows(run_id)
        rows = itertools.chain(({**r, "evaluation": ""} for r in rows) if held else rows, held)
    elif what == "metrics":
        fields, rows = METRIC_FIELDS, ({k: m[k] for k in METRIC_FIELDS} for m in store.metrics(run_id))
    else:
        fields, rows = EVENT_FIELDS, (e.as_dict() for e in store.iter_events(run_id))
    if flat:
        writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")  # \r\n: quotes \r in texts too
        writer.writeheader()
    n = 0
    for row in rows:
        if flat:
            if what == "events":
                row = dict(row, data=json.dumps(row["data"], ensure_ascii=False))
            writer.writerow(row)
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def _with_details(store: Store, rows: Iterator[dict]) -> Iterator[dict]:
    """Answer rows with what each answer was made from (a few-shot run's grids and votes)."""
    held: dict[int, list[dict]] = {}
    for row in rows:
        if row["candidate_id"] not in held:
            held = {row["candidate_id"]: store.answers(row["candidate_id"])}
        full = held[row["candidate_id"]][row["q_idx"]]
        yield {**row, "detail_before": full.get("detail_before"), "detail_after": full.get("detail_after")}


def candidate_records(store: Store, run_id: str, *, nested: bool = True, fewshot: bool = False) -> Iterator[dict]:
    """Each candidate of the run with its per-question counts (and, nested, its answers); a
    few-shot run's with its plan's summary, facets and refusal."""
    answers_by_cand: dict[int, list[dict]] = {}
    for a in store.answer_rows(run_id):
        answers_by_cand.setdefault(a["candidate_id"], []).append(a)
    for c in store.candidates(run_id):
        answers = answers_by_cand.get(c["id"], [])
        sequences = json.loads(c["train_sequences_json"]) if c["train_sequences_json"] else []
        rec = {k: c[k] for k in CANDIDATE_FIELDS if k in c}
        rec["run_id"] = run_id
        rec["kept"] = None if c["kept"] is None else bool(c["kept"])
        runs = {a.get("rep") or 0 for a in answers}
        rec["n_questions"] = sum(1 for a in answers if (a.get("rep") or 0) == min(runs)) if runs else 0
        rec["n_runs"] = len(runs)
        rec["n_correct_before"] = sum(a["correct_before"] for a in answers)   # over every run, as the reward
        rec["n_correct_after"] = sum(a["correct_after"] for a in answers)
        if fewshot:
            facets = json.loads(c.get("facets_json") or "[]")
            rec.update(summary=c.get("summary") or "", facets="+".join(facets) if not nested else facets,
                       invalid=c.get("invalid"))
        if nested:
            rec["train_sequences"] = sequences
            rec["answers"] = [{k: a[k] for k in ANSWER_FIELDS[5:]} for a in answers]
        else:
            rec["n_train_sequences"] = len(sequences)
        yield rec


def evaluation_answers(store: Store, run_id: str) -> Iterator[dict]:
    """Per-question answers an evaluation holds without a candidate: each passage's in an imported
    passage-only evaluation (``per_context[i].answers``), a multi-passage result's (``answers``)."""
    for e in store.events_of(run_id, ("eval_result",)):
        p = e.payload
        rnd = p.round if p.round is not None else e.round
        for ctx in p.per_context or []:
            for q_idx, a in enumerate(ctx.get("answers") or []):
                yield _answer_row(run_id, rnd, ctx.get("idx"), q_idx, a, "passage_only")
        for q_idx, a in enumerate((p.multi_passage or {}).get("answers") or []):
            yield _answer_row(run_id, rnd, None, a.get("q_idx", q_idx), a, "multi_passage")


def _answer_row(run_id: str, rnd: int | None, context_idx: int | None, q_idx: int, a: dict, evaluation: str) -> dict:
    return {"run_id": run_id, "candidate_id": None, "round": rnd, "context_idx": context_idx, "cand_idx": None,
            "q_idx": q_idx, "question": a.get("question", ""), "gold": a.get("gold", ""),
            "answer_before": a.get("answer_before", ""), "answer_after": a.get("answer_after", ""),
            "correct_before": bool(a.get("correct_before")), "correct_after": bool(a.get("correct_after")),
            "reason": a.get("reason", ""), "rep": a.get("rep") or 0, "evaluation": evaluation}
