"""The console's fixtures: stores rebuilt from the recorded event logs of real engine runs
(``tests/console/fixtures``, see ``tests.support.recorded``), one private copy per test, and a
UTC clock for every console test. Nothing here runs the engine or imports torch."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.support import recorded
from tests.support.console import copy_store
from tests.support.fewshot_console import load_fewshot

EVAL_RUN_ID = recorded.RUN_IDS["evals"]


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def no_torch():
    """The console never imports torch (nor transformers, peft): no console test may load them."""
    heavy = ("torch", "transformers", "peft")
    before = {m for m in heavy if m in sys.modules}
    yield
    loaded = {m for m in heavy if m in sys.modules} - before
    assert not loaded, f"this console test imported {sorted(loaded)}"


@pytest.fixture(scope="session")
def recording(tmp_path_factory) -> tuple[Path, str]:
    """(runs_dir, run_id): the recorded 2-round run, in a store of the session (read it, don't write it)."""
    runs_dir = tmp_path_factory.mktemp("console-store") / "runs"
    return runs_dir, recorded.load("recorded", runs_dir)


@pytest.fixture
def runs(recording, tmp_path, monkeypatch) -> tuple[Path, str]:
    """A private copy of the recorded run's store, as ``runs`` in the test's working folder."""
    monkeypatch.chdir(tmp_path)
    copy_store(recording[0], tmp_path / "runs")
    return Path("runs"), recording[1]


@pytest.fixture(scope="session")
def eval_recording(tmp_path_factory) -> tuple[Path, str]:
    """(runs_dir, run_id): the recorded run with the multi-passage and forgetting evaluations."""
    runs_dir = tmp_path_factory.mktemp("console-eval-store") / "runs"
    return runs_dir, recorded.load("evals", runs_dir)


@pytest.fixture
def eval_runs(eval_recording, tmp_path, monkeypatch) -> tuple[Path, str]:
    monkeypatch.chdir(tmp_path)
    copy_store(eval_recording[0], tmp_path / "runs")
    return Path("runs"), eval_recording[1]


@pytest.fixture(scope="session")
def fewshot_recording(tmp_path_factory) -> tuple[Path, str]:
    """(runs_dir, run_id): the recorded few-shot (ARC) run, in a store of the session."""
    runs_dir = tmp_path_factory.mktemp("console-fewshot-store") / "runs"
    return runs_dir, load_fewshot(runs_dir)


@pytest.fixture
def fewshot_runs(fewshot_recording, tmp_path, monkeypatch) -> tuple[Path, str]:
    monkeypatch.chdir(tmp_path)
    copy_store(fewshot_recording[0], tmp_path / "runs")
    return Path("runs"), fewshot_recording[1]
