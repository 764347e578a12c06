"""A killed engine leaves a stale run; resume continues it without redoing finished work."""

from __future__ import annotations

import signal
import subprocess

import pytest

from engine.store import Store
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import engine_cmd, run_engine, tiny_run_args

pytestmark = pytest.mark.slow


def test_kill_9_then_resume_keeps_scores_and_decisions(tiny_model_dir, data_file, tmp_path):
    args = tiny_run_args(tiny_model_dir, data_file, tmp_path, "--set", "run.rounds=2",
                         "--set", "run.review=\"kept\"")
    proc = subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = Store(tmp_path)
    try:
        def waiting():
            runs = store.list_runs()
            return runs and runs[0]["status"] == "awaiting_review" and runs[0]["id"]
        run_id = wait_for(waiting, timeout=180)
        scored_before = {c["id"]: c["scored_at"] for c in store.candidates(run_id)}
        kept = [c for c in store.candidates(run_id) if c["kept"]]
        store.decide(run_id, kept[0]["id"], "approve")
        store.decide(run_id, kept[1]["id"], "edit", edited_text="An edited note.")
        wait_for(lambda: sum(e.kind == "review_decided" for e in store.iter_events(run_id)) == 2, timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    run = store.get_run(run_id)
    assert run["status"] == "awaiting_review" and store.is_stale(run)
    first_start = run["started_at"]
    assert store.display_status(run) == "stale"

    resumed = subprocess.Popen(engine_cmd("resume", run_id, "--runs-dir", str(tmp_path)), cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: store.get_run(run_id)["status"] == "awaiting_review"
                 and [e for e in store.iter_events(run_id) if e.kind == "review_waiting"][1:], timeout=180)
        second_wait = [e.data for e in store.iter_events(run_id) if e.kind == "review_waiting"][1]
        assert second_wait["already_decided"] == 2
        for c in kept[2:]:
            store.decide(run_id, c["id"], "reject")
        # round 2 asks again: approve everything kept there
        def round2_waiting():
            waits = [e for e in store.iter_events(run_id) if e.kind == "review_waiting" and e.round == 2]
            return waits and waits[-1].data["candidate_ids"]
        for cid in wait_for(round2_waiting, timeout=240):
            store.decide(run_id, cid, "approve")
        assert resumed.wait(timeout=240) == 0, resumed.stderr.read()
    finally:
        resumed.kill()
    final = store.get_run(run_id)
    assert final["status"] == "finished" and not store.is_stale(final)
    assert final["started_at"] == first_start, "resume must not reset the run's start time"
    cands = store.candidates(run_id)
    keys = [(c["round"], c["context_idx"], c["cand_idx"]) for c in cands]
    assert len(keys) == len(set(keys)) == 2 * 4 * 3, "resume duplicated candidates"
    round1 = {c["id"]: c for c in cands if c["round"] == 1}
    assert {cid: round1[cid]["scored_at"] for cid in scored_before} == scored_before, "resume rescored"
    trained = {c["id"]: c["trained_text"] for c in cands if c["round"] == 1 and c["trained_text"]}
    assert trained == {kept[0]["id"]: kept[0]["self_edit"], kept[1]["id"]: "An edited note."}
    assert [m["round"] for m in store.metrics(run_id, "heldout_self_edit")] == [0, 1, 2]
    # resume records each event once: round 1's scores and filter verdicts were in before the kill
    for name in ("train_reward_mean", "train_reward_max", "baseline_mean", "kept_count"):
        assert [m["round"] for m in store.metrics(run_id, name)] == [1, 2], name
    filtered = [e.data["id"] for e in store.iter_events(run_id) if e.kind == "candidate_filtered"]
    assert sorted(filtered) == sorted(c["id"] for c in cands), "a candidate was filtered twice, or never"


def test_resume_refuses_finished_and_unknown_runs(recorded_run):
    runs_dir, run_id = recorded_run
    done = run_engine("resume", run_id, "--runs-dir", str(runs_dir))
    assert done.returncode == 2 and "already finished" in done.stderr and "Traceback" not in done.stderr
    unknown = run_engine("resume", "no-such-run", "--runs-dir", str(runs_dir))
    assert unknown.returncode == 2 and "no run 'no-such-run'" in unknown.stderr


def test_a_resume_just_after_a_rounds_evaluation_does_not_evaluate_it_again(recorded_run, tmp_path):
    """The log as a kill leaves it right after round 1's evaluation (its result and metrics are
    written together), before the round was marked finished: resume goes on to round 2 and records
    round 1's evaluation once."""
    import shutil

    src, run_id = recorded_run
    events = list(Store(src).iter_events(run_id))
    i = next(i for i, e in enumerate(events) if e.kind == "eval_result" and e.round == 1)
    while events[i + 1].kind == "metric" and events[i + 1].data["name"].startswith("heldout_"):
        i += 1
    runs_dir = tmp_path / "runs"
    Store(runs_dir).replay_into(events[: i + 1])
    shutil.copytree(src / run_id, runs_dir / run_id)
    store = Store(runs_dir)
    assert store.display_status(store.get_run(run_id)) == "stale"

    resumed = run_engine("resume", run_id, "--runs-dir", str(runs_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert [e.round for e in store.iter_events(run_id) if e.kind == "eval_result"] == [0, 1, 2]
    for name in ("heldout_none", "heldout_self_edit", "train_reward_mean"):
        rounds = [m["round"] for m in store.metrics(run_id, name)]
        assert len(rounds) == len(set(rounds)), f"{name} recorded twice for a round: {rounds}"
    assert store.get_run(run_id)["status"] == "finished"
