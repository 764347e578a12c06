"""The engine as users run it: a real subprocess writing a real SQLite store."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess

import pytest

from engine.store import Store
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import engine_cmd, run_engine, tiny_run_args

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(recorded_run):
    """The session's recorded run (2 rounds on 4 contexts per round, SQuAD passages when
    ../shared is there, kept adapters saved): (store, run_id)."""
    runs_dir, run_id = recorded_run
    return Store(runs_dir), run_id


def test_run_finishes_with_every_phase_recorded(finished_run):
    store, run_id = finished_run
    run = store.get_run(run_id)
    assert run["status"] == "finished" and run["finished_at"] >= run["started_at"]
    kinds = [e.kind for e in store.iter_events(run_id) if e.kind != "telemetry"]
    assert kinds[0] == "run_created" and kinds[-1] == "run_finished"
    phases = [(e.round, e.data["phase"]) for e in store.iter_events(run_id) if e.kind == "phase"]
    for r in (1, 2):
        seq = [p for rr, p in phases if rr == r]
        assert seq == ["sample", "inner_loop", "filter", "review", "train", "eval"], seq
    assert [p for rr, p in phases if rr == 0] == ["setup", "eval"]
    for kind in ("candidate_sampled", "candidate_scored", "candidate_filtered", "mstep_progress",
                 "mstep_done", "eval_result", "metric", "log", "contexts"):
        assert kind in kinds, kind


def test_candidates_have_rewards_and_per_question_records(finished_run):
    store, run_id = finished_run
    cands = store.candidates(run_id)
    assert len(cands) == 2 * 4 * 3  # rounds x contexts x K
    contexts = {c["idx"]: c for c in store.get_contexts(run_id, "train")}
    for c in cands:
        assert 0.0 <= c["reward"] <= 1.0 and 0.0 <= c["baseline"] <= 1.0
        assert c["gain"] == pytest.approx(c["reward"] - c["baseline"])
        answers = store.answers(c["id"])
        assert len(answers) == min(3, len(contexts[c["context_idx"]]["questions"]))
        assert c["reward"] == pytest.approx(sum(a["correct_after"] for a in answers) / len(answers))
        for a in answers:
            assert a["gold"] and a["question"] and a["reason"]
        assert json.loads(c["train_sequences_json"]) is not None


def test_kept_candidates_obey_the_filter_rule(finished_run):
    store, run_id = finished_run
    by_ctx: dict = {}
    for c in store.candidates(run_id):
        by_ctx.setdefault((c["round"], c["context_idx"]), []).append(c)
    for group in by_ctx.values():
        kept = [c for c in group if c["kept"]]
        assert len(kept) == 1  # top_k = 1, min_gain = -1: one per context
        assert kept[0]["reward"] == max(c["reward"] for c in group)
        assert all(c["keep_reason"] for c in group)
        assert kept[0]["trained_text"] == kept[0]["self_edit"]


def test_each_rounds_policy_reloads_with_from_pretrained(finished_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    store, run_id = finished_run
    paths = [e.data["policy_path"] for e in store.iter_events(run_id) if e.kind == "mstep_done"]
    assert len(paths) == 2
    for p in paths:
        AutoTokenizer.from_pretrained(p)
        model = AutoModelForCausalLM.from_pretrained(p)
        assert not any("lora" in n or n.endswith(".A") for n, _ in model.named_parameters())


def test_heldout_metrics_for_rounds_0_to_2(finished_run):
    store, run_id = finished_run
    for name, rounds in (("heldout_none", [0, 1, 2]), ("heldout_self_edit", [0, 1, 2]),
                         ("heldout_passage", [0])):  # the passage-only baseline is the base model's
        rows = store.metrics(run_id, name)
        assert [r["round"] for r in rows] == rounds, name
        assert all(0.0 <= r["value"] <= 1.0 for r in rows)


def test_store_is_readable_with_sqlite3_and_logs_are_written(finished_run):
    store, run_id = finished_run
    con = sqlite3.connect(store.path)
    n_events = con.execute("SELECT COUNT(*) FROM events WHERE run_id=?", (run_id,)).fetchone()[0]
    assert n_events > 50
    log = (store.runs_dir / run_id / "engine.log").read_text()
    assert "finished" in log and "held-out accuracy" in log
    assert (store.runs_dir / run_id / "config.toml").read_text().startswith("[run]")


def _start(tiny_model_dir, data_file, runs_dir, *extra):
    args = tiny_run_args(tiny_model_dir, data_file, runs_dir, "--set", "run.rounds=6", *extra)
    return subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_pause_resume_and_stop_through_the_commands_table(tiny_model_dir, data_file, tmp_path):
    proc = _start(tiny_model_dir, data_file, tmp_path)
    try:
        store = Store(tmp_path)
        run_id = wait_for(lambda: (store.list_runs() or [{}])[0].get("id"))
        wait_for(lambda: store.candidates(run_id), timeout=120)
        store.send_command(run_id, "pause")
        wait_for(lambda: store.get_run(run_id)["status"] == "paused", timeout=60)
        n = store.count_events(run_id)
        last_work = max(e.id for e in store.iter_events(run_id) if e.kind not in ("telemetry", "log"))
        wait_for(lambda: store.count_events(run_id) > n + 1, timeout=10)  # telemetry keeps beating
        work = [e for e in store.events_after(run_id, last_work) if e.kind not in ("telemetry", "log", "command_ack", "run_paused")]
        assert work == [], "the engine kept working while paused"
        store.send_command(run_id, "resume")
        wait_for(lambda: store.get_run(run_id)["status"] == "running", timeout=30)
        store.send_command(run_id, "stop")
        assert proc.wait(timeout=120) == 3
        assert store.get_run(run_id)["status"] == "stopped"
        acks = [e.data["kind"] for e in store.iter_events(run_id) if e.kind == "command_ack" and e.data["ok"]]
        assert acks == ["pause", "resume", "stop"]
    finally:
        proc.kill()


def test_sigterm_stops_cleanly(tiny_model_dir, data_file, tmp_path):
    proc = _start(tiny_model_dir, data_file, tmp_path)
    try:
        store = Store(tmp_path)
        run_id = wait_for(lambda: (store.list_runs() or [{}])[0].get("id"))
        wait_for(lambda: store.candidates(run_id), timeout=120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 3
        run = store.get_run(run_id)
        assert run["status"] == "stopped" and not store.is_stale(run)
        assert any(e.kind == "run_stopped" for e in store.iter_events(run_id))
    finally:
        proc.kill()


def test_sigterm_while_the_engine_loads_stops_it_there(tiny_model_dir, data_file, tmp_path):
    """Setup (imports, the model) has nothing to lose: SIGTERM stops it at once, not once it is done."""
    proc = _start(tiny_model_dir, data_file, tmp_path)
    try:
        store = Store(tmp_path)
        run_id = wait_for(lambda: (store.list_runs() or [{}])[0].get("id"), interval=0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 3, proc.stderr.read()
        run = store.get_run(run_id)
        assert run["status"] == "stopped" and run["phase"] == "setup"
        logs = [e.data["message"] for e in store.iter_events(run_id) if e.kind == "log"]
        assert not any("parameters on" in line for line in logs), "the model was loaded after SIGTERM"
        assert not [e for e in store.iter_events(run_id) if e.kind == "round_started"]
    finally:
        proc.kill()


def test_bad_inputs_give_a_named_error_and_no_traceback(tiny_model_dir, data_file, tmp_path):
    bad_cfg = run_engine("run", "--runs-dir", str(tmp_path), "--set", "inner.lr=fast")
    assert bad_cfg.returncode == 2 and "inner.lr = 'fast'" in bad_cfg.stderr
    assert "Traceback" not in bad_cfg.stderr
    assert not Store(tmp_path).list_runs(), "a rejected config must not create a run"
    missing = run_engine(*tiny_run_args(tmp_path / "no-model", data_file, tmp_path))
    assert missing.returncode == 2 and "no-model" in missing.stderr and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_data = tmp_path / "bad.json"
    bad_data.write_text('[{"title": "x"}]')
    broken = run_engine(*tiny_run_args(tiny_model_dir, bad_data, tmp_path))
    assert broken.returncode == 2 and "bad.json" in broken.stderr and '"context"' in broken.stderr
    # every input is checked before the run is recorded: nothing is left behind
    assert not Store(tmp_path).list_runs(), "a refused input must leave no run"
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [], "a refused input must leave no run folder"


def test_kept_adapters_are_saved_in_peft_format_and_only_for_kept(finished_run, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    store, run_id = finished_run
    root = store.runs_dir / run_id / "adapters"
    saved = sorted(int(p.name.split("-")[1]) for p in root.glob("round-*/candidate-*"))
    kept = sorted(c["id"] for c in store.candidates(run_id) if c["kept"])
    assert saved == kept
    folder = next(root.glob("round-1/candidate-*"))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), folder)
    assert any("lora_A" in n for n, _ in model.named_parameters())


def test_reward_repeats_average_independent_inner_loop_runs(tmp_path):
    """inner.reward_repeats = 2 on the shipped sandbox model: every candidate is adapted twice,
    from two LoRA initialisations; its reward is the mean of the two runs' accuracies, and the
    console shows both runs' answers."""
    from rich.console import Console

    from seal_tui.reducer import apply
    from seal_tui.review_data import ReviewSnapshot
    from seal_tui.state import RunState
    from seal_tui.widgets.candidate_detail import render_candidate
    from seal_tui.widgets.review_evidence import render_evidence

    proc = run_engine("run", "--preset", "sandbox", "--runs-dir", str(tmp_path), "--set", "run.rounds=1",
                      "--set", "data.n_train=3", "--set", "data.n_heldout=2", "--set", "sample.k=2",
                      "--set", "inner.reward_repeats=2", "--set", "run.threads=1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    store = Store(tmp_path)
    run_id = store.list_runs()[0]["id"]
    contexts = {c["idx"]: c for c in store.get_contexts(run_id, "train")}
    scored = {e.data["id"]: e.data for e in store.iter_events(run_id) if e.kind == "candidate_scored"}
    cands = store.candidates(run_id)
    assert len(cands) == 3 * 2 and set(scored) == {c["id"] for c in cands}
    for c in cands:
        n_q = len(contexts[c["context_idx"]]["questions"])
        answers = store.answers(c["id"])
        runs = [[a for a in answers if a["rep"] == rep] for rep in (0, 1)]
        assert [len(r) for r in runs] == [n_q, n_q]
        per_run = [sum(a["correct_after"] for a in r) / n_q for r in runs]
        assert scored[c["id"]]["rewards"] == pytest.approx(per_run)
        assert c["reward"] == pytest.approx(sum(per_run) / 2)
        assert c["gain"] == pytest.approx(c["reward"] - c["baseline"])
    state = apply(RunState(run_id=run_id), store.iter_events(run_id))
    cand = state.candidates[cands[0]["id"]]
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(render_candidate(cand, contexts[cand.context_idx]))
    text = console.export_text()
    assert "mean of 2 inner-loop runs" in text
    assert "inner-loop run 1 of 2" in text and "inner-loop run 2 of 2" in text
    # the review screen reads the same answers from the store and says the same
    row = next(c for c in cands if c["id"] == cand.id)
    snapshot = ReviewSnapshot(run_id=run_id, answers={cand.id: store.answers(cand.id)})
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(render_evidence(snapshot, row))
    review_text = console.export_text()
    rewards = ", ".join(f"{r:.2f}" for r in scored[cand.id]["rewards"])
    assert f"mean of 2 inner-loop runs: {rewards}" in review_text
    assert f"mean of 2 inner-loop runs: {rewards}" in text
    assert "inner-loop run 2 of 2" in review_text


def test_a_run_scores_the_same_whatever_else_the_store_holds(tmp_path):
    """The same config and run.seed give the same rewards and held-out figures whether the
    run is alone in its store or follows another run there (the inner loop's LoRA seeds come
    from the candidate's round, context and sample, not from its row id)."""
    args = ["run", "--preset", "sandbox", "--runs-dir", str(tmp_path), "--set", "run.rounds=1",
            "--set", "data.n_train=3", "--set", "data.n_heldout=2", "--set", "sample.k=2",
            "--set", "run.threads=1"]
    for run_id in ("first", "second"):
        proc = run_engine(*args, "--run-id", run_id, timeout=300)
        assert proc.returncode == 0, proc.stderr
    store = Store(tmp_path)

    def rewards(run_id):
        return {(c["round"], c["context_idx"], c["cand_idx"]): (c["self_edit"], c["reward"], bool(c["kept"]))
                for c in store.candidates(run_id)}

    def heldout(run_id):
        return {(m["round"], m["name"]): m["value"] for m in store.metrics(run_id) if m["name"].startswith("heldout_")}

    first, second = rewards("first"), rewards("second")
    assert len(first) == 3 * 2
    ids = {run_id: {c["id"] for c in store.candidates(run_id)} for run_id in ("first", "second")}
    assert not ids["first"] & ids["second"]  # the second run's candidates have other row ids...
    assert second == first  # ...and the same self-edits, rewards and verdicts
    assert heldout("second") == heldout("first") and heldout("first")
