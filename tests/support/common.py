"""Paths of the repository and of SEAL's data beside it, polling with a deadline, and the
console's command line as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data" / "seal"
SQUAD = SHARED_DATA / "squad_val.json"
RESULTS = SHARED_DATA / "results"


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy (bounded in time)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def seal_tui(runs_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m seal_tui --runs-dir RUNS ARGS...`` in a subprocess, its output captured."""
    return subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
