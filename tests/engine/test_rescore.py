"""seal-engine eval: a saved round's policy, or a base model, re-scored on a run's held-out set and
recorded as an evaluation of that run; bad runs, policies and settings refused by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib

import pytest

from engine import events as ev
from engine.cli import main as engine_main
from engine.store import Store
from tests.support.chat_server import ChatServer
from tests.support.common import REPO
from tests.support.engine_runs import engine_cmd


def engine_eval(runs_dir, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(engine_cmd("eval", *args, "--runs-dir", str(runs_dir)), cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def refused(capsys, runs_dir, run_id: str, *args: str) -> str:
    """The one line a refused re-score prints (the engine's command line, in this process: a refusal
    comes before any model loads); the run's log gets nothing."""
    store = Store(runs_dir)
    before = store.count_events(run_id)
    capsys.readouterr()
    assert engine_main(["eval", *args, "--runs-dir", str(runs_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seal-engine: error: ")
    assert store.count_events(run_id) == before
    return err.strip().removeprefix("seal-engine: error: ")


@pytest.mark.slow   # reads the session's recorded run (a real engine run)
def test_bad_runs_policies_and_settings_are_named(recorded_run, tmp_path, capsys):
    runs_dir, run_id = recorded_run
    assert refused(capsys, runs_dir, run_id, "no-such-run", "--round", "1") == (
        f"no run 'no-such-run' in {runs_dir / 'seal.db'}; 'seal-tui ls' lists the runs")
    assert refused(capsys, runs_dir, run_id, run_id) == (
        f"say which policy to score: --round N (run {run_id}'s saved rounds: 1, 2; 0 is its base model) "
        "or --policy FOLDER_OR_HUB_ID")
    assert refused(capsys, runs_dir, run_id, run_id, "--round", "7").startswith(
        f"--round 7: run {run_id} saved no policy for round 7 (rounds with a saved policy: 1, 2")
    missing = tmp_path / "nowhere"
    assert refused(capsys, runs_dir, run_id, run_id, "--policy", str(missing)).startswith(
        f"--policy {missing}: no such folder; give a saved policy's folder")
    empty = tmp_path / "empty-policy"
    empty.mkdir()
    assert str(empty) in refused(capsys, runs_dir, run_id, run_id, "--policy", str(empty))   # not a model folder: why
    assert refused(capsys, runs_dir, run_id, run_id, "--round", "1", "--set", "eval.k=0") == "eval.k = 0: must be >= 1 and <= 64"
    with pytest.raises(SystemExit) as both:
        engine_main(["eval", run_id, "--round", "1", "--policy", str(empty), "--runs-dir", str(runs_dir)])
    assert both.value.code == 2 and "argument --policy: not allowed with argument --round" in capsys.readouterr().err


def test_a_live_run_and_an_imported_one_are_refused(tmp_path, capsys):
    store = Store(tmp_path)
    store.record("live", ev.RunCreated(name="live"), round_=0, phase="setup")
    store.record("live", ev.RunStarted(pid=os.getpid()), round_=0, phase="setup")   # this process: alive
    store.record("imp", ev.RunCreated(name="imp", source="imported"), round_=0, phase="setup")
    assert refused(capsys, tmp_path, "live", "live", "--round", "0").startswith(
        f"run live is still running (engine pid {os.getpid()}): re-score a policy once it has ended")
    assert refused(capsys, tmp_path, "imp", "imp", "--round", "0").startswith("run imp was imported from result files")


@pytest.mark.slow
def test_a_rescore_reproduces_the_runs_own_evaluations_and_is_recorded_beside_them(recorded_eval_run, tmp_path):
    """The same policy, config and held-out set give the run's own figures again (every verdict from the
    store's judge cache: no request), recorded as policy_eval events; the run's status and curves stay."""
    src_dir, run_id = recorded_eval_run
    runs_dir = tmp_path / "runs"
    shutil.copytree(src_dir, runs_dir)   # the session's run stays as it was
    server = ChatServer().start()
    server.reply = lambda question, gold, answer: "yes" if zlib.crc32(f"{question}\n{answer}".encode()) % 2 else "no"
    url = ["--set", f"grader.base_url={json.dumps(server.url)}"]
    try:
        base = engine_eval(runs_dir, run_id, "--round", "0", *url, env={"SEAL_TEST_JUDGE_KEY": "k"})
        r1 = engine_eval(runs_dir, run_id, "--round", "1", *url, env={"SEAL_TEST_JUDGE_KEY": "k"})
    finally:
        server.stop()
    assert base.returncode == 0, base.stderr
    assert r1.returncode == 0, r1.stderr
    assert server.requests == 0, "the same answers: every verdict from the judge cache"
    store = Store(runs_dir)
    own = {e.round: e.payload for e in store.events_of(run_id, (ev.EvalResult.KIND,))}
    scored = [e.payload for e in store.events_of(run_id, (ev.PolicyEval.KIND,))]
    assert [(p.label, p.round) for p in scored] == [(f"base model {store.get_run(run_id)['model']}", 0),
                                                    ("round 1 policy", 1)]
    for p, r in zip(scored, (0, 1)):
        assert (p.none, p.self_edit, p.n_questions) == (own[r].none, own[r].self_edit, own[r].n_questions)
        assert p.multi_passage["self_edit"] == own[r].multi_passage["self_edit"]
        assert p.forgetting["row_mean"] == own[r].forgetting["row_mean"]
    assert scored[0].passage == own[0].passage and scored[1].passage is not None   # every condition measured
    assert f"run {run_id}: round 1 policy: no adaptation" in r1.stdout
    run = store.get_run(run_id)
    assert (run["status"], run["phase"]) == ("finished", "done")
    assert [m["round"] for m in store.metrics(run_id, "heldout_self_edit")] == [0, 1]   # the run's curve as it was
    shown = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "show", run_id],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "re-scored on this run's held-out set (seal-engine eval):" in shown.stdout
    assert "  round 1 policy: none" in shown.stdout
