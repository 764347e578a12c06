"""One scoring worker: a Ray actor holding the base model resident with its stacked-LoRA inner
loop, as the engine's own (``engine.run``) is built. It adapts and answers the chunks it is
given and reports its machine; it never touches the store."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import psutil
import ray
import torch

from engine import seeds
from engine.generation import AnswerRule
from engine.inner_loop import AdaptJob, AdaptResult, InnerLoop
from engine.models import load_policy
from engine.telemetry import GPUProbe


class ScoringWorker:
    def __init__(self, cfg, number: int, slots: int):
        from engine.tasks import make_task

        # the engine's threads where set, else the worker's CPU share: the same numbers as a local run
        torch.set_num_threads(cfg.run.threads or max(1, int(cfg.run.worker_cpus)))
        torch.manual_seed(seeds.torch_global(cfg.run.seed))
        self.number = number
        self.busy_s = 0.0   # seconds spent adapting chunks
        self.policy = load_policy(cfg.model.name_or_path, device=cfg.run.device, dtype=cfg.run.dtype,
                                  chat_template=cfg.model.chat_template)
        self.inner = InnerLoop(self.policy, cfg.inner, slots=slots, max_seq_len=cfg.model.max_seq_len,
                               query_prompt=make_task(cfg).query_prompt)
        self._proc = psutil.Process(os.getpid())
        self._proc.cpu_percent(None)
        self._gpu_ids = [str(g) for g in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]
        self._gpus = GPUProbe() if self._gpu_ids else None

    def info(self) -> dict:
        """Who and where: number, node, process, device (ev.WorkerInfo)."""
        gpus = f" (GPU {','.join(self._gpu_ids)})" if self._gpu_ids else ""
        return {"worker": self.number, "node": ray.util.get_node_ip_address(),
                "node_id": ray.get_runtime_context().get_node_id()[:12], "pid": os.getpid(),
                "device": f"{self.policy.device}{gpus}"}

    def run_chunk(self, jobs: list[AdaptJob], rule: AnswerRule | None,
                  save: list[bool]) -> tuple[list[AdaptResult], dict[int, dict[str, bytes]]]:
        """Adapt to each job and answer; the adapters of the jobs marked in ``save`` come back as
        their PEFT folder's files (job index -> file name -> bytes): the engine writes them."""
        adapters: dict[int, dict[str, bytes]] = {}

        def save_slot(j: int, slot: int) -> None:
            if save[j]:
                with tempfile.TemporaryDirectory() as tmp:
                    self.inner.save_adapter(slot, Path(tmp))
                    adapters[j] = {f.name: f.read_bytes() for f in Path(tmp).iterdir() if f.is_file()}

        start = time.perf_counter()
        results = self.inner.run(jobs, save_slot=save_slot if any(save) else None, rule=rule)
        self.busy_s += time.perf_counter() - start
        return results, adapters

    def load_weights(self, state: dict[str, torch.Tensor], source: str) -> None:
        """The policy after an M-step (the engine's bare model's state) in place of this one's."""
        with self.inner.bare_model():
            self.policy.model.load_state_dict(state)
        self.policy.source = source   # the base a saved adapter names

    def telemetry(self) -> dict:
        """This worker's process and GPUs now (ev.WorkerInfo's telemetry fields)."""
        gpus = [g for g in self._gpus.sample() if str(g["index"]) in self._gpu_ids] if self._gpus else []
        return {"cpu_pct": self._proc.cpu_percent(None), "rss_mb": self._proc.memory_info().rss / 2**20,
                "gpus": gpus, "busy_s": round(self.busy_s, 3)}
