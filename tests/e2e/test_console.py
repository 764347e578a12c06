"""End to end in tmux, as a person would: open seal-tui, start a sandbox run from the
new-run screen, watch candidates and the accuracy plot fill, pause, resume, quit the
console, and check that the engine keeps running."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from engine.store import Store
from tests.support.tmux import SEAL_TUI, Tmux, needs_tmux

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_tmux]


def fill_field(tmux: Tmux, value: str) -> None:
    """Clear the focused input and type ``value``."""
    tmux.keys("C-u")
    tmux.keys(value, literal=True)


SMALL_RUN = """
[data]
n_train = 4
n_heldout = 3
max_questions = 3
[model]
max_seq_len = 384
[sample]
max_new_tokens = 24
[inner]
epochs = 2
batch_size = 0
answer_max_tokens = 6
[grader]
kind = "f1"
[mstep]
mode = "lora"
lora_r = 4
lora_alpha = 8.0
epochs = 1
"""


@pytest.fixture
def form_fields(request, tmp_path) -> dict:
    """What to type in the new-run form: the sandbox's model and data with a config file that
    holds fewer contexts, or, while its model is not built here, a small config file with the
    tests' tiny model and data."""
    from engine.sandbox import default_model_dir

    config = tmp_path / "small.toml"
    if (default_model_dir() / "config.json").is_file():
        # the sandbox's model and data, fewer contexts: round 0's evaluation in seconds, not a minute
        config.write_text("[data]\nn_train = 8\nn_heldout = 8\n")
        return {"config": str(config), "name": "e2e-sandbox", "rounds": "1"}
    config.write_text(SMALL_RUN)
    return {"config": str(config), "name": "e2e-sandbox",
            "model": str(request.getfixturevalue("tiny_model_dir")),
            "data": str(request.getfixturevalue("data_file")), "rounds": "3"}


def test_start_watch_pause_resume_quit_and_the_run_goes_on(tmp_path, form_fields):
    runs_dir = tmp_path / "runs"
    tmux = Tmux(f"seal-e2e-{os.getpid()}", f"{SEAL_TUI} --runs-dir {runs_dir}",
                env={"TERM": "xterm-256color", "TZ": "UTC"})
    engine_pid = None
    try:
        tmux.wait_for(r"No runs yet")
        tmux.keys("n")
        tmux.wait_for(r"New run")
        tmux.wait_for(r"✓ valid")
        # preset (sandbox) -> config file -> name -> model -> data -> rounds -> K
        for field in ("config", "name", "model", "data"):
            tmux.keys("Tab")
            if field in form_fields:
                fill_field(tmux, form_fields[field])
                if field == "config":
                    tmux.keys("Enter")
        tmux.keys("Tab")
        fill_field(tmux, form_fields["rounds"])
        tmux.keys("Tab")
        fill_field(tmux, "2")          # self-edits per context
        tmux.wait_for(rf"✓ valid · sandbox: {form_fields['rounds']} rounds")
        tmux.keys("C-s")

        # the dashboard opens once the engine's checks pass (a second or so), then fills as it works
        tmux.wait_for(r"Candidates", timeout=30)
        tmux.wait_for(r"running\s+e2e-sandbox", timeout=120)
        run = Store(runs_dir).list_runs()[0]
        engine_pid = run["pid"]
        tmux.wait_for(r"R\d held-out: ■ none \d+%", timeout=300)      # the accuracy plot's legend
        tmux.wait_for(r"[1-9]\d* shown · arrival · following", timeout=300)
        tmux.keys("p")
        tmux.wait_for(r"⏸ paused", timeout=120)
        tmux.wait_for(r"pause command: paused")
        screen = tmux.screen()
        assert "no GPU" in screen or "GPU 0" in screen
        assert re.search(r"R1 n=\d+ mean \d\.\d\d", screen) or "No scored candidates yet" in screen
        tmux.keys("p")
        tmux.wait_for(r"● running", timeout=120)
        tmux.wait_for(r"resume command: resumed")

        # quit the console: back to the runs screen, then q
        tmux.keys("b")
        tmux.wait_for(r"e2e-sandbox\s+● running")
        tmux.keys("q")
        end = time.monotonic() + 15
        while tmux.alive() and time.monotonic() < end:
            time.sleep(0.2)
        assert not tmux.alive(), "the console did not quit"

        store = Store(runs_dir)
        before = store.count_events(run["id"])
        time.sleep(3)
        assert store.get_run(run["id"])["status"] in ("running", "finished")
        os.kill(engine_pid, 0)                                  # the engine outlived the console
        assert store.count_events(run["id"]) > before or store.get_run(run["id"])["status"] == "finished"
    finally:
        tmux.kill()
        if engine_pid:
            try:
                os.kill(engine_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
