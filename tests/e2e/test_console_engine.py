"""The console and its commands with a real engine behind them: show of an engine run and its
saved policies, run --detach / stale / resume / stop, and a run the engine refuses, started
from the new-run form."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from engine.store import Store
from seal_tui.screens.new_run import field_id
from tests.support.common import seal_tui, wait_for
from tests.support.console import make_app, pilot_test, text_of, until
from tests.support.engine_runs import tiny_run_args

pytestmark = pytest.mark.slow


@pytest.mark.slow
def test_ls_json_and_show_describe_a_recorded_engine_run(recorded_run):
    runs_dir, run_id = recorded_run
    proc = seal_tui(runs_dir, "ls", "--json")
    assert proc.returncode == 0, proc.stderr
    (row,) = [r for r in json.loads(proc.stdout) if r["id"] == run_id]
    assert (row["name"], row["status"], row["preset"], row["source"]) == ("recorded", "finished", "squad-small", "engine")
    assert row["rounds"] == 2 and row["duration_s"] > 0
    table = seal_tui(runs_dir, "ls").stdout
    assert run_id in table and "finished" in table and "2/2" in table

    proc = seal_tui(runs_dir, "show", run_id, "--json")
    summary = json.loads(proc.stdout)
    store = Store(runs_dir)
    by_round = {r["round"]: r for r in summary["rounds_detail"]}
    assert sorted(by_round) == [0, 1, 2]
    for rnd in (0, 1, 2):  # held-out accuracies are the engine's metrics
        expected = [m["value"] for m in store.metrics(run_id, "heldout_self_edit") if m["round"] == rnd]
        assert by_round[rnd]["heldout_self_edit"] == pytest.approx(expected[-1])
    assert by_round[1]["candidates"] == 12 and by_round[1]["kept"] == len(
        [c for c in store.candidates(run_id, 1) if c["kept"]])
    policies = {p["round"]: p for p in summary["policies"]}
    assert sorted(policies) == [1, 2] and all(p["exists"] for p in policies.values())
    assert (Path(policies[2]["path"]) / "config.json").is_file()  # an HF folder

    text = seal_tui(runs_dir, "show", "recorded").stdout  # by name
    assert f"run       {run_id}" in text and "squad-small" in text
    assert policies[1]["path"] in text and "kept adapters" in text
    assert "inner.lora_r=4" in text



@pytest.mark.slow
def test_run_detach_outlives_the_command_then_stale_resume_and_stop(tiny_model_dir, data_file, tmp_path):
    runs_dir = tmp_path / "runs"
    sets = tiny_run_args(tiny_model_dir, data_file, runs_dir)[5:]  # its --set pairs
    proc = seal_tui(runs_dir, "run", "--preset", "squad-small", *sets, "--name", "detached", "--detach", timeout=90)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    assert f"seal-tui --runs-dir {runs_dir.resolve()} attach {run_id}" in proc.stderr
    store = Store(runs_dir)
    pids: list[int] = []
    try:
        run = store.get_run(run_id)
        pids.append(run["pid"])
        assert run["name"] == "detached" and run["status"] == "running"
        os.kill(run["pid"], 0)  # the command returned; the engine runs on
        wait_for(lambda: store.count_events(run_id) > 3, timeout=60)
        assert (runs_dir / run_id / "engine-output.log").is_file()

        os.kill(run["pid"], signal.SIGKILL)  # the engine dies without a final status
        wait_for(lambda: json.loads(seal_tui(runs_dir, "ls", "--json").stdout)[0]["status"] == "stale", timeout=30)
        assert "stale" in seal_tui(runs_dir, "show", run_id).stdout

        proc = seal_tui(runs_dir, "resume", run_id, "--detach", timeout=90)
        assert proc.returncode == 0, proc.stderr
        assert f"attach {run_id}" in proc.stderr
        run = store.get_run(run_id)
        pids.append(run["pid"])
        assert run["pid"] != pids[0] and store.display_status(run) == "running"
        again = seal_tui(runs_dir, "resume", run_id)
        assert again.returncode == 2 and "still running" in again.stderr

        store.send_command(run_id, "stop")
        wait_for(lambda: store.get_run(run_id)["status"] == "stopped", timeout=240, interval=0.5)
        kinds = [e.kind for e in store.iter_events(run_id)]
        assert kinds.count("run_created") == 1 and kinds[-1] == "run_stopped"
    finally:
        for pid in pids:  # never leave an engine behind
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass



@pytest.mark.slow
@pilot_test
async def test_a_run_the_engine_refuses_is_said_on_the_form_and_leaves_nothing(tmp_path, data_file, monkeypatch):
    """Start a run from the form with a model that does not exist: the engine's checks refuse it before
    the run is recorded; the form says why, and the store holds no run and no run folder."""
    monkeypatch.chdir(tmp_path)
    app = make_app(Path("runs"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        form.query_one("#" + field_id("model.name_or_path")).value = str(tmp_path / "no-such-model")
        form.query_one("#" + field_id("data.path")).value = str(data_file)
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: form.starting is None and not form.valid, timeout=120, what="the refusal")
        assert app.screen is form, "a refused run opens no dashboard"
        summary = " ".join(text_of(form.query_one("#new-run-summary")).split())
        assert "model folder" in summary and "does not exist; check model.name_or_path" in summary
        assert form.query_one("#" + field_id("model.name_or_path")).has_class("-invalid")
    runs = Path("runs")
    assert not (runs / "seal.db").exists() or not Store(runs).list_runs()
    assert not runs.exists() or [p for p in runs.iterdir() if p.is_dir()] == []
