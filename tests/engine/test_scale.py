"""The Ray executor (run.executor = "ray") as users run it: a real engine subprocess on a Ray
cluster started by the test (a local one the engine starts, or two Ray nodes on loopback),
the tiny or sandbox model, a real SQLite store. Each test keeps its cluster small (1 CPU per
node) and shuts it down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from engine.config import ConfigError, load_config
from engine.store import Store
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import engine_cmd, heldout, run_engine, scored, tiny_run_args

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}   # nothing leaves the machine


def ray_args(*extra: str, workers: int = 2, address: str = "") -> list[str]:
    return ["--set", 'run.executor="ray"', "--set", f"run.workers={workers}", "--set", "run.worker_cpus=1",
            *(["--set", f"run.ray_address={json.dumps(address)}"] if address else []), *extra]




def events(store: Store, run_id: str, kind: str) -> list:
    return [e for e in store.iter_events(run_id) if e.kind == kind]


@contextmanager
def engine_running(args: list[str], folder: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """The engine in the background, its output in files (a pipe nobody reads would fill):
    (process, its stderr file); killed on the way out if it is still running."""
    err = folder / "engine.err"
    with open(folder / "engine.out", "w") as out, open(err, "w") as errors:
        proc = subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=out, stderr=errors, env={**os.environ, **RAY_ENV})
    try:
        yield proc, err
    finally:
        if proc.poll() is None:
            proc.kill()


def pool_started(runs_dir: Path) -> tuple[Store, str, dict]:
    """Once the run's first pool is up: (store, run id, its workers_started data)."""
    run_id = wait_for(lambda: (Store(runs_dir).list_runs() or [{}])[0].get("id"), timeout=120)
    store = Store(runs_dir)
    [started] = wait_for(lambda: events(store, run_id, "workers_started"), timeout=180)
    return store, run_id, started.data


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_ray_executor_gives_the_local_runs_rewards_and_heldout_figures(tmp_path):
    """The sandbox preset, one round: the same config and seed score every candidate and every
    held-out context the same on two Ray workers as in the engine's own process."""
    common = ["run", "--preset", "sandbox", "--set", "run.rounds=1", "--set", "data.n_train=2", "--set", "data.n_heldout=4",
              "--set", "sample.k=3", "--set", "run.threads=1", "--set", "run.save_kept_adapters=true"]
    runs = {}
    for name, extra in (("local", ["--set", 'run.executor="local"']), ("ray", ray_args())):
        proc = run_engine(*common, "--runs-dir", str(tmp_path / name), *extra, env=RAY_ENV)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[name] = (Store(tmp_path / name), proc.stdout.split()[1])
    local, on_ray = (scored(*runs[n]) for n in ("local", "ray"))
    assert len(local) == 6 and on_ray == local
    assert len({c["reward"] for c in local.values()}) > 1   # rewards that differ: a real comparison
    assert heldout(*runs["ray"]) == heldout(*runs["local"])
    store, run_id = runs["ray"]
    [started] = events(store, run_id, "workers_started")
    assert len(started.data["workers"]) == 2
    rows = events(store, run_id, "worker_telemetry")[-1].data["workers"]   # the pool's last state
    assert [r["worker"] for r in rows] == [0, 1] and all(r["chunks"] >= 1 for r in rows)
    assert not events(*runs["local"], "workers_started")
    # the kept candidates' adapters (PEFT), trained on the workers and written by the engine: the same bytes
    saved = {name: {p.relative_to(tmp_path / name / rid): p.read_bytes()
                    for p in sorted((tmp_path / name / rid / "adapters").rglob("*")) if p.is_file()}
             for name, (_, rid) in runs.items()}
    assert saved["local"] and saved["ray"].keys() == saved["local"].keys()
    assert all(saved["ray"][p] == saved["local"][p] for p in saved["local"] if p.suffix == ".safetensors")


@pytest.fixture
def two_nodes():
    """Two Ray nodes of one CPU each on this machine (loopback), shut down after the test."""
    from ray.cluster_utils import Cluster

    os.environ.update(RAY_ENV)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        yield cluster
    finally:
        cluster.shutdown()


def test_two_nodes_share_the_work_and_killed_workers_lose_no_candidate(tmp_path, tiny_model_dir, data_file, two_nodes):
    """One worker per node. Its process killed mid-round, a worker's chunk goes to the other
    (an event and a log line say so); the last one killed, the run pauses with the reason, and
    resuming starts new workers. Every candidate is scored once, and the run finishes."""
    runs_dir = tmp_path / "runs"
    args = tiny_run_args(tiny_model_dir, data_file, runs_dir, "--set", "run.rounds=1", "--set", "data.n_train=6",
                         "--set", "inner.epochs=20", *ray_args(address=two_nodes.address))
    with engine_running(args, tmp_path) as (proc, err):
        store, run_id, started = pool_started(runs_dir)
        pids = {w["worker"]: w["pid"] for w in started["workers"]}
        assert len({w["node_id"] for w in started["workers"]}) == 2   # one worker on each node

        def scored_in_round_1() -> int:
            return sum(1 for e in events(store, run_id, "candidate_scored") if e.round == 1)

        wait_for(lambda: scored_in_round_1() >= 3, timeout=180)   # the first chunk is in; both workers busy
        os.kill(pids[0], signal.SIGKILL)
        [lost] = wait_for(lambda: events(store, run_id, "worker_lost"), timeout=60)
        assert lost.data["worker"] == 0 and lost.data["retried"] == 3 and lost.data["left"] == 1
        done = scored_in_round_1()
        wait_for(lambda: scored_in_round_1() > done, timeout=120)
        os.kill(pids[1], signal.SIGKILL)
        wait_for(lambda: store.get_run(run_id)["status"] == "paused", timeout=60)
        pause = events(store, run_id, "run_paused")[-1]
        assert "no Ray worker left" in pause.data["reason"]
        store.send_command(run_id, "resume")
        proc.wait(timeout=300)
    assert proc.returncode == 0, err.read_text()[-3000:]
    assert store.get_run(run_id)["status"] == "finished"
    ids = [e.data["id"] for e in events(store, run_id, "candidate_scored")]
    assert len(ids) == len(set(ids)) == len(store.candidates(run_id)) == 18   # none lost, none twice
    _, second = events(store, run_id, "workers_started")   # the resumed run's new pool
    # the run's end leaves the shared cluster without its workers (the cluster itself keeps running)
    wait_for(lambda: all(gone(w["pid"]) for w in second.data["workers"]), timeout=30)
    logs = [e.data["message"] for e in events(store, run_id, "log")]
    assert any("Ray worker 0" in m and "lost mid-chunk" in m for m in logs)


def test_sigterm_stops_the_run_and_its_workers(tmp_path, tiny_model_dir, data_file):
    """SIGTERM (as the console's stop and Ctrl+C in a shell send) ends the run as stopped, and the
    workers and the Ray the engine started for the run go with it."""
    runs_dir = tmp_path / "runs"
    args = tiny_run_args(tiny_model_dir, data_file, runs_dir, *ray_args(workers=1))
    with engine_running(args, tmp_path) as (proc, err):
        store, run_id, started = pool_started(runs_dir)
        engine_children = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    assert proc.returncode == 3, err.read_text()[-3000:]
    assert store.get_run(run_id)["status"] == "stopped"
    worker = started["workers"][0]["pid"]
    wait_for(lambda: gone(worker) and all(gone(p) for p in engine_children), timeout=30)


def test_the_executor_and_its_resources_are_validated():
    cfg = load_config(overrides=['run.executor="ray"', "run.worker_gpus=0.25", "run.workers=4"])
    assert (cfg.run.executor, cfg.run.worker_gpus, cfg.run.workers) == ("ray", 0.25, 4)
    for overrides, says in ((['run.executor="dask"'], "expected one of local, threads, ray"),
                            (['run.ray_address="auto"'], 'set run.executor = "ray"'),
                            (['run.executor="ray"', "run.worker_gpus=1.5"], "whole GPUs"),
                            (['run.executor="ray"', "run.worker_cpus=0"], "must be > 0"),
                            (['run.executor="ray"', 'run.device="cuda"'], "run.worker_gpus > 0")):
        with pytest.raises(ConfigError, match=says.replace(".", r"\.").replace("(", r"\(")):
            load_config(overrides=overrides)


def test_an_unreachable_cluster_is_named_with_the_fix(tmp_path, tiny_model_dir, data_file):
    proc = run_engine(*tiny_run_args(tiny_model_dir, data_file, tmp_path / "runs",
                                     *ray_args(address="127.0.0.1:1")), env=RAY_ENV, timeout=300)
    assert proc.returncode == 2
    assert "run.ray_address = '127.0.0.1:1'" in proc.stderr and "ray start --head" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ray_is_imported_only_by_the_ray_executor():
    """Every engine module but engine.scale's Ray ones loads without ray (a local run never imports it)."""
    code = ("import importlib, pkgutil, sys, engine\n"
            "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
            "    if m.name != 'engine.__main__' and not m.name.startswith('engine.scale.'):\n"
            "        importlib.import_module(m.name)\n"
            "assert 'ray' not in sys.modules, sorted(n for n in sys.modules if n.startswith('ray'))\n"
            "import seal_tui.app\n"
            "assert 'ray' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
