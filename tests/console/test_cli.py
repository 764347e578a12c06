"""The terminal subcommands (ls, show, run, resume, export, import) run as a user runs them:
``python -m seal_tui --runs-dir D ...`` in a subprocess, against stores rebuilt from a real
engine run's recorded events. With a live engine: tests/e2e/test_console_engine.py."""

from __future__ import annotations

import csv
import json
import subprocess
import time

import pytest

from engine import events as ev
from engine.store import Store
from tests.support.common import RESULTS, seal_tui
from tests.support.console import copy_store


# ---------------------------------------------------------------- fast: no engine
def test_ls_on_a_missing_store_prints_an_empty_list_and_creates_nothing(tmp_path):
    proc = seal_tui(tmp_path / "runs", "ls", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    assert not (tmp_path / "runs").exists()
    proc = seal_tui(tmp_path / "runs", "ls")
    assert proc.returncode == 0 and "no runs" in proc.stdout


def test_show_and_export_of_an_unknown_run_say_so(tmp_path):
    Store(tmp_path).close()
    for args in (("show", "nope"), ("export", "nope"), ("resume", "nope")):
        proc = seal_tui(tmp_path, *args)
        assert proc.returncode == 2, args
        assert "no run 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_run_with_a_bad_config_starts_nothing(tmp_path):
    proc = seal_tui(tmp_path, "run", "--preset", "sandbox", "--set", "inner.lr=fast", "--detach")
    assert proc.returncode == 2
    assert "inner.lr" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(seal_tui(tmp_path, "ls", "--json").stdout) == []


def test_imported_runs_are_listed_shown_and_not_resumable(tmp_path):
    sft = tmp_path / "sft_best1of2_iter0.jsonl"
    sft.write_text("".join(json.dumps({"prompt": f"Passage:\nTitle {i}\nText {i}.\n\nImplications:\n",
                                       "completion": f"1. fact {i}"}) + "\n" for i in range(3)))
    runs = tmp_path / "runs"
    proc = seal_tui(runs, "import", str(sft))
    assert proc.returncode == 0 and "imported sft_best1of2_iter0.jsonl" in proc.stdout
    (row,) = json.loads(seal_tui(runs, "ls", "--json").stdout)
    assert (row["source"], row["status"], row["preset"], row["rounds"]) == ("imported", "finished", "seal-reference", 1)
    again = seal_tui(runs, "import", str(sft))
    assert again.returncode == 0 and "already imported" in again.stdout
    assert len(json.loads(seal_tui(runs, "ls", "--json").stdout)) == 1
    show = seal_tui(runs, "show", row["id"])
    assert show.returncode == 0 and "imported: " in show.stdout and "3 examples" in show.stdout
    resume = seal_tui(runs, "resume", row["id"])
    assert resume.returncode == 2 and "imported" in resume.stderr


# ---------------------------------------------------------------- against a real engine run
def test_show_lists_kept_adapter_folders(recording, tmp_path):
    runs_dir, run_id = recording
    copy = copy_store(runs_dir, tmp_path / "runs")
    store = Store(copy)
    run_dir = tmp_path / "runs" / run_id
    with store.conn:     # the copy's run folder is here (the store records where the engine wrote it)
        store.conn.execute("UPDATE runs SET run_dir=? WHERE id=?", (str(run_dir), run_id))
    kept = [c for c in store.candidates(run_id, 1) if c["kept"]][:2]
    for c in kept:  # what run.save_kept_adapters leaves (PEFT format)
        folder = run_dir / "adapters" / "round-1" / f"candidate-{c['id']}"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
    summary = json.loads(seal_tui(copy, "show", run_id, "--json").stdout)
    assert [a["candidate_id"] for a in summary["adapters"]] == sorted(c["id"] for c in kept)
    assert all(a["peft"] and a["kept"] and a["round"] == 1 for a in summary["adapters"])
    text = seal_tui(copy, "show", run_id).stdout
    assert str(run_dir / "adapters" / "round-1" / f"candidate-{kept[0]['id']}") in text


def test_export_of_a_recorded_run_reads_back(recording, tmp_path):
    runs_dir, run_id = recording
    store = Store(runs_dir)
    out = tmp_path / "cands.csv"
    proc = seal_tui(runs_dir, "export", run_id, "--format", "csv", "--out", str(out))
    assert proc.returncode == 0 and "wrote 24 candidates rows" in proc.stdout
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(store.candidates(run_id)) == 24
    assert {int(r["n_questions"]) for r in rows} == {3}
    proc = seal_tui(runs_dir, "export", run_id, "--what", "events", "--out", "-")
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(events) == store.count_events(run_id)
    assert events[0]["kind"] == "run_created" and events[-1]["kind"] == "run_finished"


@pytest.mark.skipif(not (RESULTS / "eval_iter2.json").is_file(), reason=f"SEAL's reference results are absent ({RESULTS})")
def test_reference_results_sit_next_to_an_engine_run(recording, tmp_path):
    runs_dir, _ = recording
    copy = copy_store(runs_dir, tmp_path / "runs")
    proc = seal_tui(copy, "import", str(RESULTS))
    assert proc.returncode == 0, proc.stderr
    assert sum(line.startswith("imported ") for line in proc.stdout.splitlines()) == 5
    assert "5 files: 5 imported, 0 skipped (imported before), 0 failed" in proc.stdout
    rows = json.loads(seal_tui(copy, "ls", "--json").stdout)
    assert sorted(r["source"] for r in rows) == ["engine"] + ["imported"] * 5
    ref = next(r for r in rows if r["name"] == "seal-ref eval_iter2")
    assert ref["best_heldout"] == pytest.approx(0.4699, abs=5e-5)
    # every kind says what it is and carries its headline figure (not only the single-passage one)
    kinds = {r["name"]: (r["kind"], r["rounds"], r["figure"]["value"]) for r in rows if r["source"] == "imported"}
    assert kinds == {"seal-ref eval_iter2": ("evaluation", 2, pytest.approx(0.4699)),
                     "seal-ref rank_iter1": ("ranking", 2, pytest.approx(0.4332)),
                     "seal-ref cpt_iter2": ("multi_passage", 2, pytest.approx(0.4384)),
                     "seal-ref continual_overall": ("forgetting", 2, pytest.approx(0.2474, abs=5e-5)),
                     "seal-ref sft_best1of5_iter0": ("mstep_set", 1, 50)}
    text = seal_tui(copy, "show", ref["id"]).stdout
    assert "47.0%" in text and "33.4%" in text


def test_show_counts_reviews_and_skipped_m_steps_and_ls_marks_a_dead_engine_stale(tmp_path):
    store = Store(tmp_path)
    rid = "r-review"
    store.record(rid, ev.RunCreated(name="reviewed", preset="sandbox", model="m", rounds=2,
                                    config={"run": {"rounds": 2, "review": "kept"}}), round_=0, phase="setup")
    dead = subprocess.Popen(["true"])                   # the engine: a process that is gone
    dead.wait()
    store.record(rid, ev.RunStarted(pid=dead.pid), ts=time.time() - 60)
    ids = store.add_candidates(rid, 1, [ev.CandidateSampled(context_idx=i, cand_idx=0, title="T", self_edit="e")
                                        for i in range(3)])
    for i, (cid, reward) in enumerate(zip(ids, (0.5, 0.25, 0.0))):
        store.record(rid, ev.CandidateScored(id=cid, context_idx=i, reward=reward, baseline=0.0, gain=reward,
                                             train_sequences=["s"],
                                             answers=[{"question": "q", "gold": "g", "answer_before": "",
                                                       "answer_after": "g", "correct_before": False,
                                                       "correct_after": reward > 0}]), round_=1)
    store.record_many(rid, [ev.CandidateFiltered(id=cid, kept=cid != ids[2], reason="r") for cid in ids], round_=1)
    store.record(rid, ev.ReviewDone(approved=1, rejected=0, edited=1), round_=1)
    store.record(rid, ev.MStepDone(policy_path=str(tmp_path / "gone"), examples=2, loss=1.5), round_=1)
    store.record(rid, ev.MStepDone(examples=0, skipped=True, reason="nothing kept"), round_=2)
    store.record(rid, ev.Metric(name="heldout_self_edit", value=0.5), round_=1)

    summary = json.loads(seal_tui(tmp_path, "show", "reviewed", "--json").stdout)
    r1, _ = summary["rounds_detail"]
    assert (r1["candidates"], r1["kept"], r1["review"]) == (3, 2, {"approved": 1, "rejected": 0, "edited": 1})
    assert r1["train_reward_mean"] == pytest.approx(0.25) and r1["heldout_self_edit"] == 0.5
    assert summary["policies"] == [{"round": 1, "path": str(tmp_path / "gone"), "exists": False}]
    text = seal_tui(tmp_path, "show", "reviewed").stdout
    assert "1/0/1" in text and "(missing)" in text and "skipped: nothing kept" in text
    assert "stale: the engine is gone" in text
    (row,) = json.loads(seal_tui(tmp_path, "ls", "--json").stdout)
    assert (row["status"], row["stored_status"]) == ("stale", "running")
    assert "is stale" in seal_tui(tmp_path, "ls").stdout


def test_show_of_a_fewshot_run_speaks_of_plans_and_arc_tasks(fewshot_runs):
    """A few-shot run's summary names its held-out conditions as the task does, gives the success
    rate per round and the few-shot settings, not the passages' (inner.split, prompt style)."""
    runs_dir, run_id = fewshot_runs
    runs_dir = runs_dir.resolve()   # the subcommand runs in the repository
    summary = json.loads(seal_tui(runs_dir, "show", run_id, "--json").stdout)
    assert summary["task"] == "fewshot" and summary["config"]["run.task"] == "fewshot"
    assert "fewshot.ttt_cap" in summary["config"] and "inner.split" not in summary["config"]
    text = seal_tui(runs_dir, "show", run_id).stdout
    assert "best held-out (self-edit TTT)" in text
    header = next(line for line in text.splitlines() if line.startswith("round"))
    assert header.split("  ")[:1] == ["round"] and all(
        w in header for w in ("in-context only", "oracle", "self-edit TTT", "success"))
    store = Store(runs_dir)
    cands = store.candidates(run_id, 1)
    success = sum(c["reward"] for c in cands) / len(cands)
    row = next(line for line in text.splitlines() if line.startswith("1 "))
    assert f"{100 * success:.1f}%" in row
    assert "sample.prompt_style" not in text and "fewshot.max_steps=" in text
