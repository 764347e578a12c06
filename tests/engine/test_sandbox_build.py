"""The sandbox build: a reduced `seal-engine sandbox build`, loaded and run by the real engine."""

from __future__ import annotations

import json

import pytest

import engine.sandbox as sandbox
from engine.store import Store
from tests.support.engine_runs import run_engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reduced_build(tmp_path_factory):
    """The real command with few steps and few entities (seconds, not minutes)."""
    out = tmp_path_factory.mktemp("sandbox") / "model"
    proc = run_engine("sandbox", "build", "--seed", "7", "--steps", "3", "--entities", "40", "--out", str(out),
                      timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_build_reports_where_it_saved_and_shows_progress(reduced_build):
    out, proc = reduced_build
    assert str(out) in proc.stdout and "minutes" in proc.stdout
    assert "pretraining [" in proc.stderr and "3/3" in proc.stderr
    meta = json.loads((out / sandbox.META_FILE).read_text())
    assert meta["world_seed"] == 7 and meta["build"]["steps"] == 3
    assert 1e6 <= meta["parameters"] <= 5e6


def test_build_loads_with_from_pretrained(reduced_build):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.prompts import question_prompt, render, wants_chat

    out, _ = reduced_build
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert tok.eos_token_id is not None and tok.pad_token_id is not None and tok.eos_token_id != tok.pad_token_id
    assert wants_chat(tok)
    prompt = render(tok, question_prompt("Where was Pard Tisek born?"), use_chat=True)
    ids = tok(prompt, return_tensors="pt")
    generated = model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert generated.shape[1] > ids["input_ids"].shape[1]
    weights = sum(p.stat().st_size for p in out.glob("*.safetensors"))
    assert weights < 3 * sum(p.numel() for p in model.parameters())  # stored in 16 bits


def test_contexts_follow_the_model_world_seed(reduced_build):
    out, _ = reduced_build
    world = sandbox.contexts(out)
    assert len(world["train"]) == 500 and len(world["heldout"]) == 200
    assert not {c["title"] for c in world["train"]} & {c["title"] for c in world["heldout"]}
    assert sandbox.contexts(out) == world


def test_missing_model_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "default_model_dir", lambda: tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="seal-engine sandbox build"):
        sandbox.resolve_model()


def test_shipped_model_is_present_and_small():
    folder = sandbox.resolve_model()
    from pathlib import Path

    files = list(Path(folder).iterdir())
    assert sum(f.stat().st_size for f in files) < 8 * 2**20
    assert {"config.json", "model.safetensors", "tokenizer.json", sandbox.META_FILE} <= {f.name for f in files}
    assert {"train", "heldout"} == set(sandbox.contexts())


def test_engine_runs_one_sandbox_round_on_the_reduced_model(reduced_build, tmp_path):
    out, _ = reduced_build
    world = sandbox.contexts(out)
    data = tmp_path / "world.json"
    data.write_text(json.dumps(world["heldout"][:3] + world["train"][:6]))
    runs = tmp_path / "runs"
    proc = run_engine("run", "--preset", "sandbox", "--runs-dir", str(runs),
                      "--set", f"model.name_or_path={json.dumps(str(out))}",
                      "--set", f"data.path={json.dumps(str(data))}",
                      "--set", "run.rounds=1", "--set", "data.n_train=2", "--set", "data.n_heldout=2",
                      "--set", "sample.k=2", "--set", "sample.max_new_tokens=16", "--set", "inner.epochs=2",
                      "--set", "mstep.epochs=1", "--set", "filter.min_reward=-1.0", timeout=300)
    assert proc.returncode == 0, proc.stderr
    store = Store(runs)
    run_id = store.list_runs()[0]["id"]
    assert store.get_run(run_id)["status"] == "finished"
    names = {m["name"] for m in store.metrics(run_id)}
    assert {"heldout_none", "heldout_passage", "heldout_self_edit"} <= names
    cands = store.candidates(run_id)
    assert len(cands) == 2 * 2 and all(c["reward"] is not None for c in cands)
