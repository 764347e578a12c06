"""The M-step on several processes (``mstep.workers`` > 1), data-parallel.

With ``run.executor = "ray"`` the processes are Ray Train's (``TorchTrainer``, placed on the
cluster: ``engine.scale.train``); otherwise torchrun starts them on this machine and each
joins through accelerate's ``Accelerator`` (``python -m engine.mstep_parallel JOB``). Either
way every process loads the policy as it is now, trains its share of every batch
(``engine.mstep.train_policy(data_parallel=True)``: each step is the one-process step up to
rounding), and the first one saves the merged policy with its loss curve; the engine loads
those weights back into its own policy and records the curve as the one-process M-step does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.config import MStepCfg
from engine.models import Policy, load_policy, load_weights, save_policy
from engine.mstep import train_policy

CURVE = "mstep_curve.json"   # beside the merged policy: every recorded step and the last loss


@dataclass
class MStepJob:
    """What every process of a data-parallel M-step is given."""

    examples: list[tuple[str, str]]
    mstep: MStepCfg
    max_len: int
    seed: int
    model: dict         # load_policy's arguments: name_or_path, device, dtype, chat_template

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "examples": [list(e) for e in self.examples]})

    @classmethod
    def from_json(cls, text: str) -> MStepJob:
        d = json.loads(text)
        return cls([tuple(e) for e in d["examples"]], MStepCfg(**d["mstep"]), d["max_len"], d["seed"], d["model"])


def train_shard(policy: Policy, job: MStepJob, out: Path | None) -> None:
    """One process's part: train (data-parallel), then, where ``out`` is given, save the merged
    policy there with its loss curve."""
    steps: list[tuple[int, int, float, int]] = []
    last = train_policy(policy, job.examples, job.mstep, max_len=job.max_len, seed=job.seed,
                        on_step=lambda *step: steps.append(step), data_parallel=True)
    if out is not None:
        import torch.distributed as dist

        save_policy(policy, out)
        (out / CURVE).write_text(json.dumps({"steps": steps, "last": last, "processes": dist.get_world_size()}))


def train_policy_parallel(policy: Policy, examples: list[tuple[str, str]], cfg, *, seed: int, work_dir: Path,
                          on_step: Callable[[int, int, float, int], None] | None = None,
                          release: Callable[[], None] | None = None) -> float:
    """``engine.mstep.train_policy`` on ``cfg.mstep.workers`` processes; ``policy`` (bare) gets the
    trained weights. ``release()`` first frees what the scoring workers hold (the trainers need it)."""
    job = MStepJob(list(examples), cfg.mstep, cfg.model.max_seq_len, seed,
                   {"name_or_path": cfg.model.name_or_path, "device": cfg.run.device, "dtype": cfg.run.dtype,
                    "chat_template": cfg.model.chat_template})
    work_dir.mkdir(parents=True, exist_ok=True)
    if cfg.run.executor == "ray":
        from engine.scale.train import fit

        if release:
            release()
        folder = fit(policy, job, cfg.run, cfg.mstep.workers, work_dir, train_shard)
    else:
        folder = _torchrun(policy, job, cfg.mstep.workers, work_dir)
    load_weights(policy, folder)
    curve = json.loads((folder / CURVE).read_text())
    if on_step:
        for step in curve["steps"]:
            on_step(*step)
    return curve["last"]


def _torchrun(policy: Policy, job: MStepJob, workers: int, work_dir: Path) -> Path:
    """``workers`` processes on this machine (torchrun), each an accelerate process; the policy as
    it is now goes to them through a folder."""
    start, out = work_dir / "policy-in", work_dir / "policy-out"
    save_policy(policy, start)
    job.model = {**job.model, "name_or_path": str(start)}
    (work_dir / "job.json").write_text(job.to_json())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={workers}",
           "-m", "engine.mstep_parallel", str(work_dir / "job.json"), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0 or not (out / CURVE).is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"the data-parallel M-step's {workers} processes failed (exit {proc.returncode}): {tail}")
    return out


def main(argv: list[str]) -> int:
    """One torchrun process: joins the group through accelerate, trains its share, the main one saves."""
    from accelerate import Accelerator

    job = MStepJob.from_json(Path(argv[0]).read_text())
    accelerator = Accelerator(cpu=job.model.get("device") == "cpu")
    policy = load_policy(**{**job.model, "device": accelerator.device.type})
    train_shard(policy, job, Path(argv[1]) if accelerator.is_main_process else None)
    accelerator.wait_for_everyone()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
