"""The system pane of a run on the Ray executor: one row per scoring worker, from the events the
engine's pool records (workers_started, worker_telemetry, worker_lost), written here into a copy
of the recorded run's store as the engine writes them."""

from __future__ import annotations

from engine import events as ev
from engine.store import Store
from seal_tui.reducer import apply
from seal_tui.state import RunState
from seal_tui.widgets.system_pane import SystemPane, worker_rows
from tests.support.console import make_app, open_dashboard, pilot_test, text_of

WORKERS = [{"worker": 0, "node": "10.0.0.11", "node_id": "a1b2c3d4e5f6", "pid": 4101, "device": "cuda:0 (GPU 0)"},
           {"worker": 1, "node": "10.0.0.12", "node_id": "0f1e2d3c4b5a", "pid": 4202, "device": "cpu"}]
GPU = {"index": 0, "name": "NVIDIA H100", "util": 87.0, "mem_used_mb": 20480.0, "mem_total_mb": 81920.0, "temp_c": 61.0}


def record_pool(runs_dir, run_id: str) -> None:
    store = Store(runs_dir)
    store.record(run_id, ev.WorkersStarted(address="10.0.0.11:6379", workers=WORKERS), round_=1, phase="inner_loop")
    store.record(run_id, ev.WorkerTelemetry(workers=[
        {**WORKERS[0], "state": "busy", "chunks": 3, "cpu_pct": 99.0, "rss_mb": 9000.0, "gpus": [GPU]},
        {**WORKERS[1], "state": "idle", "chunks": 2, "cpu_pct": 12.0, "rss_mb": 1536.0, "gpus": []}]))
    store.record(run_id, ev.WorkerLost(worker=1, node="10.0.0.12", pid=4202, reason="The actor died unexpectedly",
                                       retried=3, left=1), round_=1, phase="inner_loop")


@pilot_test
async def test_the_system_pane_has_a_row_per_worker_and_marks_the_lost_one(runs):
    runs_dir, run_id = runs
    record_pool(runs_dir, run_id)
    app = make_app(runs_dir)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        lines = [ln.strip() for ln in text_of(screen.query_one(SystemPane)).splitlines()]
        assert "Workers (Ray) · 1 of 2 alive" in lines
        at = lines.index("Workers (Ray) · 1 of 2 alive")
        assert lines[at + 1] == "w0 busy 10.0.0.11 · pid 4101 · 3 chunks"
        assert lines[at + 2] == "cuda:0 (GPU 0)  GPU 0 87% 20.0 GB/80.0 GB"
        assert lines[at + 3] == "w1 lost 10.0.0.12 · pid 4202 · 2 chunks"
        assert lines[at + 4] == "The actor died unexpectedly"


def test_a_new_pool_replaces_the_rows_and_a_cpu_worker_shows_cpu_and_memory():
    state = RunState(run_id="r")
    started = ev.Event.of(ev.WorkersStarted(workers=WORKERS))
    telemetry = ev.Event.of(ev.WorkerTelemetry(workers=[
        {**WORKERS[1], "state": "busy", "chunks": 1, "cpu_pct": 98.0, "rss_mb": 1536.0, "gpus": []}]))
    apply(state, [started, telemetry])
    assert list(state.workers) == [1]                    # the snapshot is the pool as it is now
    row = worker_rows(state.workers).plain
    assert "w1 busy 10.0.0.12 · pid 4202 · 1 chunks" in row and "cpu  CPU 98% RSS 1.5 GB" in row
    apply(state, [ev.Event.of(ev.WorkerTelemetry(workers=[]))])
    assert state.workers == {}                           # a released pool leaves no rows behind
