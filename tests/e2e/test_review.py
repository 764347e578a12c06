"""End to end in tmux, as a reviewer would: attach to a run that waits for review,
press R, approve some, reject one, edit one, watch the engine go on, review the next
round with approve-all, and find in the store exactly what the policy trained on."""

from __future__ import annotations

import os
import subprocess

import pytest

from engine.store import Store
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import engine_cmd, tiny_run_args
from tests.support.tmux import SEAL_TUI, Tmux, needs_tmux

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_tmux]


def lines(text: str) -> str:
    """``text`` as the editor holds it: any line break (also \\f, \\v from a tiny model) is a newline."""
    return "\n".join(text.splitlines()) + ("\n" if text.endswith(("\n", "\r")) else "")


def test_review_two_rounds_from_the_keyboard_and_the_engine_trains_on_them(tmp_path, tiny_model_dir, data_file):
    runs_dir = tmp_path / "runs"
    args = tiny_run_args(tiny_model_dir, data_file, runs_dir, "--set", "run.rounds=2",
                         "--set", 'run.review="kept"', "--name", "e2e-review")
    engine = subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    tmux = None
    try:
        store = Store(runs_dir)
        run_id = wait_for(lambda: store.list_runs() and store.list_runs()[0]["id"], timeout=120)
        tmux = Tmux(f"seal-e2e-review-{os.getpid()}", f"{SEAL_TUI} --runs-dir {runs_dir} attach {run_id}",
                    width=140, height=45, env={"TERM": "xterm-256color", "TZ": "UTC"})
        # the dashboard's header says the run waits, and which key opens the review
        tmux.wait_for(r"✎ 4 self-edits await review · R to review", timeout=300)
        tmux.keys("R")
        tmux.wait_for(r"Review · e2e-review · round 1 · mode kept")
        tmux.wait_for(r"0/4 decided  · pending 4")
        queue = [c for c in store.candidates(run_id, 1) if c["kept"]]
        c1, c2, c3, c4 = (c["id"] for c in queue)

        tmux.keys("a")
        tmux.keys("a")
        tmux.wait_for(r"✓ approved 2")
        tmux.keys("x")
        tmux.wait_for(r"✗ rejected 1")
        tmux.wait_for(r"the engine waits for 1 more decision\b")
        tmux.keys("e")
        tmux.wait_for(r"Save \(Ctrl\+S\)")
        tmux.keys("Reviewed: ", literal=True)       # typed at the start of the model's text
        tmux.keys("C-s")
        tmux.wait_for(r"round 1 reviewed: 2 approved, 1 edited, 1 rejected", timeout=60)

        decided = store.latest_decisions(run_id)
        assert {cid: d["decision"] for cid, d in decided.items()} == \
            {c1: "approve", c2: "approve", c3: "reject", c4: "edit"}
        edited = "Reviewed: " + lines(queue[3]["self_edit"])
        assert decided[c4]["edited_text"] == edited

        # the engine trains, evaluates, and the next round's queue appears on the same screen
        tmux.wait_for(r"Review · e2e-review · round 2 · mode kept", timeout=300)
        tmux.wait_for(r"0/4 decided  · pending 4")
        tmux.keys("A")
        tmux.wait_for(r"round 2 reviewed: 4 approved, 0 edited, 0 rejected", timeout=60)
        tmux.keys("b")
        tmux.wait_for(r"✔ finished\s+e2e-review", timeout=300)
        assert engine.wait(timeout=60) == 0, engine.stderr.read()[-2000:]

        trained = {c["id"]: c["trained_text"] for c in store.candidates(run_id, 1) if c["trained_text"]}
        assert trained == {c1: queue[0]["self_edit"], c2: queue[1]["self_edit"],
                           c4: edited}
        done = [e.data for e in store.iter_events(run_id) if e.kind == "review_done"]
        assert done == [{"approved": 2, "rejected": 1, "edited": 1, "timed_out": False},
                        {"approved": 4, "rejected": 0, "edited": 0, "timed_out": False}]
    finally:
        if tmux is not None:
            tmux.kill()
        engine.kill()
        engine.wait()
