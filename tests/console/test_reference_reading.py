"""What imported reference runs are called: the condition, round and policy each file is of,
passage-only and teacher conditions, the file's own time, and the answers each file holds.

The files are small ones in the reference's formats (knowledge-incorporation/src/query/
query_server.py, CPT.py, continual/average_results.py), named and labelled as the paper's
public results are (query_server/eval/{base,iter1,iter2,gpt4_1,naive}.json, train/
rank_iter0.json, alternate_prompts, cpt/cpt_{base,gpt4_1,naive}.json, continual_self_edits/),
written by the tests; ../shared/data/seal/results/ holds real ones, used where they fit.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.store import Store, run_row, run_summary
from seal_tui.compare_data import load_comparison
from seal_tui.export import export_run
from seal_tui.importers import ImportRejected, import_file, plan_import
from seal_tui.reducer import apply
from seal_tui.state import RunState
from seal_tui.summary import render_summary
from seal_tui.widgets.footer import KeyFooter
from seal_tui.widgets.runs_table import RunsTable, run_values
from tests.support.common import REPO, RESULTS
from tests.support.console import make_app, open_dashboard, pilot_test, text_of, until


# ---------------------------------------------------------------- files in the reference's formats
def questions(n: int, correct_before: list[bool], correct_after: list[bool], rep: int = 0) -> list[dict]:
    return [{"question": f"Q{i}?", "answer": f"A{i}", "baseline_answer": "x", "adapter_answer": f"A{i}" if ca else "y",
             "baseline_correct": cb, "adapter_correct": ca, "rep": rep}
            for i, (cb, ca) in enumerate(zip(correct_before, correct_after))][:n]


def single_passage(path: Path, *, exp_name: str | None, dataset: str, texts: list[str],
                   after: list[list[bool]], reps: int = 1, timestamp: str = "0509_224917",
                   model: str | None = None) -> dict:
    """A query_server.py result: one article per entry of ``after`` (each question's adapter
    correctness, the same in each repetition), one completion per text; overall means of the
    per-article means, as the reference computes them."""
    articles = []
    for i, correct in enumerate(after):
        before = [j == 0 for j in range(len(correct))]   # the first question known before adaptation
        comps = []
        for text in texts:
            qs = [q for rep in range(reps) for q in questions(len(correct), before, correct, rep)]
            acc = sum(correct) / len(correct)
            comps.append({"text": text, "stats": {"baseline_mean": sum(before) / len(before), "adapter_mean": acc,
                                                  "gain_mean": acc - sum(before) / len(before)},
                          "questions": qs})
        articles.append({"title": f"Title {i}", "context": f"Passage {i}.", "prompt": "p",
                         "stats": {"baseline_accuracy": sum(before) / len(before),
                                   "adapter_mean_accuracy": sum(correct) / len(correct)},
                         "completions": comps})
    base = sum(a["stats"]["baseline_accuracy"] for a in articles) / len(articles)
    adapter = sum(a["stats"]["adapter_mean_accuracy"] for a in articles) / len(articles)
    data = {"overall": {"baseline_mean_accuracy": base, "adapter_mean_accuracy": adapter, "mean_gain": adapter - base},
            "timestamp": timestamp, "dataset": dataset, "split_newlines": True, "n_articles": len(articles),
            "k_completions": len(texts), "eval_times": reps,
            "lora_params": {"rank": 32, "alpha": 64, "dropout": 0.0, "epochs": 10, "lr": 0.001, "batch_size": 1,
                            "grad_accum_steps": 1}, "articles": articles}
    for key, value in (("exp_name", exp_name), ("model", model)):
        if value is not None:
            data[key] = value
    write_json(path, data)
    return data


def cpt(path: Path, *, dataset: str, k_completions: int, titles: list[str], per_title_n: list[int],
        after: list[bool], timestamp: str = "0514_205027", per_article_text: str | None = None) -> dict:
    """A CPT.py result: per-question lists in server_reply; per_article keyed by title (so a title
    that comes twice keeps its last passage's slice, as the reference's dict did)."""
    before = [i % 3 == 0 for i in range(len(after))]
    per_article, q = {}, 0
    for title, n in zip(titles, per_title_n):
        per_article[title] = {"baseline_correct": before[q:q + n], "adapter_correct": after[q:q + n]}
        q += n
    base, adapter = sum(before) / len(before), sum(after) / len(after)
    data = {"overall": {"baseline_accuracy": base, "adapter_accuracy": adapter, "gain": adapter - base},
            "timestamp": timestamp, "dataset": dataset, "n_articles": len(titles), "k_completions": k_completions,
            "split_newlines": False, "lora_params": {"rank": 32, "alpha": 64, "epochs": 3, "lr": 0.001},
            "per_article": per_article, "train_sequences": 10, "eval_questions": len(after),
            "server_reply": {"baseline_accuracy": base, "adapter_accuracy": adapter, "adapter_gain": adapter - base,
                             "baseline_texts": ["b"] * len(after), "adapter_texts": ["a"] * len(after),
                             "baseline_correct": before, "adapter_correct": after, "gains": [0] * len(after)}}
    text = json.dumps(data, indent=2)
    if per_article_text is not None:   # the JSON text as another writer wrote it (keys repeated)
        text = text.replace(json.dumps(per_article, indent=2).replace("\n", "\n  "), per_article_text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return data


def forgetting(path: Path, *, base_model: str = "models/iter2", n_sequences: int = 8, k: int = 2) -> dict:
    mean = [[0.3] * k] + [[0.5 if c < r else 0.0 for c in range(k)] for r in range(1, k + 1)]
    data = {"mean_over_sequences": mean, "std_over_sequences": [[0.1] * k for _ in range(k + 1)],
            "n_sequences": n_sequences, "n_datapoints": k, "dataset": "data/squad_val.json", "base_model": base_model}
    write_json(path, data)
    return data


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def paper_results(root: Path) -> Path:
    """The reference's results/ layout, small: the files of the paper's single-passage table,
    its CPT files and a forgetting run (accuracies 2/3 per passage for base, then up)."""
    qs = root / "query_server"
    eval_dir = "data/synthetic_data/eval"
    single_passage(qs / "eval" / "base.json", exp_name="base", dataset=f"{eval_dir}/base_val.json",
                   texts=["1. a fact"], after=[[True, True, False], [True, False, False]])
    single_passage(qs / "eval" / "iter1.json", exp_name="iter1", dataset=f"{eval_dir}/iter1_val.json",
                   texts=["1. a fact"], after=[[True, True, False], [True, True, False]], timestamp="0509_231836")
    single_passage(qs / "eval" / "iter2.json", exp_name="iter2", dataset=f"{eval_dir}/iter2_val.json",
                   texts=["1. a fact"], after=[[True, True, True], [True, True, False]], timestamp="0513_013202")
    # the reference wrote exp_name "base" into the teacher's and the passage-only files too
    single_passage(qs / "eval" / "gpt4_1.json", exp_name="base", dataset=f"{eval_dir}/gpt4_1_val.json",
                   texts=["1. a teacher's fact"], after=[[True, True, True], [True, False, False]])
    single_passage(qs / "eval" / "naive.json", exp_name="base", dataset=f"{eval_dir}/naive_val.json",
                   texts=[""], after=[[True, False, False], [True, True, False]])
    single_passage(qs / "train" / "rank_iter0.json", exp_name=None, model="base", reps=3,
                   dataset="data/synthetic_data/train/iter0_train.json", texts=["1. one", "1. two"],
                   after=[[True, True, False], [True, False, False]])
    single_passage(qs / "alternate_prompts" / "eval" / "base_prompt-long.json", exp_name="long_eval",
                   dataset=f"{eval_dir}/alternate_prompts/base/base_val_prompt-long.json", texts=["1. long"],
                   after=[[True, True, False], [True, True, False]])
    cpt(root / "cpt" / "cpt_base.json", dataset=f"{eval_dir}/base_val.json", k_completions=5,
        titles=["T0", "T1"], per_title_n=[2, 2], after=[True, True, False, True])
    cpt(root / "cpt" / "cpt_gpt4_1.json", dataset=f"{eval_dir}/gpt4_1_val.json", k_completions=5,
        titles=["T0", "T1"], per_title_n=[2, 2], after=[True, False, False, True])
    cpt(root / "cpt" / "cpt_naive.json", dataset=f"{eval_dir}/base_val.json", k_completions=0,
        titles=["T0", "T1"], per_title_n=[2, 2], after=[True, False, False, False])
    forgetting(root / "continual_self_edits" / "overall_results.json", n_sequences=16)
    forgetting(root / "continual_self_edits" / "run0" / "summary_1748902664.json")
    return root


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> tuple[Store, dict[str, str], Path]:
    """Every small file imported through the CLI's folder import: (store, file stem -> run id, root)."""
    root = paper_results(tmp_path_factory.mktemp("results"))
    runs_dir = root.parent / "runs"
    proc = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "import", str(root)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    store = Store(runs_dir)
    ids = {}
    for run in store.list_runs():
        ref = json.loads(run["config_json"])["reference"]
        ids[Path(ref["file"]).stem] = run["id"]
    return store, ids, root


def state_of(store: Store, run_id: str) -> RunState:
    return apply(RunState(run_id), store.iter_events(run_id))


# ---------------------------------------------------------------- 1. round and policy, as the paper's table
def test_each_file_is_filed_on_its_round_with_its_policy_and_condition(paper):
    store, ids, _ = paper
    seen = {}
    for stem, run_id in ids.items():
        run = store.get_run(run_id)
        ref = json.loads(run["config_json"])["reference"]
        seen[stem] = (run["rounds"], run["model"], ref["condition"])
    assert seen == {
        "base": (0, "seal-ref/base", "base-model self-edits"),
        "iter1": (1, "seal-ref/iter1", "self-edits of the policy after round 1"),
        "iter2": (2, "seal-ref/iter2", "self-edits of the policy after round 2"),
        "gpt4_1": (0, "seal-ref/gpt-4.1", "GPT-4.1-written self-edits (teacher)"),
        "naive": (0, "seal-ref/base", "passage only (no self-edit)"),
        "rank_iter0": (1, "seal-ref/base", "base-model self-edits"),   # round 1's E-step, by the base model
        "base_prompt-long": (0, "seal-ref/base", "base-model self-edits (prompt: long)"),
        "cpt_base": (0, "seal-ref/base", "base-model self-edits"),
        "cpt_gpt4_1": (0, "seal-ref/gpt-4.1", "GPT-4.1-written self-edits (teacher)"),
        "cpt_naive": (0, "seal-ref/base", "passage only (no self-edit)"),
        "overall_results": (2, "seal-ref/iter2", "self-edits of the policy after round 2"),
        "summary_1748902664": (2, "seal-ref/iter2", "self-edits of the policy after round 2"),
    }
    long_prompt = json.loads(store.get_run(ids["base_prompt-long"])["config_json"])
    assert long_prompt["sample"]["prompt_style"] == "long"


def test_compare_lays_base_round_1_round_2_beside_teacher_and_passage_only(paper):
    """The paper's table read off Compare: the same numbers the files hold (means of per-passage
    accuracies), each on its round, the teacher and passage-only named."""
    store, ids, root = paper
    names = ("base", "iter1", "iter2", "gpt4_1", "naive")
    curves = {c.run_id: c for c in load_comparison(store, [ids[n] for n in names])}
    expected = {}
    for n in names:
        data = json.loads((root / "query_server" / "eval" / f"{n}.json").read_text())
        expected[n] = data["overall"]["adapter_mean_accuracy"]
    got = {n: (curves[ids[n]].heldout, curves[ids[n]].heldout_of) for n in names}
    assert got == {"base": ([(0, pytest.approx(expected["base"]))], ""),
                   "iter1": ([(1, pytest.approx(expected["iter1"]))], ""),
                   "iter2": ([(2, pytest.approx(expected["iter2"]))], ""),
                   "gpt4_1": ([(0, pytest.approx(expected["gpt4_1"]))], "teacher"),
                   "naive": ([(0, pytest.approx(expected["naive"]))], "passage only")}
    assert curves[ids["gpt4_1"]].facts["condition"] == "GPT-4.1-written self-edits (teacher)"


# ---------------------------------------------------------------- 2. passage only and teacher: not self-edits
def test_passage_only_is_shown_as_passage_only_and_not_counted_as_self_edits(paper):
    store, ids, root = paper
    naive = json.loads((root / "query_server" / "eval" / "naive.json").read_text())["overall"]
    run = store.get_run(ids["naive"])
    assert run["best_heldout"] is None and store.candidates(ids["naive"]) == []   # no self-edit was written
    ev = state_of(store, ids["naive"]).round_evals[0]
    assert (ev.none, ev.passage, ev.self_edit) == (pytest.approx(naive["baseline_mean_accuracy"]),
                                                   pytest.approx(naive["adapter_mean_accuracy"]), None)
    text = render_summary(run_summary(store, run))
    assert "best held-out" not in text and "result    held-out accuracy after training on the passage only" in text
    multi = state_of(store, ids["cpt_naive"]).round_evals[0].multi_passage
    assert (multi.passage, multi.self_edit) == (pytest.approx(0.25), None)
    teacher = state_of(store, ids["gpt4_1"])
    assert teacher.round_evals[0].teacher == pytest.approx(4 / 6) and teacher.round_evals[0].self_edit is None
    assert teacher.labels["teacher"] == "GPT-4.1 self-edits" and teacher.best_heldout is None
    assert state_of(store, ids["cpt_gpt4_1"]).round_evals[0].multi_passage.teacher == pytest.approx(0.5)


# ---------------------------------------------------------------- 3. every per-question answer exportable
def export_rows(store: Store, run_id: str, what: str) -> list[dict]:
    buf = io.StringIO(newline="")
    export_run(store, run_id, what, "csv", buf)
    return list(csv.DictReader(io.StringIO(buf.getvalue(), newline="")))


def test_cpt_and_passage_only_answers_export_and_repetitions_count_as_the_reward(paper):
    store, ids, root = paper
    rows = export_rows(store, ids["cpt_base"], "answers")
    data = json.loads((root / "cpt" / "cpt_base.json").read_text())
    assert len(rows) == data["eval_questions"] == 4 and {r["evaluation"] for r in rows} == {"multi_passage"}
    assert [r["correct_after"] == "True" for r in rows] == data["server_reply"]["adapter_correct"]
    naive_rows = export_rows(store, ids["naive"], "answers")
    assert len(naive_rows) == 6 and {r["evaluation"] for r in naive_rows} == {"passage_only"}
    # rank_iter0: 3 repetitions of 3 questions; the counts are over all 9 answers, as the reward
    cands = export_rows(store, ids["rank_iter0"], "candidates")
    first = cands[0]
    assert (first["n_questions"], first["n_runs"], first["n_correct_after"]) == ("3", "3", "6")
    assert int(first["n_correct_after"]) / 9 == pytest.approx(float(first["reward"]))
    assert len(export_rows(store, ids["rank_iter0"], "answers")) == 2 * 2 * 9


def test_per_title_keeps_repeated_titles_by_position_and_warns_where_the_file_lost_them(tmp_path):
    eval_dir = "data/synthetic_data/eval"
    # one writer repeated the key in the JSON text: both passages are kept, in order
    repeated = ('{\n    "T0": {"baseline_correct": [true], "adapter_correct": [true]},\n'
                '    "T0": {"baseline_correct": [false, false], "adapter_correct": [true, false]}\n  }')
    cpt(tmp_path / "cpt_iter2.json", dataset=f"{eval_dir}/iter2_val.json", k_completions=5,
        titles=["T0", "T1"], per_title_n=[1, 2], after=[True, True, False], per_article_text=repeated)
    plan = plan_import(tmp_path / "cpt_iter2.json")
    per_title = plan.eval_result["multi_passage"]["per_title"]
    assert [(t["position"], t["title"], t["n"]) for t in per_title] == [(0, "T0", 1), (1, "T0", 2)]
    assert plan.notes == []
    # the reference's own files: a dict by title, so a repeated title kept only its last passage
    cpt(tmp_path / "lost" / "cpt_iter2.json", dataset=f"{eval_dir}/iter2_val.json", k_completions=5,
        titles=["T0", "T1", "T0"], per_title_n=[2, 1, 1], after=[True, True, False, True])
    store = Store(tmp_path / "runs")
    outcome = import_file(store, tmp_path / "lost" / "cpt_iter2.json")
    multi = state_of(store, outcome.run_id).round_evals[2].multi_passage
    assert (len(multi.per_title), multi.per_title_covers, multi.n_questions) == (2, 2, 4)
    warnings = [e.payload.message for e in store.events_of(outcome.run_id, ("log",)) if e.payload.level == "warning"]
    assert any("2 titles covering 2 of 4 questions" in w for w in warnings), warnings
    assert len(export_rows(store, outcome.run_id, "answers")) == 4     # every answer, whatever per_article lost


@pytest.mark.skipif(not (RESULTS / "cpt_iter2.json").is_file(), reason=f"SEAL's reference results are absent ({RESULTS})")
def test_the_real_cpt_file_exports_its_974_answers_and_says_what_its_titles_cover(tmp_path):
    store = Store(tmp_path / "runs")
    outcome = import_file(store, RESULTS / "cpt_iter2.json")
    rows = export_rows(store, outcome.run_id, "answers")
    data = json.loads((RESULTS / "cpt_iter2.json").read_text())
    assert len(rows) == data["eval_questions"] == 974
    assert sum(r["correct_after"] == "True" for r in rows) / 974 == pytest.approx(data["overall"]["adapter_accuracy"],
                                                                                   abs=5e-4)
    covered = sum(len(v["baseline_correct"]) for v in data["per_article"].values())
    assert covered < 974 and f"covering {covered} of 974 questions" in " ".join(outcome_notes(store, outcome.run_id))


def outcome_notes(store: Store, run_id: str) -> list[str]:
    return json.loads(store.get_run(run_id)["config_json"])["reference"].get("notes") or []


# ---------------------------------------------------------------- 4. the file's own time, nothing invented
def test_times_are_the_files_own_or_unknown_never_invented(paper):
    store, ids, _ = paper
    now = time.time()
    for run_id in ids.values():
        assert all(e.ts <= now for e in store.iter_events(run_id))      # nothing in the future
        row = run_row(store, store.get_run(run_id))
        assert row["duration_s"] is None and row["finished_at"] is None
    base = run_row(store, store.get_run(ids["base"]))
    assert base["started_at"] is None and base["recorded"].startswith("05-09 22:49:17")   # MMDD_HHMMSS: no year
    assert base["imported_at"] == store.get_run(ids["base"])["created_at"]
    summary = run_row(store, store.get_run(ids["summary_1748902664"]))
    assert summary["started_at"] == 1748902664.0                           # summary_<UNIX seconds>
    assert run_row(store, store.get_run(ids["overall_results"]))["started_at"] is None
    cells = {}
    for name in ("base", "summary_1748902664", "overall_results"):
        run = dict(store.get_run(ids[name]), display_status="finished")
        values = run_values(run, now)
        cells[name] = (values[6][0], values[7][0], values[8][0])   # started, duration, source
    assert cells == {"base": ("????-05-09 22:49", "–", "imported"),
                     "summary_1748902664": (time.strftime("%Y-%m-%d %H:%M", time.localtime(1748902664)), "–",
                                            "imported"),
                     "overall_results": ("unknown", "–", "imported")}


# ---------------------------------------------------------------- 7. ls: kind and figure of every kind
def test_ls_json_gives_every_kind_its_condition_and_headline_figure(paper):
    store, ids, root = paper
    rows = {r["id"]: r for r in (run_row(store, run) for run in store.list_runs())}
    forgetting_file = json.loads((root / "continual_self_edits" / "overall_results.json").read_text())
    last_row = forgetting_file["mean_over_sequences"][-1]
    rank = json.loads((root / "query_server" / "train" / "rank_iter0.json").read_text())["overall"]
    cpt_base = json.loads((root / "cpt" / "cpt_base.json").read_text())["overall"]
    got = {n: (rows[ids[n]]["kind"], rows[ids[n]]["figure"]["unit"], rows[ids[n]]["figure"]["value"])
           for n in ("rank_iter0", "cpt_base", "overall_results", "naive")}
    assert got == {"rank_iter0": ("ranking", "reward", pytest.approx(rank["adapter_mean_accuracy"])),
                   "cpt_base": ("multi_passage", "accuracy", pytest.approx(cpt_base["adapter_accuracy"])),
                   "overall_results": ("forgetting", "accuracy", pytest.approx(sum(last_row) / len(last_row))),
                   "naive": ("evaluation", "accuracy", pytest.approx(0.5))}


# ---------------------------------------------------------------- 8. errors: one line, every file reported
def test_errors_are_one_short_line_naming_the_file_and_what_was_expected(tmp_path):
    cases = {"numbers.json": ("[1, 2, 3]", "a list of 3 numbers"),
             "unterminated.json": ('{"overall": "abc', "line 1 column 13: Unterminated string"),
             "unknown.json": ('{"hello": 1}', "unknown kind of file (top-level keys: hello)")}
    for name, (text, words) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ImportRejected) as err:
            plan_import(tmp_path / name)
        message = str(err.value)
        assert name in message and words in message and "\n" not in message, message
        assert len(message) - len(str(tmp_path)) < 200 and "at at" not in message, message


def test_a_folder_import_reports_every_file_and_imports_the_good_ones(tmp_path):
    folder = tmp_path / "results"
    single_passage(folder / "eval" / "iter1.json", exp_name="iter1", dataset="eval/iter1_val.json",
                   texts=["1. a"], after=[[True, False]])
    write_json(folder / "eval" / "broken.json", {"overall": {}, "articles": []})
    (folder / "numbers.json").write_text("[1, 2]")
    forgetting(folder / "continual" / "overall_results.json")
    run = [sys.executable, "-m", "seal_tui", "--runs-dir", str(tmp_path / "runs"), "import", str(folder)]
    proc = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "imported eval/iter1.json" in proc.stdout and "imported continual/overall_results.json" in proc.stdout
    assert "broken.json: overall.baseline_mean_accuracy is missing" in proc.stderr
    assert "numbers.json: the JSON is a list of 2 numbers" in proc.stderr
    assert "4 files: 2 imported, 0 skipped (imported before), 2 failed" in proc.stderr
    assert len(Store(tmp_path / "runs").list_runs()) == 2
    again = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "4 files: 0 imported, 2 skipped (imported before), 2 failed" in again.stderr


# ---------------------------------------------------------------- 9. smaller
def test_what_a_file_lacks_is_said_and_the_same_json_rewritten_is_the_same_import(tmp_path):
    path = tmp_path / "rank_iter1.json"
    data = single_passage(path, exp_name=None, model="iter1", dataset="data/synthetic_data/train/iter1_train.json",
                          texts=["1. a", "1. b"], after=[[True, False]], reps=3)
    for art in data["articles"]:        # as the real rank_iter1.json: no per-question lists
        for comp in art["completions"]:
            comp["questions"] = []
    write_json(path, data)
    store = Store(tmp_path / "runs")
    outcome = import_file(store, path)
    assert "no per-question answers" in " ".join(outcome_notes(store, outcome.run_id))
    assert "note      the file holds no per-question answers" in render_summary(run_summary(store, store.get_run(
        outcome.run_id)))
    rewritten = tmp_path / "other" / "rank_iter1.json"
    rewritten.parent.mkdir()
    rewritten.write_text(json.dumps(data, indent=None, sort_keys=True))   # other bytes, the same data
    again = import_file(store, rewritten)
    assert not again.created and again.run_id == outcome.run_id and len(store.list_runs()) == 1


def test_forgetting_std_says_what_the_file_averaged(paper):
    store, ids, _ = paper
    overall = state_of(store, ids["overall_results"]).round_evals[2].forgetting
    one_run = state_of(store, ids["summary_1748902664"]).round_evals[2].forgetting
    assert overall.std_note == "the mean of the runs' stds, each over its own sequences"
    assert one_run.std_note == "the std over 8 sequences"


# ---------------------------------------------------------------- 6. read-only runs read as read-only
@pilot_test
async def test_an_imported_runs_dashboard_says_what_its_file_holds_and_offers_no_pause_or_stop(paper, tmp_path):
    _, ids, root = paper
    runs_dir = root.parent / "runs"
    app = make_app(runs_dir)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_dashboard(pilot, ids["cpt_base"])
        await pilot.pause()
        panes = {name: text_of(screen.query_one(f"#{name}")) for name in ("system", "rewards", "accuracy-legend")}
        header = text_of(screen.query_one("#run-header"))
        keys = [k[2] for k in screen.query_one(KeyFooter).active_keys()[0]]
        await pilot.press("p", "s")          # bound, but not for a file: nothing is sent to an engine
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        evals = text_of(screen.query_one("#evals"))
        subtitle = screen.query_one("#candidates-pane").border_subtitle
    words = " ".join([*panes.values(), header, evals, subtitle])
    for live in ("yet", "waiting", "the engine samples", "set eval.multi_passage", "elapsed"):
        assert live not in words, (live, words)
    assert "No telemetry: an imported result file" in panes["system"]
    assert "its multi-passage evaluation is in the Evals pane" in " ".join(panes["accuracy-legend"].split())
    assert "multi-passage: base-model self-edits" in header and "(the file's timestamp 0514_205027: no year)" in header
    assert "Single passage  not in this file: it is a multi-passage result" in evals and "41.0%" not in evals
    assert "no self-edits in this file" in subtitle
    assert "Pause/resume" not in keys and "Stop" not in keys and "Review" not in keys and "Evals" in keys
    assert Store(runs_dir).conn.execute("SELECT COUNT(*) FROM commands").fetchone()[0] == 0


@pilot_test
async def test_the_runs_list_shows_the_source_the_full_preset_and_each_files_figure(paper):
    _, ids, root = paper
    app = make_app(root.parent / "runs")
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.3)
        table = app.screen.query_one(RunsTable)
        await until(pilot, lambda: table.row_count == len(ids), what="every run listed")
        text = text_of(table)
    assert "Source" in text and "seal-reference" in text and "seal-refer…" not in text
    rank = json.loads((root / "query_server" / "train" / "rank_iter0.json").read_text())["overall"]
    rank_line = next(line for line in text.splitlines() if "rank_iter0" in line)   # its mean reward
    assert f"{rank['adapter_mean_accuracy']:.3f}" in rank_line and "imported" in rank_line
    assert "????-05-09 22:49" in rank_line
