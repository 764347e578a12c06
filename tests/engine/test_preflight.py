"""Every input is checked before a run exists: a bad one is refused with one line naming it and
the fix (exit code 2), and leaves no run and no folder behind; in ``seal-engine run``,
``seal-tui run --detach`` and (tests/e2e) the console's form. The checks import no torch, so a
refusal is quick; the engine's own command line is run in-process where only checks run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main as engine_main
from engine.config import load_config
from engine.preflight import InputError, preflight
from engine.store import Store
from engine.tasks import make_task
from tests.support.common import REPO
from tests.support.engine_runs import tiny_contexts


def tiny_sets(model: Path, data: Path, *extra: str) -> list[str]:
    sets = [f"model.name_or_path={json.dumps(str(model))}", f"data.path={json.dumps(str(data))}",
            "data.n_train=4", "data.n_heldout=3", "sample.max_new_tokens=24", *extra]
    return [a for s in sets for a in ("--set", s)]


def refused(capsys, runs_dir: Path, *args: str) -> str:
    """Run ``seal-engine run`` in-process: it must refuse (2), print one named line and leave nothing."""
    code = engine_main(["run", "--preset", "squad-small", "--runs-dir", str(runs_dir), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("seal-engine: error: ") and err.count("\n") == 1, err
    assert not runs_dir.exists() or (not (runs_dir / "seal.db").exists() or not Store(runs_dir).list_runs())
    assert not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.is_dir()], "a run folder was left"
    return err


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(tiny_contexts(12)))
    return path


# ---------------------------------------------------------------- data
def test_a_missing_file_or_a_folder_as_data_path_is_named(tmp_path, tiny_model_dir, capsys):
    err = refused(capsys, tmp_path / "runs", *tiny_sets(tiny_model_dir, tmp_path / "missing.json"))
    assert "missing.json does not exist" in err
    (tmp_path / "a-folder").mkdir()
    err = refused(capsys, tmp_path / "runs", *tiny_sets(tiny_model_dir, tmp_path / "a-folder"))
    assert f"data.path = {tmp_path / 'a-folder'}: a folder, not a file; set data.path to the data file in it" in err
    few_shot = engine_main(["run", "--preset", "arc-sandbox", "--runs-dir", str(tmp_path / "runs"),
                            "--set", f"data.path={json.dumps(str(tmp_path / 'a-folder'))}"])
    assert few_shot == 2 and "a folder, not a file" in capsys.readouterr().err


def test_n_train_larger_than_the_data_is_refused_not_cut(tmp_path, tiny_model_dir, data, capsys):
    err = refused(capsys, tmp_path / "runs", *tiny_sets(tiny_model_dir, data, "data.n_train=50"))
    assert "data.n_train = 50" in err and "leaves 9 passages to train on once 3 are held out" in err
    assert "lower data.n_train to at most 9" in err


def test_a_passage_too_long_for_the_model_is_named_by_its_index_in_the_file(tmp_path, tiny_model_dir, capsys):
    items = tiny_contexts(12)
    items[7]["context"] = "The harbour ledger lists every ship. " * 150_000   # 5 MB
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(items))
    err = refused(capsys, tmp_path / "runs", *tiny_sets(tiny_model_dir, path))
    assert f"passage #7 ({items[7]['title']}) of {path}" in err
    assert "does not fit the model's context of 4096 tokens" in err and "shorten it" in err


def test_a_sweep_of_malformed_data_files_is_refused_by_name_and_never_crashes(tmp_path, tiny_model_dir):
    """Hypothesis writes broken data files; the checks either accept them or refuse them naming the
    file, and never raise anything else or write into the runs dir."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
    question = st.one_of(leaf, st.fixed_dictionaries({"question": st.one_of(st.text(max_size=20), leaf),
                                                     "answer": st.one_of(st.text(max_size=10), leaf)}))
    context = st.one_of(leaf, st.fixed_dictionaries(
        {"title": st.one_of(st.text(max_size=10), leaf), "context": st.one_of(st.text(max_size=60), leaf),
         "questions": st.one_of(leaf, st.lists(question, max_size=3))}))
    document = st.one_of(leaf, st.lists(context, max_size=14), st.dictionaries(st.text(max_size=5), leaf))
    raw = st.one_of(document.map(json.dumps), st.binary(max_size=64).map(lambda b: b.decode("latin-1")))
    runs_dir = tmp_path / "runs"
    path = tmp_path / "data.json"

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    @given(raw)
    def check(text):
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        cfg = load_config(preset="squad-small", overrides=[
            f"model.name_or_path={json.dumps(str(tiny_model_dir))}", f"data.path={json.dumps(str(path))}",
            "data.n_train=1", "data.n_heldout=1"])
        prepared, refusal = None, None
        try:
            prepared = preflight(cfg, make_task(cfg), runs_dir)
        except InputError as exc:
            refusal = str(exc)
        if refusal is not None:
            assert str(path) in refusal and "\n" not in refusal
        else:
            assert prepared.train_pool and prepared.heldout
        assert not runs_dir.exists()

    check()


# ---------------------------------------------------------------- model
def test_a_cut_short_safetensors_file_is_named_with_its_folder(tmp_path, tiny_model_dir, data, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    err = refused(capsys, tmp_path / "runs", *tiny_sets(model, data))
    assert f"model folder {model}: model.safetensors is cut short" in err and "save the model again" in err


def test_a_model_folder_without_a_tokenizer_is_named(tmp_path, tiny_model_dir, data, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (model / name).unlink()
    err = refused(capsys, tmp_path / "runs", *tiny_sets(model, data))
    assert f"model folder {model} has no tokenizer" in err


def hub_env(tmp_path: Path, **extra: str) -> dict:
    return {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_CACHE": str(tmp_path / "hf-home" / "hub"),
            **extra}


def test_an_offline_hub_id_fails_at_once_with_the_folder_advice(tmp_path, data):
    """HF_HUB_OFFLINE: no request at all; an unreachable hub (HF_ENDPOINT on a closed port): one quick
    probe, not a minute of retries. Either way nothing is left behind."""
    runs_dir = tmp_path / "runs"
    args = [sys.executable, "-m", "engine", "run", "--preset", "squad-small", "--runs-dir", str(runs_dir),
            "--set", f"data.path={json.dumps(str(data))}", "--set", 'model.name_or_path="seal-tests/not-cached"']
    for env, why in ((hub_env(tmp_path, HF_HUB_OFFLINE="1"), "HF_HUB_OFFLINE is set"),
                     (hub_env(tmp_path, HF_ENDPOINT="http://127.0.0.1:9"), "http://127.0.0.1:9 does not answer")):
        proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "model 'seal-tests/not-cached' is not in this machine's Hugging Face cache" in proc.stderr
        assert why in proc.stderr and "set model.name_or_path to that folder" in proc.stderr
        assert not runs_dir.exists()


def test_a_cached_hub_model_loads_from_the_cache_when_the_hub_cannot_be_reached(tmp_path, tiny_model_dir, data):
    """A hub id in the cache, on a machine that cannot reach the hub: the checks pass and the model
    loads from the cache without asking the hub (local_files_only), not after retries."""
    repo = tmp_path / "hf-home" / "hub" / "models--seal-tests--tiny"
    revision = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    script = f"""
import json
from pathlib import Path
from engine.config import load_config
from engine.models import load_policy
from engine.preflight import preflight
from engine.tasks import make_task
cfg = load_config(preset="squad-small", overrides=['model.name_or_path="seal-tests/tiny"',
                  'data.path={json.dumps(str(data))}', "data.n_train=4", "data.n_heldout=3"])
model = preflight(cfg, make_task(cfg), Path({str(tmp_path / "runs")!r})).model
policy = load_policy(model.source, device="cpu", local_files_only=model.local_files_only)
print(json.dumps([model.local_files_only, str(model.folder), model.max_positions,
                  policy.model.config.max_position_embeddings]))
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=hub_env(tmp_path, HF_ENDPOINT="http://127.0.0.1:9"))
    assert proc.returncode == 0, proc.stderr
    local_only, folder, positions, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert local_only and folder == str(repo / "snapshots" / revision) and positions == loaded == 4096


# ---------------------------------------------------------------- runs dir, and the console's command
def test_seal_tui_run_detach_with_missing_data_exits_nonzero_and_leaves_nothing(tmp_path):
    runs_dir = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), "run", "--detach",
                           "--set", "data.path=missing.json"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("seal-tui run: data file missing.json does not exist")
    assert "started run" not in proc.stderr and proc.stdout == ""
    assert not runs_dir.exists(), "a refused run left its store or folder behind"


def test_a_runs_dir_that_cannot_be_written_is_refused_before_anything(tmp_path, tiny_model_dir, data, capsys):
    from tests.support.small_disk import make_read_only, small_disk

    with small_disk(tmp_path / "disk", "1m") as disk:
        (disk / "runs").mkdir()
        make_read_only(disk)
        err = refused(capsys, disk / "runs", *tiny_sets(tiny_model_dir, data))
        assert f"runs dir {disk / 'runs'} is not writable" in err


# ---------------------------------------------------------------- config values through the command line
def test_a_pasted_key_is_refused_by_the_engine_and_written_nowhere(tmp_path, capsys):
    key = "sk-proj-Zq81xLm29Vb7Tt4Ns0Kc"
    code = engine_main(["run", "--runs-dir", str(tmp_path / "runs"), "--set", f"grader.api_key_env={key}"])
    err = capsys.readouterr().err
    assert code == 2 and "looks like an API key" in err and key not in err
    assert not (tmp_path / "runs").exists()


def test_a_sweep_of_hostile_config_values_never_crashes_the_engine_or_leaves_a_run(tmp_path, capsys, monkeypatch):
    """Any field, any value (inf, 1e999, huge seeds and thread counts, wrong types) through
    ``seal-engine run --set``: exit 2 with one line naming what is wrong, never a traceback, nothing
    in the runs dir (a config that passes is then refused for its missing data file)."""
    import dataclasses

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from engine.config import SECTIONS, Config

    names = [f"{sec}.{fl.name}" for sec in SECTIONS for fl in dataclasses.fields(getattr(Config(), sec))]
    values = st.one_of(st.sampled_from(["inf", "-inf", "nan", "1e999", "99999999999999999999999", "100000",
                                        "-1", "0", '"x"', "true", "[]", '["a"]', "sk-abc123"]),
                       st.integers(min_value=-(2**70), max_value=2**70).map(str),
                       st.floats(allow_nan=False).map(repr))
    runs_dir = tmp_path / "runs"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a value taken for a hub id is checked without the network

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(names), values)
    def check(name, value):
        code = engine_main(["run", "--runs-dir", str(runs_dir), "--set", f"{name}={value}",
                            "--set", f"data.path={json.dumps(str(tmp_path / 'missing.json'))}"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith("seal-engine: error: ") and err.count("\n") == 1 and "Traceback" not in err
        assert not runs_dir.exists()

    check()
