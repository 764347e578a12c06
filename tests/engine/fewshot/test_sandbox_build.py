"""The few-shot sandbox's build, reduced: a tokenizer and a tiny Llama made from the world's
curriculum load as any model does and run a few-shot round end to end through the engine."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from engine.store import Store
from engine.tasks.fewshot.sandbox_build import ArcBuildCfg, build, documents, encode_masked, random_plan
from tests.support.common import REPO
from tests.support.engine_runs import heldout, run_engine

pytestmark = pytest.mark.slow

SMALL = ArcBuildCfg(steps=3, n_pretrain=40, n_plan_docs=12, batch=4, vocab_size=420, hidden=32, layers=1, heads=2,
                    intermediate=64, threads=1, device="cpu")


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("arc-sandbox") / "model"
    return out, build(SMALL, out, show_progress=False)


def test_the_curriculum_teaches_copies_and_plans_and_never_a_colour_map():
    from engine.sandbox.arc_world import SANDBOX_WORLD, world
    from engine.tasks.fewshot.grids import COMPACT
    from engine.tasks.fewshot.plan import parse_plan

    w = world(0, n_pretrain=40, n_train=40, n_heldout=40, cfg=SANDBOX_WORLD)
    kinds = documents(w, 0, n_plan_docs=12, loo_share=0.5)
    assert len(kinds["skills"]) >= 40 and len(kinds["plans"]) == 12
    for prompt, reply in kinds["plans"]:    # every plan the base policy is taught is a valid plan
        assert prompt.endswith("<|assistant|>\n")
        parse_plan(reply)
    for prompt, reply in kinds["skills"]:   # a skill document's answer is its query grid, copied
        query = prompt.rsplit("in ", 1)[1].split(" out", 1)[0]
        assert reply.startswith(query.strip()), (prompt, reply)
    # the held-out tasks' grids never appear in the curriculum
    text = "\n".join(p + r for p, r in kinds["skills"])
    held = [t.arc["test"][0]["output"] for t in w.heldout]
    assert not any(COMPACT.render(g) in text for g in held if len(g) > 3)
    # the prior is broad: many different plans
    import random
    rng = random.Random(0)
    assert len({json.dumps(random_plan(rng)) for _ in range(200)}) > 150


def test_a_reduced_build_loads_with_from_pretrained_and_runs_a_fewshot_round(small_build, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, meta = small_build
    assert meta["task"] == "fewshot" and meta["documents"]["plans"] == 12
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.hidden_size == 32 and tok.chat_template
    # every digit is a token of its own: a grid cell is never merged with its neighbour
    assert tok.tokenize("in 1234|5678 out ") .count("|") == 1 and all(
        len(t.lstrip("Ġ")) <= 1 for t in tok.tokenize("1234|5678") if t.lstrip("Ġ").isdigit())
    proc = run_engine("run", "--preset", "arc-sandbox", "--runs-dir", str(tmp_path),
                      "--set", f"model.name_or_path={json.dumps(str(out))}", "--set", "run.rounds=1",
                      "--set", "data.n_train=2", "--set", "data.n_heldout=2", "--set", "sample.k=2",
                      "--set", "filter.top_k=2", "--set", "fewshot.heldout_self_edits=1", "--set", "run.threads=1",
                      "--set", "sample.max_new_tokens=40")
    assert proc.returncode == 0, proc.stderr
    store = Store(tmp_path)
    run_id = proc.stdout.split()[1]
    assert store.get_run(run_id)["status"] == "finished"
    titles = [c["title"] for c in store.get_contexts(run_id, "heldout")]
    assert titles == ["sbx-heldout-000", "sbx-heldout-001"]
    assert len(store.candidates(run_id, 1)) == 4
    assert [m["round"] for m in store.metrics(run_id, "heldout_self_edit")] == [0, 1]


def test_sandbox_build_names_an_unknown_task():
    proc = run_engine("sandbox", "build", "--task", "chess")
    assert proc.returncode == 2 and "--task chess: expected knowledge or fewshot" in proc.stderr


def test_the_shipped_fewshot_sandbox_model_is_its_build():
    """model.name_or_path = "sandbox-arc" is the folder the build writes, with its record beside it."""
    from engine.models import resolve_model_path
    from engine.sandbox import META_FILE, default_arc_model_dir

    folder = resolve_model_path("sandbox-arc")
    assert folder == str(default_arc_model_dir())
    meta = json.loads((default_arc_model_dir() / META_FILE).read_text())
    assert meta["task"] == "fewshot" and meta["build"] == asdict(ArcBuildCfg())   # every setting the default


def test_grid_documents_carry_the_loss_on_answers_or_on_every_token(small_build):
    """The first phase learns to answer (the loss on output grids and the reply, never on a random
    input grid or the layout); the second on every token, as a language model is pretrained."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(small_build[0])
    prompt, reply = "<|user|>\nin 12|34 out 21|43\nin 56|78 out ", "65|87<|end|>"
    ids, labels = encode_masked(tok, prompt, reply)
    shown = tok.decode([t for t, lab in zip(ids, labels) if lab != -100])
    assert shown.replace(" ", "").startswith("21|4365|87") and "12" not in shown and "in" not in shown
    ids_all, labels_all = encode_masked(tok, prompt, reply, every=True)
    assert ids_all == ids and labels_all == ids


@pytest.mark.skipif(not (REPO / "engine/sandbox/arc_model/model.safetensors").exists(), reason="no shipped model")
def test_the_shipped_model_learns_a_held_out_map_from_a_plan_with_the_loss_on_all_tokens(tmp_path):
    """In context it copies and fails; one plan that trains on all tokens (the prompts' random input
    grids too) teaches it maps it never saw: the prompts cost it little, as a pretrained model's do."""
    proc = run_engine("run", "--preset", "arc-sandbox", "--runs-dir", str(tmp_path), "--set", "run.rounds=0",
                      "--set", "data.n_heldout=8", "--set", "fewshot.heldout_self_edits=1", "--set", "run.threads=1",
                      "--set", 'fewshot.oracle_strategy="train_using_all_tokens"', "--set", "fewshot.oracle_lr=3e-3",
                      "--set", "fewshot.oracle_epochs=5")
    assert proc.returncode == 0, proc.stderr
    [(_, in_context, all_tokens_plan, _)] = heldout(Store(tmp_path), proc.stdout.split()[1])
    assert in_context == 0.0 and all_tokens_plan >= 0.25, (in_context, all_tokens_plan)
