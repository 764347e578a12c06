"""The data-parallel M-step on Ray Train: ``TorchTrainer`` places ``mstep.workers`` processes on
the cluster (one GPU each where the workers have GPUs, else ``run.worker_cpus`` CPUs) and joins
them in a torch.distributed group (nccl or gloo). Each loads the model, takes the engine's
policy from the object store and trains its share (``engine.mstep_parallel.train_shard``); the
first reports the merged policy as a Ray Train checkpoint, which the engine reads back."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import ray
import ray.train
from ray.train import Checkpoint, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from engine.models import Policy
from engine.scale.cluster import connect


def _train_loop(config: dict) -> None:
    """One Ray Train worker (runs on the cluster)."""
    from engine.models import load_policy

    job, train_shard = config["job"], config["train_shard"]
    policy = load_policy(**{**job.model, "device": ray.train.torch.get_device().type})
    policy.model.load_state_dict(ray.get(config["weights"]))
    if ray.train.get_context().get_world_rank() == 0:
        with tempfile.TemporaryDirectory() as out:
            train_shard(policy, job, Path(out))
            ray.train.report({"done": 1}, checkpoint=Checkpoint.from_directory(out))
    else:
        train_shard(policy, job, None)
        ray.train.report({"done": 1})


def fit(policy: Policy, job, run_cfg, workers: int, work_dir: Path, train_shard: Callable) -> Path:
    """Train on ``workers`` Ray Train processes, each running ``train_shard(policy, job, out)``
    (``engine.mstep_parallel``'s); the folder of the merged policy and its curve.

    Ray Train keeps its runs under ``work_dir`` (on a cluster of several nodes it must be storage
    every node reaches, as Ray Train asks)."""
    connect(run_cfg)   # the executor's cluster (already joined in a run)
    state = {k: v.detach().to("cpu") for k, v in policy.model.state_dict().items()}
    gpu = run_cfg.worker_gpus > 0
    trainer = TorchTrainer(
        _train_loop,
        train_loop_config={"job": job, "weights": ray.put(state), "train_shard": train_shard},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpu,
                                     resources_per_worker={"CPU": run_cfg.worker_cpus, **({"GPU": 1} if gpu else {})}),
        run_config=RunConfig(name="ray-train", storage_path=str(work_dir.resolve())),
    )
    result = trainer.fit()
    if result.error is not None or result.checkpoint is None:
        raise RuntimeError(f"the data-parallel M-step on Ray Train failed: {result.error}")
    return Path(result.checkpoint.to_directory(str(work_dir / "policy-out")))
