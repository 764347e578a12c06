"""A disk that fills up during a run: the engine records the run as paused with the reason, says
what to free and exits (code 4) without a traceback; ``seal-tui ls`` says the disk is full; once
space is freed, resume finishes the run. The run's store is on a small tmpfs of its own (root;
skipped where mounting is not permitted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.store import Store
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import engine_cmd, run_engine, tiny_run_args
from tests.support.small_disk import fill, small_disk

pytestmark = pytest.mark.slow


def test_a_full_disk_pauses_the_run_with_the_reason_and_resume_finishes_it(tiny_model_dir, data_file, tmp_path):
    with small_disk(tmp_path / "disk", "64m") as disk:
        runs_dir = disk / "runs"
        args = tiny_run_args(tiny_model_dir, data_file, runs_dir, "--set", "run.rounds=1")
        proc = subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            def first_candidates():
                if not (runs_dir / "seal.db").is_file():
                    return None
                runs = Store(runs_dir).list_runs()
                return runs and Store(runs_dir).candidates(runs[0]["id"]) and runs[0]["id"]
            run_id = wait_for(first_candidates, timeout=300, interval=0.2)
            filler = fill(disk)
            _, err = proc.communicate(timeout=300)
        finally:
            proc.kill()
        assert proc.returncode == 4, err
        assert "Traceback" not in err and "database or disk is full" not in err
        assert f"run {run_id} paused in round 1" in err and f"the disk holding {runs_dir} is full" in err
        assert "seal-tui resume RUN" in err
        run = Store(runs_dir).get_run(run_id)
        assert run["status"] == "paused" and run["error"].startswith("out of disk space")

        ls = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "ls"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
        assert ls.returncode == 0 and run_id in ls.stdout and "stale" in ls.stdout
        assert "it paused: out of disk space" in ls.stdout and f"the disk holding {runs_dir} is full" in ls.stderr
        assert "move it away" not in ls.stdout + ls.stderr

        filler.unlink()
        resumed = run_engine("resume", run_id, "--runs-dir", str(runs_dir), timeout=600)
        assert resumed.returncode == 0, resumed.stderr
        store = Store(runs_dir)
        assert store.get_run(run_id)["status"] == "finished"
        keys = [(c["round"], c["context_idx"], c["cand_idx"]) for c in store.candidates(run_id)]
        assert len(keys) == len(set(keys)) == 4 * 3
        assert all(c["scored_at"] for c in store.candidates(run_id))


def test_a_policy_save_that_runs_out_of_space_counts_as_a_full_disk(tmp_path):
    """The M-step's save (safetensors, whose error wraps the OS's) is noticed like a store write."""
    import torch
    from safetensors.torch import save_file

    from engine.store.problems import is_disk_full

    with small_disk(tmp_path / "disk", "1m") as disk:
        fill(disk)
        failed = None
        try:
            save_file({"w": torch.zeros(64, 1024)}, str(disk / "model.safetensors"))
        except Exception as exc:
            failed = exc
        assert failed is not None and is_disk_full(failed), repr(failed)
