"""End to end in tmux, on the recorded few-shot (ARC) run while its engine waits for review:
the detail pane draws the task's grids in ARC's colours, and a reviewer approves one config
and edits another (a value over the schema's maximum refused first), from the keyboard."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from engine.store import Store
from seal_tui.widgets.arc_grid import ARC_COLORS
from tests.support.engine_runs import run_engine
from tests.support.fewshot_console import load_fewshot, waiting_for_review
from tests.support.tmux import SEAL_TUI, Tmux, needs_tmux

pytestmark = [pytest.mark.e2e, needs_tmux]


def background(hex_colour: str) -> str:
    """The escape that sets a 24-bit background colour, as tmux reports it."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"48;2;{r};{g};{b}"


def coloured_screen(tmux: Tmux) -> str:
    return subprocess.run([*tmux.tmux, "capture-pane", "-p", "-e", "-t", tmux.name],
                          capture_output=True, text=True).stdout


def test_grids_in_the_detail_then_approve_and_edit_a_config(tmp_path):
    runs_dir = tmp_path / "runs"
    run_id = load_fewshot(runs_dir)
    queue = waiting_for_review(runs_dir, run_id)
    store = Store(runs_dir)
    # the dashboard opens on the newest candidate (following)
    newest = [e.payload for e in store.iter_events(run_id) if e.kind == "candidate_sampled"][-1]
    demo = store.get_contexts(run_id, "train")[newest.context_idx]["arc"]["train"][0]["input"]
    tmux = Tmux(f"seal-e2e-fewshot-{os.getpid()}", f"{SEAL_TUI} --runs-dir {runs_dir} attach {run_id}",
                width=160, height=50, env={"TERM": "xterm-256color", "COLORTERM": "truecolor", "TZ": "UTC"})
    try:
        tmux.wait_for(r"self-edits? awaits? review · R to review", timeout=60)
        tmux.wait_for(r"Self-edit \(plan\)")
        tmux.wait_for(r"Demonstrations \(\d+\)")
        tmux.wait_for(r"in 1\s+out 1")
        shown = coloured_screen(tmux)
        colours = {v for row in demo for v in row}
        assert all(background(ARC_COLORS[v]) in shown for v in colours), "the demonstration's colours"

        tmux.keys("R")
        tmux.wait_for(r"Review · .* round \d")
        tmux.wait_for(r"Demonstrations \(\d+\)")
        tmux.keys("a")
        tmux.wait_for(r"✓ approved 1")
        if len(queue) < 2:
            return
        tmux.keys("e")
        tmux.wait_for(r"Save \(Ctrl\+S\)")
        tmux.wait_for(r"JSON that fits the task's self-edit schema")
        tmux.keys("F7")                     # select all (TextArea's key), then type a new plan over it
        over = {"data_generation": {"use_basic_augmentations": True, "use_size_augmentations": False,
                                    "use_chain_augmentations": False, "use_repeat_augmentations": False},
                "training": {"strategy": "train_using_output_tokens", "learning_rate": 5, "num_train_epochs": 1}}
        tmux.keys(json.dumps(over), literal=True)
        tmux.keys("C-s")
        tmux.wait_for(r"Not saved: training\.learning_rate: 5 is greater than the maximum of")
        assert queue[1] not in store.latest_decisions(run_id)
        tmux.keys("F7")
        good = json.dumps({**over, "training": {**over["training"], "learning_rate": 0.0001}})
        tmux.keys(good, literal=True)
        tmux.keys("C-s")
        tmux.wait_for(r"✎ edited 1")
        decided = store.latest_decisions(run_id)
        assert decided[queue[0]]["decision"] == "approve"
        assert decided[queue[1]]["decision"] == "edit" and decided[queue[1]]["edited_text"] == good
    finally:
        tmux.kill()


def test_a_live_sandbox_fewshot_run_shows_its_grids(tmp_path):
    """A real engine run of the few-shot sandbox (the shipped model, the arc-sandbox preset cut
    down), then its dashboard in tmux: the newest plan and its task's 4x4 demonstrations in ARC's
    colours."""
    runs_dir = tmp_path / "runs"
    proc = run_engine("run", "--preset", "arc-sandbox", "--runs-dir", str(runs_dir), "--name", "arc sandbox e2e",
                      "--set", "run.rounds=1", "--set", "data.n_train=2", "--set", "data.n_heldout=1",
                      "--set", "sample.k=2", "--set", "filter.top_k=2", "--set", "fewshot.heldout_self_edits=1")
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[1]
    store = Store(runs_dir)
    assert store.get_run(run_id)["status"] == "finished"
    newest = [e.payload for e in store.iter_events(run_id) if e.kind == "candidate_sampled"][-1]
    task = store.get_contexts(run_id, "train")[newest.context_idx]["arc"]
    tmux = Tmux(f"seal-e2e-arc-sandbox-{os.getpid()}", f"{SEAL_TUI} --runs-dir {runs_dir} attach {run_id}",
                width=160, height=50, env={"TERM": "xterm-256color", "COLORTERM": "truecolor", "TZ": "UTC"})
    try:
        tmux.wait_for(r"Self-edit \(plan\)")
        tmux.wait_for(rf"Demonstrations \({len(task['train'])}\)")
        tmux.wait_for(r"in 1\s+out 1")
        shown = coloured_screen(tmux)
        for grid in (task["train"][0]["input"], task["train"][0]["output"]):
            assert all(background(ARC_COLORS[v]) in shown for row in grid for v in row)
        # a colour map: the demonstration's output uses colours its input does not show as such
        assert task["train"][0]["input"] != task["train"][0]["output"]
    finally:
        tmux.kill()
