"""Config: presets, named errors for bad values and files, the held-out split's seed."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, load_config, preset_names, to_toml


def test_every_preset_loads_and_prints_with_descriptions():
    assert {"sandbox", "squad-small", "squad-paper"} <= set(preset_names())
    paper = load_config(preset="squad-paper")
    assert (paper.inner.lora_r, paper.inner.lora_alpha, paper.inner.epochs, paper.inner.lr) == (32, 64.0, 10, 1e-3)
    assert (paper.mstep.lora_r, paper.mstep.lora_alpha, paper.grader.kind) == (64, 128.0, "llm")
    text = to_toml(paper)
    assert "# inner-loop LoRA rank" in text and "lora_r = 32" in text


@pytest.mark.parametrize("override, named", [
    ("inner.lr=abc", "inner.lr = 'abc': expected a number"),
    ("inner.lr=-1", "inner.lr = -1.0: must be >"),
    ("run.review=maybe", "run.review = 'maybe': expected one of auto, kept, all"),
    ("sample.k=0", "sample.k = 0: must be >= 1"),
    ("grader.kind=gpt", "grader.kind = 'gpt': expected one of exact, contains, f1, llm"),
    ("inner.nope=1", "unknown field inner.nope"),
    ("bogus.x=1", "unknown section [bogus]"),
    ("noequals", "expected section.field=value"),
])
def test_bad_config_values_are_named(override, named):
    with pytest.raises(ConfigError) as err:
        load_config(preset="squad-small", overrides=[override])
    assert named in str(err.value)


def test_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[inner]\nlora_r = 'eight'\n")
    with pytest.raises(ConfigError, match=r"inner.lora_r = 'eight': expected a whole number"):
        load_config(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[inner\n")
    with pytest.raises(ConfigError, match=str(broken)):
        load_config(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_split_seed_fixes_the_held_out_contexts_across_run_seeds():
    """Comparing seeds means evaluating them on the same held-out contexts: data.split_seed
    fixes the split, while -1 (the default) splits by run.seed."""
    from engine.tasks.knowledge.data import load_run_contexts

    titles = lambda cfg, seed: [c["title"] for c in load_run_contexts(cfg.data, seed)[1]]
    fixed = load_config(preset="sandbox")
    assert fixed.data.split_seed == 0
    assert titles(fixed, 0) == titles(fixed, 1)
    by_run = load_config(preset="sandbox", overrides=["data.split_seed=-1"])
    assert titles(by_run, 0) != titles(by_run, 1)
