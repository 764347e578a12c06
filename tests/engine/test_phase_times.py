"""Where a run's wall time goes: each engine process records its seconds per phase (phase_times)
just before it ends, logs them as its last line, and ``seal-tui show`` sums them per run."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from engine import events as ev
from engine.runtime import RunContext
from engine.store import Store, run_summary
from tests.support.common import REPO

ROWS = ("sampling", "inner loop", "filter/review wait", "M-step", "held-out evaluation")


def _created(store: Store, run_id: str) -> None:
    store.record(run_id, ev.RunCreated(name=run_id, preset="sandbox", rounds=1), round_=0, phase="setup")


def test_paused_time_is_kept_apart_from_the_phase_it_interrupted(tmp_path):
    store = Store(tmp_path)
    _created(store, "r")
    run = RunContext(store, "r", logging.getLogger("test-phase-times"), tmp_path / "r")
    run.set_phase("inner_loop")
    store.send_command("r", "pause")
    resume = threading.Timer(0.6, lambda: Store(tmp_path).send_command("r", "resume"))
    resume.start()
    run.checkpoint()            # pauses until the resume arrives
    resume.join()
    run.end(ev.RunFinished())
    events = list(store.iter_events("r"))
    assert [e.kind for e in events[-2:]] == ["phase_times", "run_finished"]
    times = events[-2].payload
    assert times.seconds["paused"] >= 0.5
    assert times.seconds["inner_loop"] < 0.5, "the pause was counted in the phase it interrupted"
    assert sum(times.seconds.values()) == pytest.approx(times.wall_s, abs=0.01)
    rows = {r["name"]: r for r in run_summary(store, store.get_run("r"))["phase_times"]["rows"]}
    assert rows["paused"]["seconds"] >= 0.5


def test_a_resumed_runs_processes_add_up_and_an_old_log_says_it_has_no_times(tmp_path):
    store = Store(tmp_path)
    for run_id in ("resumed", "old"):
        _created(store, run_id)
    for seconds in ({"setup": 2.0, "sample": 10.0, "inner_loop": 30.0},
                    {"setup": 1.0, "inner_loop": 20.0, "train": 5.0, "eval": 32.0, "warmup": 1.0}):
        store.record("resumed", ev.PhaseTimes(seconds=seconds, wall_s=sum(seconds.values())))
    store.record("resumed", ev.RunFinished())
    store.record("old", ev.RunFinished())
    summary = run_summary(store, store.get_run("resumed"))["phase_times"]
    assert summary["processes"] == 2 and summary["wall_s"] == 101.0
    rows = {r["name"]: (r["seconds"], round(r["share"], 2)) for r in summary["rows"]}
    assert rows == {"setup": (3.0, 0.03), "sampling": (10.0, 0.1), "inner loop": (50.0, 0.5),
                    "filter/review wait": (0.0, 0.0), "M-step": (5.0, 0.05), "held-out evaluation": (32.0, 0.32),
                    "other": (1.0, 0.01)}   # a phase this version does not know is not lost
    shown = _show(tmp_path, "resumed")
    assert "over 2 engine processes" in shown
    assert any(line.split()[:2] == ["inner", "loop"] and line.rstrip().endswith("49.5%") for line in shown.splitlines())
    assert "wall time by phase: not recorded" in _show(tmp_path, "old")


@pytest.mark.slow
def test_a_finished_run_says_where_its_time_went(recorded_run):
    runs_dir, run_id = recorded_run
    store = Store(runs_dir)
    events = list(store.iter_events(run_id))
    assert [e.kind for e in events[-2:]] == ["phase_times", "run_finished"]
    times = events[-2].payload
    assert all(times.seconds.get(p, 0) > 0 for p in ("setup", "sample", "inner_loop", "train", "eval")), times
    assert sum(times.seconds.values()) == pytest.approx(times.wall_s, rel=0.01)
    last_log = [e.payload.message for e in events if e.kind == "log"][-1]
    assert last_log.startswith("wall time ") and "inner loop" in last_log and "M-step" in last_log
    shown = _show(runs_dir, run_id).splitlines()
    at = next(i for i, line in enumerate(shown) if line.startswith("wall time by phase"))
    table = {line.strip().rsplit(None, 3)[0]: float(line.rstrip("%").rsplit(None, 1)[1]) for line in shown[at + 1:at + 8]
             if line.startswith("  ")}
    assert set(ROWS) <= set(table)
    assert sum(table.values()) == pytest.approx(100, abs=0.5)


def _show(runs_dir, run_id: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "show", run_id],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
