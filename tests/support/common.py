"""Paths of the repository and of SEAL's data beside it, and polling with a deadline."""

from __future__ import annotations

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
