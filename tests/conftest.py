"""Fixtures every folder uses: the tiny model and data made here, and the real engine runs
that several folders read (each started once per session).

Plain helpers (paths, wait_for, the engine's command line) are in tests/support/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.common import SQUAD
from tests.support.engine_runs import judged_eval_run_in, recorded_run_in, tiny_contexts

# One torch thread per process: tests start engines beside each other and beside pytest,
# and oversubscribed CPU threads make them many times slower on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from tests.support.tiny_models import make_tiny_model
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def data_file(tmp_path_factory) -> Path:
    """SEAL-format contexts: SQuAD passages when ../shared is there, else generated ones."""
    path = tmp_path_factory.mktemp("data") / "contexts.json"
    items = json.loads(SQUAD.read_text())[:40] if SQUAD.is_file() else tiny_contexts(40)
    path.write_text(json.dumps(items))
    return path


@pytest.fixture(scope="session")
def recorded_run(tmp_path_factory, tiny_model_dir, data_file) -> tuple[Path, str]:
    """A store filled by one real engine run (2 rounds) on a tiny model: (runs_dir, run_id).

    The run saves its kept adapters (run.save_kept_adapters), so the engine's tests of a
    finished run read this same run instead of starting another one."""
    runs_dir = tmp_path_factory.mktemp("recorded-runs")
    return runs_dir, recorded_run_in(runs_dir, tiny_model_dir, data_file, "--set", "run.save_kept_adapters=true")


@pytest.fixture(scope="session")
def recorded_eval_run(tmp_path_factory, tiny_model_dir, data_file) -> tuple[Path, str]:
    """A store filled by a real engine run with the multi-passage and forgetting evaluations,
    graded by a local judge: (runs_dir, run_id)."""
    runs_dir = tmp_path_factory.mktemp("recorded-eval-runs")
    return runs_dir, judged_eval_run_in(runs_dir, tiny_model_dir, data_file)
