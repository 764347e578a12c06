"""Importing the SEAL reference's result files, and exporting runs for pandas.

The reference files are read from ../shared/data/seal/results/ (never copied into
the repository); the tests that need them skip when that folder is absent.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import events as ev
from engine.store import Store
from seal_tui.export import export_run
from seal_tui.importers import ImportRejected, import_file, plan_import
from seal_tui.reducer import apply
from seal_tui.state import RunState
from tests.support.common import REPO, RESULTS

FILES = ("eval_iter2.json", "rank_iter1.json", "cpt_iter2.json", "continual_overall.json",
         "sft_best1of5_iter0.jsonl")
needs_results = pytest.mark.skipif(
    not all((RESULTS / f).is_file() for f in FILES),
    reason=f"SEAL's reference results are absent ({RESULTS}); these tests read ../shared/data/seal/results/")


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Store, dict[str, str]]:
    """A store holding every reference file, imported once: (store, file name -> run id)."""
    if not all((RESULTS / f).is_file() for f in FILES):
        pytest.skip(f"SEAL's reference results are absent ({RESULTS})")
    store = Store(tmp_path_factory.mktemp("imported-runs"))
    ids = {}
    for name in FILES:
        outcome = import_file(store, RESULTS / name)
        assert outcome.created
        ids[name] = outcome.run_id
    return store, ids


def state_of(store: Store, run_id: str) -> RunState:
    """What a console replaying the run would hold."""
    return apply(RunState(run_id), store.iter_events(run_id))


def metric(store: Store, run_id: str, name: str) -> float:
    values = [m["value"] for m in store.metrics(run_id, name)]
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


# ---------------------------------------------------------------- each reference file
@needs_results
def test_eval_iter2_is_200_passages_with_per_question_answers(imported):
    store, ids = imported
    run_id = ids["eval_iter2.json"]
    run = store.get_run(run_id)
    assert (run["source"], run["status"], run["preset"]) == ("imported", "finished", "seal-reference")
    assert run["best_heldout"] == pytest.approx(0.4699, abs=5e-5)
    cands = store.candidates(run_id)
    assert len(cands) == 200 and {c["round"] for c in cands} == {2}
    assert len(store.get_contexts(run_id, "heldout")) == 200
    assert len(store.get_contexts(run_id, "train")) == 200
    answers = [a for c in cands for a in store.answers(c["id"])]
    assert len(answers) == 974 and all(store.answers(c["id"]) for c in cands)
    first = store.answers(cands[0]["id"])[0]
    assert first["gold"] == "fragmentation" and first["answer_before"] and first["answer_after"]
    assert (first["correct_before"], first["correct_after"]) == (0, 1)
    # the numbers the reference reported (mean of per-passage accuracies)
    assert metric(store, run_id, "heldout_self_edit") == pytest.approx(0.4699, abs=5e-5)
    assert metric(store, run_id, "heldout_none") == pytest.approx(0.3336, abs=5e-5)
    assert sum(c["reward"] for c in cands) / 200 == pytest.approx(0.4699, abs=5e-4)
    state = state_of(store, run_id)
    assert state.status == "finished" and state.source == "imported"
    assert state.evals[2]["self_edit"] == pytest.approx(0.4699, abs=5e-5)
    assert state.evals[2]["question_weighted"]["self_edit"] == pytest.approx(455 / 974)
    assert len(state.candidates) == 200 and all(c.answers for c in state.candidates.values())
    assert state.context(0, "train")["title"] == "Genghis Khan"


@needs_results
def test_rank_iter1_keeps_the_best_of_5_per_passage(imported):
    store, ids = imported
    run_id = ids["rank_iter1.json"]
    cands = store.candidates(run_id)
    assert len(cands) == 250 and {c["round"] for c in cands} == {2}
    by_ctx: dict[int, list[dict]] = {}
    for c in cands:
        by_ctx.setdefault(c["context_idx"], []).append(c)
    assert len(by_ctx) == 50
    for group in by_ctx.values():
        kept = [c for c in group if c["kept"]]
        assert len(kept) == 1 and kept[0]["reward"] == max(c["reward"] for c in group)
    assert metric(store, run_id, "train_reward_mean") == pytest.approx(0.4332, abs=5e-5)
    assert metric(store, run_id, "kept_count") == 50
    state = state_of(store, run_id)
    assert state.kept_count == {2: 50} and len(state.rewards[2]) == 250


@needs_results
def test_cpt_iter2_records_the_multi_passage_numbers(imported):
    store, ids = imported
    run_id = ids["cpt_iter2.json"]
    assert metric(store, run_id, "multi_none") == pytest.approx(0.3326, abs=5e-5)
    assert metric(store, run_id, "multi_self_edit") == pytest.approx(0.4384, abs=5e-5)
    multi = state_of(store, run_id).evals[2]["multi_passage"]
    assert (multi["n_passages"], multi["n_questions"]) == (200, 974)
    assert len(multi["answers"]) == 974
    assert sum(a["correct_after"] for a in multi["answers"]) / 974 == pytest.approx(0.4384, abs=5e-4)
    assert store.candidates(run_id) == []


@needs_results
def test_continual_overall_records_the_forgetting_matrix(imported):
    store, ids = imported
    run_id = ids["continual_overall.json"]
    forgetting = state_of(store, run_id).evals[2]["forgetting"]
    mean = forgetting["mean"]
    assert (forgetting["k"], forgetting["sequences"], len(mean)) == (8, 64, 9)
    assert mean[0][7] == pytest.approx(0.2529) and mean[8][0] == pytest.approx(0.1894)
    assert mean[1][1:] == [None] * 7 and mean[7][7] is None   # never measured
    assert metric(store, run_id, "forgetting_first_passage_final") == pytest.approx(0.1894)


@needs_results
def test_sft_set_is_50_kept_and_trained_self_edits(imported):
    store, ids = imported
    run_id = ids["sft_best1of5_iter0.jsonl"]
    cands = store.candidates(run_id)
    assert len(cands) == 50 and all(c["kept"] == 1 and c["trained_text"] == c["self_edit"] for c in cands)
    ctx = store.get_contexts(run_id, "train")[0]
    assert ctx["title"] == "Estonian language" and ctx["context"].startswith("Writings in Estonian")
    assert not ctx["context"].rstrip().endswith("Implications:")
    assert state_of(store, run_id).mstep_done[1]["examples"] == 50


@needs_results
def test_importing_the_same_file_again_writes_nothing(imported, tmp_path):
    store, ids = imported
    before = (len(store.list_runs()), store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    copy = tmp_path / "renamed.json"  # same content under another name is the same import
    copy.write_bytes((RESULTS / "eval_iter2.json").read_bytes())
    for path in (RESULTS / "eval_iter2.json", copy):
        outcome = import_file(store, path)
        assert not outcome.created and outcome.run_id == ids["eval_iter2.json"]
        assert "already imported" in outcome.summary
    after = (len(store.list_runs()), store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    assert after == before


# ---------------------------------------------------------------- malformed files
def malformed_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the rejection must contain)."""
    eval_like = {"overall": {"baseline_mean_accuracy": 0.3, "adapter_mean_accuracy": 0.4},
                 "n_articles": 2, "dataset": "eval/iter1_val.json",
                 "articles": [{"title": "T", "context": "C", "stats": {}, "completions": [
                     {"text": "a\nb", "stats": {"adapter_mean": 0.5, "baseline_mean": 0.2},
                      "questions": [{"question": "Q?", "answer": "A", "baseline_answer": "x",
                                     "adapter_answer": "A", "baseline_correct": False,
                                     "adapter_correct": True}]}]}]}
    cases = {
        "unknown.json": ({"hello": 1}, "unknown kind of file"),
        "truncated.json": ('{"overall": {"baseline', "not valid JSON"),
        "cut_short.json": (eval_like, "n_articles says 2"),
        "bad_number.json": (dict(eval_like, n_articles=1, articles=[dict(eval_like["articles"][0], completions=[
            dict(eval_like["articles"][0]["completions"][0], stats={"adapter_mean": "high", "baseline_mean": 0})])]),
            "articles[0].completions[0].stats.adapter_mean"),
        "bad_matrix.json": ({"mean_over_sequences": [[0.3, 0.2], [0.4]]}, "k+1 rows of k"),
        "bad_rows.jsonl": ('{"prompt": "p", "completion": "c"}\n{"prompt": "p"}\n', "line 2: field 'completion'"),
        "empty.json": ("", "empty"),
    }
    out = {}
    for name, (content, words) in cases.items():
        path = folder / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        out[name] = (path, words)
    return out


def store_counts(store: Store) -> dict[str, int]:
    return {t: store.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("runs", "events", "contexts", "candidates", "answers", "metrics")}


def test_malformed_files_are_rejected_naming_the_file_and_what_was_expected(tmp_path):
    for name, (path, words) in malformed_files(tmp_path).items():
        with pytest.raises(ImportRejected) as err:
            plan_import(path)
        assert name in str(err.value) and words in str(err.value), str(err.value)


def test_cli_import_of_a_malformed_file_exits_2_and_writes_nothing_of_it(tmp_path):
    runs_dir = tmp_path / "runs"
    store = Store(runs_dir)
    before = store_counts(store)
    bad = malformed_files(tmp_path)["cut_short.json"][0]
    proc = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "import", str(bad)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "cut_short.json" in proc.stderr and "nothing was imported" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert store_counts(store) == before


def test_a_failure_while_writing_leaves_no_partial_run(tmp_path, monkeypatch):
    path = tmp_path / "sft_best1of5_iter0.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Passage:\nT{i}\nText {i}.\n\nImplications:\n",
                                        "completion": f"edit {i}"}) + "\n" for i in range(5)))
    store = Store(tmp_path / "runs")
    before = store_counts(store)

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(store, "record_many", broken)     # the filter's verdicts, mid-import
    with pytest.raises(OSError):
        import_file(store, path)
    assert store_counts(store) == before
    monkeypatch.undo()
    outcome = import_file(store, path)  # and the file still imports afterwards
    assert outcome.created and len(store.candidates(outcome.run_id)) == 5


# ---------------------------------------------------------------- export
def export_text(store: Store, run_id: str, what: str, fmt: str) -> str:
    buf = io.StringIO(newline="")
    export_run(store, run_id, what, fmt, buf)
    return buf.getvalue()


@needs_results
def test_candidates_export_round_trips_with_the_stdlib(imported):
    store, ids = imported
    run_id = ids["eval_iter2.json"]
    records = [json.loads(line) for line in export_text(store, run_id, "candidates", "jsonl").splitlines()]
    assert len(records) == 200 and sum(r["n_questions"] for r in records) == 974
    first = records[0]
    assert first["title"] == "Genghis Khan" and len(first["answers"]) == first["n_questions"] == 5
    assert {"question", "gold", "answer_before", "answer_after", "correct_before", "correct_after"} <= set(first["answers"][0])
    rows = list(csv.DictReader(io.StringIO(export_text(store, run_id, "candidates", "csv"), newline="")))
    assert len(rows) == 200 and rows[0]["self_edit"] == first["self_edit"]  # multi-line texts survive
    assert sum(int(r["n_correct_after"]) for r in rows) == 455
    answers = list(csv.DictReader(io.StringIO(export_text(store, run_id, "answers", "csv"), newline="")))
    assert len(answers) == 974 and answers[0]["gold"] == "fragmentation"


@needs_results
def test_exports_read_back_with_pandas(imported, tmp_path):
    pd = pytest.importorskip("pandas")
    store, ids = imported
    for name in ("eval_iter2.json", "rank_iter1.json"):
        run_id = ids[name]
        n_cands = len(store.candidates(run_id))
        for what, expected in (("candidates", n_cands), ("metrics", len(store.metrics(run_id))),
                               ("events", store.count_events(run_id))):
            for fmt in ("jsonl", "csv"):
                path = tmp_path / f"{run_id}-{what}.{fmt}"
                with open(path, "w", newline="", encoding="utf-8") as fh:
                    export_run(store, run_id, what, fmt, fh)
                df = pd.read_json(path, lines=True) if fmt == "jsonl" else pd.read_csv(path)
                assert len(df) == expected, (name, what, fmt)
                if what == "candidates":
                    assert df["reward"].mean() == pytest.approx(
                        sum(c["reward"] for c in store.candidates(run_id)) / n_cands)
                if what == "events":
                    assert {"kind", "round", "phase", "ts", "data"} <= set(df.columns)
                    assert (df["kind"] == "candidate_scored").sum() == n_cands
    df = pd.read_json(tmp_path / f"{ids['eval_iter2.json']}-candidates.jsonl", lines=True)
    assert len(df.loc[0, "answers"]) == 5 and df["n_correct_after"].sum() == 455


def test_export_of_a_run_with_no_candidates_writes_a_header_only_csv(tmp_path):
    store = Store(tmp_path)
    store.record("r1", ev.RunCreated(name="r1", preset="sandbox", model="m", rounds=1), round_=0, phase="setup")
    text = export_text(store, "r1", "candidates", "csv")
    assert text.splitlines()[0].startswith("run_id,id,round") and len(text.splitlines()) == 1
    events = [json.loads(line) for line in export_text(store, "r1", "events", "jsonl").splitlines()]
    assert [e["kind"] for e in events] == ["run_created"] and events[0]["data"]["name"] == "r1"


def test_a_fewshot_runs_exports_carry_its_plans_and_grids(fewshot_runs, tmp_path):
    """Candidates of a few-shot run export with the plan's summary, switches and refusal; its
    JSONL answers with the grids and the vote, as pandas reads them."""
    pd = pytest.importorskip("pandas")
    runs_dir, run_id = fewshot_runs
    store = Store(runs_dir)
    cands = store.candidates(run_id)
    paths = {}
    for what in ("candidates", "answers"):
        for fmt in ("jsonl", "csv"):
            paths[what, fmt] = tmp_path / f"{what}.{fmt}"
            with open(paths[what, fmt], "w", newline="", encoding="utf-8") as fh:
                export_run(store, run_id, what, fmt, fh)
    df = pd.read_csv(paths["candidates", "csv"], keep_default_na=False)
    assert list(df["summary"]) == [c["summary"] or "" for c in cands]
    assert list(df["facets"]) == ["+".join(json.loads(c["facets_json"] or "[]")) for c in cands]
    refused = [c for c in cands if c["invalid"]]
    assert refused and list(df.loc[df["invalid"] != "", "invalid"]) == [c["invalid"] for c in refused]
    nested = pd.read_json(paths["candidates", "jsonl"], lines=True)
    assert [list(f) for f in nested["facets"]] == [json.loads(c["facets_json"] or "[]") for c in cands]
    answers = [json.loads(line) for line in paths["answers", "jsonl"].read_text().splitlines()]
    scored = [a for a in answers if a["detail_after"]]
    assert scored and all(a["detail_after"]["gold"] == store.answers(a["candidate_id"])[a["q_idx"]]["detail_after"]["gold"]
                          for a in scored)
    assert all(set(a["detail_after"]) >= {"input", "gold", "answer", "attempts", "views"} for a in scored)
    assert "detail_after" not in pd.read_csv(paths["answers", "csv"]).columns
