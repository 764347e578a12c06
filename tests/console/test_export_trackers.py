"""``seal-tui export RUN --to tensorboard|wandb|trackio``: a stored run's figures in each tracker, read
back with the tracker's own reader and compared with the store's. No network: W&B offline, trackio's
local store under the test's folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import Store
from engine.trackers.figures import metric_tag
from tests.support.common import RESULTS
from tests.support.trackers import (
    FAKE_JUDGE_KEY,
    FAKE_OPENAI_KEY,
    FAKE_WANDB_KEY,
    files_holding,
    kept_ids,
    last_per_step,
    offline_env,
    per_round,
    same_series,
    seal_tui,
    tensorboard_scalars,
    tensorboard_texts,
    trackio_run,
    wandb_history_and_config,
)


def export(runs_dir: Path, run_id: str, to: str, env: dict, *extra: str):
    proc = seal_tui("export", run_id, "--to", to, "--runs-dir", str(runs_dir.resolve()), *extra, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"mirrored run {run_id} into"), proc.stdout
    return proc


def test_tensorboard_export_reads_back_as_the_stores_figures(eval_runs, tmp_path):
    runs_dir, run_id = eval_runs
    export(runs_dir, run_id, "tensorboard", offline_env(tmp_path))
    store = Store(runs_dir)
    folder = runs_dir / "tensorboard" / run_id
    scalars = tensorboard_scalars(folder)
    figures = per_round(store, run_id)
    # the headline curves under the names a researcher looks for, then every per-round figure the store has
    for name, tag in (("heldout_self_edit", "heldout/self_edit"), ("heldout_none", "heldout/none"),
                      ("train_reward_mean", "train/reward_mean"), ("train_reward_max", "train/reward_max"),
                      ("kept_count", "train/kept_count"), ("judge_requests", "judge/requests"),
                      ("judge_prompt_tokens", "judge/prompt_tokens"), ("multi_self_edit", "heldout_multi/self_edit"),
                      ("forgetting_row_mean_final", "forgetting/row_mean_final")):
        assert figures[name], name
        assert metric_tag(name) == tag
    for name, values in figures.items():
        assert same_series(last_per_step(scalars[metric_tag(name)]), values), name
    assert [v for _, v in scalars["mstep/loss"]] == pytest.approx(
        [m["value"] for m in store.metrics(run_id, "mstep_loss")], rel=1e-6)
    telemetry = [e.payload for e in store.events_of(run_id, ["telemetry"])]
    assert [v for _, v in scalars["system/cpu_pct"]] == pytest.approx([t.cpu_pct for t in telemetry], rel=1e-6)
    assert [v for _, v in scalars["system/rss_mb"]] == pytest.approx([t.rss_mb for t in telemetry], rel=1e-6)
    # the kept self-edits of each round as a table, and the config as text, without the judge's key
    texts = tensorboard_texts(folder)
    tables = dict(texts["self_edits/kept"])
    for rnd, ids in kept_ids(store, run_id).items():
        rows = tables[rnd].splitlines()[2:]   # below the header and its rule
        assert [int(line.split("|")[2]) for line in rows] == ids
    config_text = texts["config"][0][1]
    assert "| grader.api_key_env | SEAL_TEST_JUDGE_KEY |" in config_text and "| inner.lr |" in config_text
    # exported again: the earlier export is replaced, not doubled
    export(runs_dir, run_id, "tensorboard", offline_env(tmp_path))
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    assert tensorboard_scalars(folder) == scalars


def test_wandb_offline_export_holds_the_metrics_and_config_and_no_key(eval_runs, tmp_path):
    runs_dir, run_id = eval_runs
    env = offline_env(tmp_path)
    proc = export(runs_dir, run_id, "wandb", env)
    assert "(offline)" in proc.stdout
    store = Store(runs_dir)
    [run_folder] = (Path(env["WANDB_DIR"]) / "wandb").glob(f"offline-run-*-{run_id}")
    history, config = wandb_history_and_config(run_folder)
    saved = json.loads(store.get_run(run_id)["config_json"])
    assert config["inner"] == saved["inner"] and config["grader"]["api_key_env"] == "SEAL_TEST_JUDGE_KEY"
    for name, values in per_round(store, run_id).items():
        tag = metric_tag(name)
        # each row carries its round: W&B draws the figure on that axis
        assert same_series(last_per_step([(row["round"], row[tag]) for row in history if tag in row]), values), name
    assert same_series([(row["mstep/step"], row["mstep/loss"]) for row in history if "mstep/loss" in row],
                       [(m["step"], m["value"]) for m in store.metrics(run_id, "mstep_loss")])
    tables = {row["round"]: row["self_edits/kept/path"] for row in history if "self_edits/kept/path" in row}
    for rnd, ids in kept_ids(store, run_id).items():
        table = json.loads((run_folder / "files" / tables[rnd]).read_text())
        assert [row[1] for row in table["data"]] == ids
    assert files_holding(tmp_path, [FAKE_WANDB_KEY, FAKE_OPENAI_KEY, FAKE_JUDGE_KEY]) == []


def test_trackio_export_lands_in_its_local_store(eval_runs, tmp_path):
    runs_dir, run_id = eval_runs
    env = offline_env(tmp_path)
    export(runs_dir, run_id, "trackio", env)
    store = Store(runs_dir)
    logs, config = trackio_run(Path(env["TRACKIO_DIR"]), "seal-tui", run_id)
    for name, values in per_round(store, run_id).items():
        tag = metric_tag(name)
        assert same_series(last_per_step([(row["step"], row[tag]) for row in logs if tag in row]), values), name
    assert [row["mstep/loss"] for row in logs if "mstep/loss" in row] == pytest.approx(
        [m["value"] for m in store.metrics(run_id, "mstep_loss")])
    tables = {row["step"]: row["self_edits/kept"]["_value"] for row in logs if "self_edits/kept" in row}
    for rnd, ids in kept_ids(store, run_id).items():
        assert [row["candidate"] for row in tables[rnd]] == ids
    saved = json.loads(store.get_run(run_id)["config_json"])
    assert config["inner.lr"] == saved["inner"]["lr"] and config["name"] == store.get_run(run_id)["name"]
    assert files_holding(tmp_path, [FAKE_OPENAI_KEY, FAKE_JUDGE_KEY]) == []


def test_a_fewshot_runs_conditions_keep_their_names(fewshot_runs, tmp_path):
    runs_dir, run_id = fewshot_runs
    export(runs_dir, run_id, "tensorboard", offline_env(tmp_path), "--dir", str(tmp_path / "tb"))
    scalars = tensorboard_scalars(tmp_path / "tb" / run_id)
    store = Store(runs_dir)
    for name, tag in (("heldout_none", "heldout/in_context"), ("heldout_passage", "heldout/oracle"),
                      ("heldout_self_edit", "heldout/self_edit")):
        assert same_series(last_per_step(scalars[tag]), store.metric_per_round(run_id, name)), tag


@pytest.mark.skipif(not (RESULTS / "eval_iter2.json").is_file(), reason=f"{RESULTS} is absent")
def test_an_imported_reference_run_exports_its_figures(tmp_path):
    env = offline_env(tmp_path)
    runs_dir = tmp_path / "runs"
    proc = seal_tui("import", str(RESULTS / "eval_iter2.json"), "--runs-dir", str(runs_dir.resolve()), env=env)
    assert proc.returncode == 0, proc.stderr
    store = Store(runs_dir)
    [run] = store.list_runs()
    export(runs_dir, run["id"], "tensorboard", env)
    scalars = tensorboard_scalars(runs_dir / "tensorboard" / run["id"])
    figures = per_round(store, run["id"])
    assert figures["heldout_self_edit"]
    for name, values in figures.items():
        assert same_series(last_per_step(scalars[metric_tag(name)]), values), name


def test_a_tracker_that_is_not_installed_is_named_with_the_extra_to_install(runs, tmp_path):
    runs_dir, run_id = runs
    code = ("import sys; sys.modules['trackio'] = None  # as where the package is not installed\n"
            "from seal_tui.cli import main; raise SystemExit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "export", run_id, "--to", "trackio", "--runs-dir", str(runs_dir.resolve())],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **offline_env(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.strip() == "seal-tui export: trackio is not installed: pip install 'seal-tui[trackio]'"


def test_an_unknown_tracker_or_a_stray_dir_is_named_with_the_choices(runs, tmp_path):
    runs_dir, run_id = runs
    env = offline_env(tmp_path)
    proc = seal_tui("export", run_id, "--to", "mlflow", "--runs-dir", str(runs_dir.resolve()), env=env)
    assert proc.returncode == 2 and "tensorboard|wandb|trackio" in proc.stderr and "Traceback" not in proc.stderr
    proc = seal_tui("export", run_id, "--dir", str(tmp_path / "x"), "--runs-dir", str(runs_dir.resolve()), env=env)
    assert proc.returncode == 2 and "--to with one of them" in proc.stderr
    assert not (tmp_path / "x").exists()
