"""The data-parallel M-step (mstep.workers = 2) on this CPU: Ray Train's TorchTrainer with two
gloo workers on a local Ray, and torchrun's two accelerate processes. Each must train the policy
the one-process M-step trains: the same loss curve and weights within rounding, and a merged
policy that loads with from_pretrained."""

from __future__ import annotations

import json

import pytest
import torch

from engine.config import load_config
from engine.models import load_policy
from engine.mstep import train_policy
from engine.mstep_parallel import train_policy_parallel

pytestmark = pytest.mark.slow

EXAMPLES = [(f"Write notes on passage {i}.", f"Fact {i}: the river {i % 3} runs past town {i * 7}.")
            for i in range(10)]


def mstep_config(executor: str):
    return load_config(preset="squad-small", overrides=[
        f'run.executor="{executor}"', "run.worker_cpus=1", "mstep.workers=2", "mstep.lora_r=4", "mstep.lora_alpha=8",
        "mstep.lr=1e-3", "mstep.epochs=2", "mstep.batch_size=4", "model.max_seq_len=128", 'run.device="cpu"'])


def one_process(model_dir, cfg):
    policy = load_policy(str(model_dir), device="cpu")
    curve = []
    last = train_policy(policy, EXAMPLES, cfg.mstep, max_len=cfg.model.max_seq_len, seed=7,
                        on_step=lambda *step: curve.append(step))
    return policy, curve, last


def two_processes(model_dir, cfg, work_dir):
    policy = load_policy(str(model_dir), device="cpu")
    cfg.model.name_or_path = str(model_dir)
    curve = []
    last = train_policy_parallel(policy, EXAMPLES, cfg, seed=7, work_dir=work_dir,
                                 on_step=lambda *step: curve.append(step))
    return policy, curve, last


def assert_same_training(single, parallel, saved_dir):
    (p1, curve1, last1), (p2, curve2, last2) = single, parallel
    assert [s[:2] + s[3:] for s in curve2] == [s[:2] + s[3:] for s in curve1]   # steps, totals, epochs
    assert [s[2] for s in curve2] == pytest.approx([s[2] for s in curve1], rel=1e-4)
    assert last2 == pytest.approx(last1, rel=1e-4)
    assert curve1[0][2] != pytest.approx(curve1[-1][2], rel=1e-3)          # it did learn: the curve moves
    for (name, a), b in zip(p1.model.state_dict().items(), p2.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert json.loads((saved_dir / "mstep_curve.json").read_text())["processes"] == 2
    from transformers import AutoModelForCausalLM

    saved = AutoModelForCausalLM.from_pretrained(saved_dir)
    for (name, a), b in zip(saved.state_dict().items(), p2.model.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    import os

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        yield ray
    finally:
        ray.shutdown()   # the Ray fit() started for the test


def test_ray_train_on_two_gloo_workers_trains_as_one_process(tiny_model_dir, tmp_path, local_ray):
    cfg = mstep_config("ray")
    single = one_process(tiny_model_dir, cfg)
    parallel = two_processes(tiny_model_dir, cfg, tmp_path / "mstep")
    assert_same_training(single, parallel, tmp_path / "mstep" / "policy-out")


def test_accelerate_on_two_torchrun_processes_trains_as_one_process(tiny_model_dir, tmp_path):
    cfg = mstep_config("local")
    single = one_process(tiny_model_dir, cfg)
    parallel = two_processes(tiny_model_dir, cfg, tmp_path / "mstep")
    assert_same_training(single, parallel, tmp_path / "mstep" / "policy-out")
