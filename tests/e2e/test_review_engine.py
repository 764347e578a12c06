"""A person reviews in the console (Pilot) while the engine waits; the engine goes on and
trains on exactly what was decided."""

from __future__ import annotations

import subprocess

import pytest

from engine.store import Store
from seal_tui.app import SealApp
from seal_tui.screens.review import ReviewScreen
from tests.support.common import REPO, wait_for
from tests.support.console import edit_current, pilot_test, text_of, until
from tests.support.engine_runs import engine_cmd, tiny_run_args

pytestmark = pytest.mark.slow

EDITED = "Edited by a person.\nThe policy trains on this."


@pytest.fixture
def waiting_run(tmp_path, tiny_model_dir, data_file):
    """(runs_dir, run_id, engine process) of a live run waiting for review."""
    runs_dir = tmp_path / "runs"
    args = tiny_run_args(tiny_model_dir, data_file, runs_dir, "--set", "run.rounds=1",
                         "--set", 'run.review="kept"', "--name", "to-review")
    proc = subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        store = Store(runs_dir)

        def waiting():
            runs = store.list_runs()
            if proc.poll() is not None:
                raise AssertionError(f"the engine exited early: {proc.stderr.read()[-2000:]}")
            return runs and runs[0]["status"] == "awaiting_review" and runs[0]["id"]

        yield runs_dir, wait_for(waiting, timeout=300, interval=0.3), proc
    finally:
        proc.kill()
        proc.wait()




def decisions(store: Store, run_id: str) -> dict[int, tuple[str, str | None]]:
    return {cid: (d["decision"], d["edited_text"]) for cid, d in store.latest_decisions(run_id).items()}




@pilot_test
async def test_decisions_from_the_console_let_the_live_engine_train_on_them(waiting_run):
    runs_dir, run_id, proc = waiting_run
    store = Store(runs_dir)
    queue = [c for c in store.candidates(run_id) if c["kept"]]
    c1, c2, c3, c4 = (c["id"] for c in queue)
    app = SealApp(runs_dir, poll_s=0.05, keymap={})
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: "await review" in text_of(app.screen.query_one("#runs-title")),
                    what="the runs screen's review badge")
        await pilot.press("R")
        screen = await until(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.loaded
                             and app.screen.snapshot.queue and app.screen, what="the review queue")
        await pilot.press("a", "x")
        await edit_current(pilot, EDITED)
        await pilot.press("A")
        assert decisions(store, run_id) == {c1: ("approve", None), c2: ("reject", None),
                                            c3: ("edit", EDITED), c4: ("approve", None)}
        status = screen.query_one("#review-status")
        await until(pilot, lambda: "round 1 reviewed" in text_of(status), timeout=60,
                    what="the engine closing the review")
        assert "2 approved, 1 edited, 1 rejected" in text_of(status)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    assert store.get_run(run_id)["status"] == "finished"
    done = [e.data for e in store.iter_events(run_id) if e.kind == "review_done"]
    assert done == [{"approved": 2, "rejected": 1, "edited": 1, "timed_out": False}]
    trained = {c["id"]: c["trained_text"] for c in store.candidates(run_id) if c["trained_text"]}
    assert trained == {c1: queue[0]["self_edit"], c3: EDITED, c4: queue[3]["self_edit"]}
    mstep = [e.data for e in store.iter_events(run_id) if e.kind == "mstep_done"]
    assert mstep[0]["examples"] == 3
