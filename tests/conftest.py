"""Fixtures every folder uses: the tiny model and data made here, and the real engine runs
that several folders read (each started once per session).

Plain helpers (paths, wait_for, the engine's command line) are in tests/support/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.common import SQUAD
from tests.support.engine_runs import judged_eval_args, run_engine, tiny_contexts, tiny_run_args

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
    proc = run_engine(*tiny_run_args(tiny_model_dir, data_file, runs_dir, "--name", "recorded",
                                     "--set", "run.save_kept_adapters=true"))
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[1]
    return runs_dir, run_id


@pytest.fixture(scope="session")
def recorded_eval_run(tmp_path_factory, tiny_model_dir, data_file) -> tuple[Path, str]:
    """A store filled by a real engine run with the multi-passage and forgetting evaluations:
    (runs_dir, run_id). A local judge server grades, saying yes for about half the (question,
    answer) pairs (a fixed hash), so the accuracies differ from cell to cell; the random tiny
    model would get every gold answer wrong."""
    import zlib

    from tests.support.chat_server import ChatServer

    runs_dir = tmp_path_factory.mktemp("recorded-eval-runs")
    server = ChatServer().start()
    server.reply = lambda question, gold, answer: "yes" if zlib.crc32(f"{question}\n{answer}".encode()) % 2 else "no"
    try:
        proc = run_engine(*tiny_run_args(tiny_model_dir, data_file, runs_dir, "--name", "evals",
                                         *judged_eval_args(server.url, "SEAL_TEST_JUDGE_KEY")),
                          env={"SEAL_TEST_JUDGE_KEY": "test-key"})
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    return runs_dir, proc.stdout.split()[1]
