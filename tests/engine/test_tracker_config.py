"""The config a tracker is given (``run.report_to``, ``export --to``): every field, never a key."""

from __future__ import annotations

import json

from engine.config import load_config
from engine.trackers.figures import REDACTED, flat_config, public_config


def test_a_key_inside_any_config_value_is_redacted_and_the_rest_kept(monkeypatch):
    secret = "k3y-7c1e9a5b3d8f2e6a"
    monkeypatch.setenv("MY_JUDGE_API_KEY", secret)
    cfg = load_config(overrides=[f'grader.base_url="https://judge.example/v1?key={secret}"',
                                 'grader.api_key_env="MY_JUDGE_API_KEY"', 'sample.template="sk-abcdef {context}"',
                                 "sample.prompt_style=custom"]).to_dict()
    flat = flat_config(public_config(cfg))
    assert flat["grader.base_url"] == REDACTED and flat["sample.template"] == REDACTED
    assert secret not in repr(flat)
    assert flat["grader.api_key_env"] == "MY_JUDGE_API_KEY"   # the variable's name is what the run used
    assert flat["inner.lr"] == cfg["inner"]["lr"] and flat["inner.targets"] == json.dumps(cfg["inner"]["targets"])
    assert len(flat) == sum(len(section) for section in cfg.values())
