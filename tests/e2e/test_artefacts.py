"""The weights a run saves, as other tools take them: each kept adapter folder is a PEFT adapter
that names the model it adapts (vLLM's ``--lora-modules name=path`` serves it on that base), each
saved policy an HF folder; both carry a model card; ``seal-tui export --what policy|adapters``
copies them out. On the session's real 2-round engine run (kept adapters saved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.store import Store
from tests.support.common import seal_tui

pytestmark = pytest.mark.slow


def card(folder: Path) -> tuple[dict, str]:
    """A model card's YAML front matter and its text."""
    with open(folder / "README.md", encoding="utf-8", newline="") as fh:   # a sampled self-edit may hold a \r
        text = fh.read()
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def export(recorded_run, to: Path, *args: str) -> tuple[Store, str, str]:
    """``seal-tui export RUN ARGS --to TO`` on the session's run, which must succeed: (store, run id, its output)."""
    runs_dir, run_id = recorded_run
    proc = seal_tui(runs_dir, "export", run_id, *args, "--to", str(to))
    assert proc.returncode == 0, proc.stderr
    return Store(runs_dir), run_id, proc.stdout


def heldout_rows(store: Store, run_id: str, upto: int) -> dict[int, tuple[str, str]]:
    """Round -> the store's held-out accuracy (no adaptation, self-edits), as a card writes it."""
    figures = {(m["round"], m["name"]): m["value"] for m in store.metrics(run_id)}
    return {r: (f"{figures[(r, 'heldout_none')]:.3f}", f"{figures[(r, 'heldout_self_edit')]:.3f}")
            for r in range(upto + 1) if (r, "heldout_self_edit") in figures}


def test_kept_adapters_load_on_the_base_they_name_and_carry_a_card(recorded_run, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    runs_dir, run_id = recorded_run
    store = Store(runs_dir)
    run_dir = runs_dir / run_id
    kept = {c["id"]: c for c in store.candidates(run_id) if c["kept"]}
    folders = sorted(run_dir.glob("adapters/round-*/candidate-*"))
    assert {int(f.name.split("-")[1]) for f in folders} == set(kept)
    for round_, expected_base in ((1, tiny_model_dir), (2, run_dir / "policy" / "round-1")):
        folder = next(f for f in folders if f.parent.name == f"round-{round_}")
        config = json.loads((folder / "adapter_config.json").read_text())
        # round 1 adapts the starting model; round 2 the policy round 1's M-step saved
        base_path = Path(config["base_model_name_or_path"])
        assert base_path.is_dir() and base_path.resolve() == expected_base.resolve()
        base = AutoModelForCausalLM.from_pretrained(base_path).eval()
        ids = torch.tensor([[1, 5, 9, 13, 17, 21]])
        with torch.no_grad():
            before = base(ids).logits
            adapted = PeftModel.from_pretrained(base, folder).eval()
            after = adapted(ids).logits
        assert not torch.allclose(before, after), "the adapter changes nothing: its weights were not saved"
        front, body = card(folder)
        assert front["base_model"] == str(base_path) and front["library_name"] == "peft" and "seal" in front["tags"]
        cand = kept[int(folder.name.split("-")[1])]
        assert cand["self_edit"][:200] in body and f"{cand['reward']:.3f}" in body
        assert f"--lora-modules seal-r{round_}-c{cand['id']}={folder}" in body


def test_exported_policy_loads_and_its_card_holds_the_held_out_figures(recorded_run, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "policy-r2"
    store, run_id, said = export(recorded_run, out, "--what", "policy", "--round", "2")
    assert "round 2 policy" in said and str(out) in said
    exported = AutoModelForCausalLM.from_pretrained(out)
    saved = AutoModelForCausalLM.from_pretrained(store.runs_dir / run_id / "policy" / "round-2")
    assert all(torch.equal(a, b) for a, b in zip(exported.state_dict().values(), saved.state_dict().values()))
    front, body = card(out)
    config = json.loads(store.get_run(run_id)["config_json"])
    assert front["base_model"] == config["model"]["name_or_path"] and front["library_name"] == "transformers"
    assert "seal" in front["tags"]
    rows = heldout_rows(store, run_id, 2)
    assert set(rows) == {0, 1, 2}
    for r, (none, self_edit) in rows.items():
        label = f"{r} (this policy)" if r == 2 else str(r)
        assert any(line.startswith(f"| {label} | {none} |") and line.rstrip(" |").endswith(self_edit)
                   for line in body.splitlines()), f"round {r}'s held-out figures are not in the card"
    trained = [c for c in store.candidates(run_id) if c["kept"]]
    assert all(c["self_edit"][:200] in body for c in trained)   # the data it was trained on
    assert str(out) in body and config["data"]["path"] in body
    # the run's own folder has the card the engine wrote as the round ended
    assert (store.runs_dir / run_id / "policy" / "round-2" / "README.md").is_file()


def test_exported_adapters_of_a_round_and_what_export_refuses(recorded_run, tmp_path):
    out = tmp_path / "adapters"
    store, run_id, _ = export(recorded_run, out, "--what", "adapters", "--round", "1")
    runs_dir = store.runs_dir
    kept_r1 = sorted(c["id"] for c in store.candidates(run_id, 1) if c["kept"])
    assert sorted(int(p.name.split("-")[1]) for p in out.glob("round-1/candidate-*")) == kept_r1
    assert not list(out.glob("round-2"))
    folder = out / "round-1" / f"candidate-{kept_r1[0]}"
    front, body = card(folder)
    assert front["library_name"] == "peft" and f"PeftModel.from_pretrained(base, \"{folder}\")" in body

    again = seal_tui(runs_dir, "export", run_id, "--what", "adapters", "--to", str(out))
    assert again.returncode == 2 and f"--to {out} exists and is not empty" in again.stderr
    assert sorted(int(p.name.split("-")[1]) for p in out.glob("round-*/candidate-*")) == kept_r1   # untouched
    missing = seal_tui(runs_dir, "export", run_id, "--what", "policy", "--round", "5", "--to", str(tmp_path / "p"))
    assert missing.returncode == 2 and "saved no policy for round 5" in missing.stderr and "1, 2" in missing.stderr
    no_to = seal_tui(runs_dir, "export", run_id, "--what", "policy")
    assert no_to.returncode == 2 and "--to DIR" in no_to.stderr
    for p in (again, missing, no_to):
        assert "Traceback" not in p.stderr
    assert not (tmp_path / "p").exists() and not list(tmp_path.glob("*.part"))
