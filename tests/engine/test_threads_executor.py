"""The thread executor (run.executor = "threads"): copies of the model in the engine's process,
each training and answering its chunk in a thread of its own at one torch thread. A real engine
subprocess on the sandbox model and a real SQLite store; it must score exactly as the engine's
own inner loop does."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, load_config
from engine.store import Store
from tests.support.engine_runs import heldout, run_engine, scored


def test_the_thread_executor_scores_as_the_local_one_over_an_m_step(tmp_path):
    """The sandbox preset, two rounds (so the copies must take the M-step's weights): every
    candidate, every held-out figure and every kept adapter's bytes are the same on two copies
    of the model in threads as on the engine's own inner loop."""
    common = ["run", "--preset", "sandbox", "--set", "run.rounds=2", "--set", "data.n_train=3", "--set", "data.n_heldout=4",
              "--set", "sample.k=3", "--set", "run.threads=1", "--set", "run.save_kept_adapters=true"]
    runs = {}
    for name, extra in (("local", ["--set", 'run.executor="local"']),
                        ("threads", ["--set", 'run.executor="threads"', "--set", "run.workers=2"])):
        proc = run_engine(*common, "--runs-dir", str(tmp_path / name), *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[name] = (Store(tmp_path / name), proc.stdout.split()[1])
    local, threaded = (scored(*runs[n]) for n in ("local", "threads"))
    assert len(local) == 18 and threaded == local
    assert len({c["reward"] for c in local.values()}) > 1   # rewards that differ: a real comparison
    assert heldout(*runs["threads"]) == heldout(*runs["local"])
    assert len({h[3] for h in heldout(*runs["local"])}) > 1   # the M-step moved the policy's figure
    saved = {name: {p.relative_to(tmp_path / name / rid): p.read_bytes()
                    for p in sorted((tmp_path / name / rid / "adapters").rglob("*.safetensors"))}
             for name, (_, rid) in runs.items()}
    assert saved["local"] and saved["threads"] == saved["local"]


def test_the_thread_executor_is_validated():
    cfg = load_config(overrides=['run.executor="threads"', "run.workers=3"])
    assert (cfg.run.executor, cfg.run.workers) == ("threads", 3)
    for overrides, says in ((['run.executor="threads"', 'run.ray_address="auto"'], 'set run.executor = "ray"'),
                            (['run.executor="threads"', "run.worker_gpus=0.5"], 'set run.executor = "ray"'),
                            (['run.executor="local"', "run.workers=2"], 'set run.executor = "ray"')):
        with pytest.raises(ConfigError, match=says.replace(".", r"\.")):
            load_config(overrides=overrides)
