"""Driving the console in tmux, as a person would: a detached session of a fixed size,
keys sent to it, and its screen read back."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

SEAL_TUI = Path(sys.executable).with_name("seal-tui")

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (apt-get install tmux); the console is driven in it")


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
        gone = "" if self.alive() else "\n(the tmux session has ended: its command exited)"
        raise AssertionError(f"{pattern!r} never appeared; the screen shows:\n{self.screen()}{gone}")

    def alive(self) -> bool:
        return subprocess.run([*self.tmux, "has-session", "-t", self.name], capture_output=True).returncode == 0

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
