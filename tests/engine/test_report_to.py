"""``run.report_to``: a real engine run mirrored live into TensorBoard and trackio as it records, while
W&B, named too but not logged in, fails: one warning, and the run finishes. The live figures are the
store's, and the same as an export of the run afterwards. No network: W&B fails before it would
connect (no key), trackio writes its local store under the test's folder."""

from __future__ import annotations

import os
import subprocess

import pytest

from engine.store import Store
from engine.trackers.figures import metric_tag
from tests.support.common import REPO
from tests.support.engine_runs import engine_cmd, tiny_run_args
from tests.support.trackers import (
    kept_ids,
    last_per_step,
    offline_env,
    per_round,
    same_series,
    seal_tui,
    tensorboard_scalars,
    tensorboard_texts,
    trackio_run,
)

pytestmark = pytest.mark.slow


def test_a_run_mirrors_into_its_trackers_and_goes_on_past_one_that_fails(tiny_model_dir, data_file, tmp_path):
    runs_dir = tmp_path / "runs"
    env = {**os.environ, **offline_env(tmp_path),
           # W&B as on a machine that never ran `wandb login`: it refuses to start (it would connect nowhere:
           # the base URL is a closed port on this machine)
           "WANDB_MODE": "online", "WANDB_BASE_URL": "http://127.0.0.1:9"}
    env.pop("WANDB_API_KEY")
    args = tiny_run_args(tiny_model_dir, data_file, runs_dir, "--set", 'run.report_to=["tensorboard", "trackio", "wandb"]')
    proc = subprocess.run(engine_cmd(*args), cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[1]
    store = Store(runs_dir)
    assert store.get_run(run_id)["status"] == "finished"
    warnings = [e.payload.message for e in store.events_of(run_id, ["log"])
                if e.payload.level == "warning" and "report_to" in e.payload.message]
    assert len(warnings) == 1 and warnings[0].startswith("report_to: wandb failed: UsageError"), warnings
    assert "the run goes on without it" in warnings[0]

    # TensorBoard, live: the store's figures, the M-step's loss over both rounds, the kept self-edits
    live = runs_dir / "tensorboard" / run_id
    scalars = tensorboard_scalars(live)
    figures = per_round(store, run_id)
    assert [r for r, _ in figures["heldout_self_edit"]] == [0, 1, 2]
    for name, values in figures.items():
        assert same_series(last_per_step(scalars[metric_tag(name)]), values), name
    losses = store.metrics(run_id, "mstep_loss")
    assert {m["round"] for m in losses} == {1, 2}
    assert [v for _, v in scalars["mstep/loss"]] == pytest.approx([m["value"] for m in losses], rel=1e-6)
    assert [s for s, _ in scalars["mstep/loss"]] == list(range(1, len(losses) + 1))   # one axis for the run
    assert scalars["system/cpu_pct"], "telemetry mirrored"
    tables = dict(tensorboard_texts(live)["self_edits/kept"])
    assert sorted(tables) == sorted(kept_ids(store, run_id))

    # the same figures as an export of the stored run
    exported = tmp_path / "exported"
    proc = seal_tui("export", run_id, "--to", "tensorboard", "--dir", str(exported), "--runs-dir", str(runs_dir),
                    env=offline_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert tensorboard_scalars(exported / run_id) == scalars
    assert tensorboard_texts(exported / run_id) == tensorboard_texts(live)

    # trackio, live, in its local store
    logs, config = trackio_run(tmp_path / "trackio", "seal-tui", run_id)
    tag = "heldout/self_edit"
    assert same_series(last_per_step([(row["step"], row[tag]) for row in logs if tag in row]),
                       figures["heldout_self_edit"])
    assert config["run.report_to"] == '["tensorboard", "trackio", "wandb"]'
