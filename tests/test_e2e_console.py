"""End to end in tmux, as a person would: open seal-tui, start a sandbox run from the
new-run screen, watch candidates and the accuracy plot fill, pause, resume, quit the
console, and check that the engine keeps running."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.store import Store

REPO = Path(__file__).resolve().parents[1]
SEAL_TUI = Path(sys.executable).with_name("seal-tui")

pytestmark = [pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None,
                                 reason="tmux is not installed (apt-get install tmux); the console is driven in it")]


class Tmux:
    """One detached tmux session running a command in a fixed-size window."""

    def __init__(self, name: str, command: str, *, width: int = 120, height: int = 40, env: dict | None = None):
        self.name = name
        # a server of our own: other tmux users on this machine cannot resize or kill it
        self.tmux = ["tmux", "-L", name, "-f", "/dev/null"]
        env_args = [arg for k, v in (env or {}).items() for arg in ("-e", f"{k}={v}")]
        # COLUMNS/LINES can leak in from the test runner and would pin the app to 80x24
        subprocess.run([*self.tmux, "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                        *env_args, f"env -u COLUMNS -u LINES {command}"], check=True)

    def screen(self) -> str:
        out = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *(["-l"] if literal else []), *keys], check=True)
        time.sleep(0.3)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match:
        """Until the screen matches ``pattern`` (a regex); fails with what the screen shows."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            match = re.search(pattern, self.screen())
            if match:
                return match
            time.sleep(0.25)
        raise AssertionError(f"{pattern!r} never appeared; the screen shows:\n{self.screen()}")

    def alive(self) -> bool:
        return subprocess.run([*self.tmux, "has-session", "-t", self.name], capture_output=True).returncode == 0

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


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
    """What to type in the new-run form: the sandbox as it ships, or, while its model is
    not built here, a small config file with the tests' tiny model and data."""
    from engine.sandbox import default_model_dir

    if (default_model_dir() / "config.json").is_file():
        return {"name": "e2e-sandbox", "rounds": "1"}
    config = tmp_path / "small.toml"
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

        # the dashboard opens at once, then fills as the engine works
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
