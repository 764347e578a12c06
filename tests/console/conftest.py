"""The console's fixtures: normalized copies of the session's recorded engine runs, one
private copy per test, and a UTC clock for every console test."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from seal_tui.testing import copy_store, normalized_copy

EVAL_RUN_ID = "20250615-150640-evals-0000"


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def recording(request) -> tuple[Path, str]:
    """(runs_dir, run_id) of a real engine run: the session's ``recorded_run``.

    For quick local iterations, SEAL_TUI_RECORDING=<runs_dir>::<run_id> reuses a
    recording made earlier with the same engine.
    """
    env = os.environ.get("SEAL_TUI_RECORDING")
    if env:
        runs_dir, run_id = env.split("::")
        return Path(runs_dir), run_id
    return request.getfixturevalue("recorded_run")


@pytest.fixture(scope="session")
def normalized(recording, tmp_path_factory) -> tuple[Path, str]:
    dest = tmp_path_factory.mktemp("console-store") / "runs"
    return dest, normalized_copy(recording[0], recording[1], dest)


@pytest.fixture
def runs(normalized, tmp_path, monkeypatch) -> tuple[Path, str]:
    """A private copy of the normalized store, as ``runs`` in the test's working folder."""
    monkeypatch.chdir(tmp_path)
    copy_store(normalized[0], tmp_path / "runs")
    return Path("runs"), normalized[1]


@pytest.fixture(scope="session")
def eval_recording(request) -> tuple[Path, str]:
    """(runs_dir, run_id) of the session's ``recorded_eval_run``; SEAL_TUI_EVAL_RECORDING=<runs_dir>::<run_id>
    reuses one made earlier with the same engine."""
    env = os.environ.get("SEAL_TUI_EVAL_RECORDING")
    if env:
        runs_dir, run_id = env.split("::")
        return Path(runs_dir), run_id
    return request.getfixturevalue("recorded_eval_run")


@pytest.fixture(scope="session")
def eval_normalized(eval_recording, tmp_path_factory) -> tuple[Path, str]:
    dest = tmp_path_factory.mktemp("console-eval-store") / "runs"
    return dest, normalized_copy(eval_recording[0], eval_recording[1], dest, new_id=EVAL_RUN_ID)


@pytest.fixture
def eval_runs(eval_normalized, tmp_path, monkeypatch) -> tuple[Path, str]:
    monkeypatch.chdir(tmp_path)
    copy_store(eval_normalized[0], tmp_path / "runs")
    return Path("runs"), eval_normalized[1]
