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
    # ranges a machine and a run can live with
    ("run.threads=100000", "run.threads = 100000: must be <= "),
    ("inner.lr=inf", "inner.lr = inf: expected a finite number"),
    ("inner.lr=1e999", "inner.lr = inf: expected a finite number (a value such as 1e999 overflows to inf)"),
    ("sample.temperature=inf", "sample.temperature = inf: expected a finite number"),
    ("mstep.lr=nan", "mstep.lr = nan: expected a finite number"),
    ("inner.lr=5", "inner.lr = 5.0: must be <= 1.0"),
    ("run.seed=99999999999999999999999", "run.seed = 99999999999999999999999: must be <= 4294967295"),
    ("eval.seed=4294967296", "eval.seed = 4294967296: must be <= 4294967295"),
    ("sample.max_new_tokens=99999999999", "sample.max_new_tokens = 99999999999: must be <= 2147483647"),
    # experiment trackers: names from a fixed set
    ('run.report_to=["tensorboard", "mlflow"]', "'mlflow' is not one of tensorboard, wandb, trackio"),
    ("run.report_to=3", 'run.report_to = 3: expected a list of names (strings, quoted), e.g. ["tensorboard", "wandb"]'),
])
def test_bad_config_values_are_named(override, named):
    with pytest.raises(ConfigError) as err:
        load_config(preset="squad-small", overrides=[override])
    assert named in str(err.value)


def test_report_to_takes_any_trackers_once_each_default_none():
    assert load_config().run.report_to == []
    cfg = load_config(overrides=['run.report_to=["wandb", "tensorboard", "wandb"]'])
    assert cfg.run.report_to == ["wandb", "tensorboard"]
    assert load_config(overrides=["run.report_to=trackio,tensorboard"]).run.report_to == ["trackio", "tensorboard"]
    assert 'report_to = ["wandb", "tensorboard"]' in to_toml(cfg)


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


# ---------------------------------------------------------------- ranges a machine and a run can live with
def test_threads_are_bounded_by_the_cores_this_process_may_use():
    import os

    cores = len(os.sched_getaffinity(0))
    assert load_config(overrides=[f"run.threads={cores}"]).run.threads == cores
    with pytest.raises(ConfigError, match=rf"must be <= {cores}, the CPU cores this process may use"):
        load_config(overrides=[f"run.threads={cores + 1}"])


@pytest.mark.parametrize("pasted", ["sk-proj-Ab3dEf9hIjKlMn0pQrStUv", "sk-abc", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01",
                                    "Xy7Kq2Lm9Np4Rs8Tv3Wz6Ab1Cd5Ef", "my key with spaces"])
def test_a_pasted_key_is_refused_and_never_repeated(pasted, tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(preset="squad-small", overrides=[f"grader.api_key_env={pasted}"])
    message = str(err.value)
    assert "grader.api_key_env" in message and "export OPENAI_API_KEY=<your key>" in message
    assert pasted not in message and pasted[:6] not in message.replace("OPENAI", "")
    toml = tmp_path / "c.toml"
    toml.write_text(f'[grader]\napi_key_env = "{pasted}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(toml)
    assert pasted not in str(err.value)
    for name in ("OPENAI_API_KEY", "SEAL_TEST_JUDGE_KEY", "my_judge_key_2", ""):
        assert load_config(overrides=[f'grader.api_key_env="{name}"']).grader.api_key_env == name


def _config_values():
    from hypothesis import strategies as st

    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**80), max_value=2**80),
        st.booleans(), st.text(max_size=30), st.lists(st.text(max_size=8), max_size=3),
        st.sampled_from(["inf", "-inf", "nan", "1e999", "-1e999", "99999999999999999999999", "0x10", "1_000"]))


def test_any_value_of_any_field_loads_in_range_or_is_refused_by_name():
    """A sweep over every field with hostile values: load_config either refuses with a ConfigError
    naming the field, or gives a config whose numbers are finite and within the field's range."""
    import dataclasses
    import math

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from engine.config import INT_MAX, SECTIONS, Config, _apply

    keys = [(sec, fl) for sec in SECTIONS for fl in dataclasses.fields(getattr(Config(), sec))]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(keys), _config_values(), st.booleans())
    def check(key, value, via_set):
        section, fl = key
        name = f"{section}.{fl.name}"
        refused = None
        try:
            if via_set:
                raw = value if isinstance(value, str) else repr(value).replace("'", '"')
                cfg = load_config(preset="squad-small", overrides=[f"{name}={raw}"])
            else:
                cfg = load_config(preset="squad-small")
                _apply(cfg, {section: {fl.name: value}}, "test")
        except ConfigError as exc:
            refused = str(exc)
        if refused is not None:
            assert name in refused or "section.field=value" in refused or "must" in refused
            return
        got = getattr(getattr(cfg, section), fl.name)
        meta = fl.metadata
        if isinstance(got, float):
            assert math.isfinite(got)
        if isinstance(got, (int, float)) and not isinstance(got, bool):
            assert meta.get("min") is None or got >= meta["min"]
            assert got <= (meta["max"] if meta.get("max") is not None else (INT_MAX if isinstance(got, int) else math.inf))

    check()
