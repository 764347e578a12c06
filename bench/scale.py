"""Scale-out: one ReSTEM round's scoring on the local executor and on the Ray executor with 1 and
2 workers on this machine, in candidates per minute.

The round is the sandbox preset's: its model, its training contexts (``--contexts``) with K
self-edits each sampled by the policy, the inner loop as the engine runs it (``Scorer.score_chunks``:
a chunk of K candidates trains together as stacked-LoRA slots, then answers and is graded by the
engine). Every method sees the same items and seeds, so their rewards must agree (checked). The
baselines (unadapted answers) are computed once before the clocks start; pool start-up (a Ray on
this machine, each worker loading the model) is timed apart, as a run pays it once. Each process
gets ``--threads`` torch threads (a worker its one CPU), so 1 worker against local compares the
same compute, and the ratio is Ray's own cost. Local and 1 worker are timed in turn
(``--repeats`` passes each, the fastest counts), then 2 workers.

Projection for N workers, each on its own device (the model): a round of C chunks takes
T(N) = max(ceil(C / N) * (t_w + t_o), C * t_d), where t_w is one chunk's adaptation (measured on
the local executor), t_o Ray's own cost per chunk (the 1-worker pass's wall time beyond its
worker's adapting, which the worker reports) and t_d the engine's serial work per chunk (grading,
dispatch: local total - chunks' adaptation), which overlaps the workers'; speed-up
S(N) = C * (t_w + t_d) / T(N). This machine's 2 cores are shared by the engine and the workers
(and, here, by other people's jobs), so its own 2-worker figure is below the projection, and
passes of one method vary by more than Ray's cost: the line also gives that cost per chunk.

    python bench/scale.py [--contexts 8] [--k 5] [--threads 1] [--repeats 2] [--address HOST:PORT]

Ends with one line:
    BENCH scale local_per_min=.. ray1_per_min=.. ray2_per_min=.. overhead_ratio=.. ray_cost_per_chunk_s=..
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import torch  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from engine import events as ev  # noqa: E402
from engine import seeds  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.executor import LocalExecutor  # noqa: E402
from engine.inner_loop import InnerLoop  # noqa: E402
from engine.models import load_policy  # noqa: E402
from engine.runtime import RunContext  # noqa: E402
from engine.sampling import sample_self_edits  # noqa: E402
from engine.scoring import ScoreItem, Scorer  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.tasks import make_task  # noqa: E402

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()


class TimedLocal(LocalExecutor):
    """The local executor, timing each chunk's adaptation (the part a worker would do)."""

    def __init__(self, inner: InnerLoop):
        super().__init__(inner)
        self.chunk_s: list[float] = []

    def adapt(self, chunks):
        for chunk in chunks:
            t = time.perf_counter()
            results = self.inner.run(chunk.jobs, rule=chunk.rule)
            self.chunk_s.append(time.perf_counter() - t)
            yield chunk, results


def score(scorer: Scorer, items: list[ScoreItem], contexts: list[dict]) -> tuple[float, list[float]]:
    scorer.baselines(contexts)   # the unadapted answers: computed once, outside the clock
    t = time.perf_counter()
    rewards = [s.reward for _, scores in scorer.score_chunks(items) for s in scores]
    return time.perf_counter() - t, rewards


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contexts", type=int, default=8, help="training contexts of the round")
    ap.add_argument("--k", type=int, default=5, help="self-edits per context (one chunk per context)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the engine and of each worker")
    ap.add_argument("--repeats", type=int, default=2, help="passes of each method; the fastest counts")
    ap.add_argument("--address", default="", help="a Ray cluster to join (run.ray_address; empty: start one here)")
    args = ap.parse_args()

    cfg = load_config(preset="sandbox", overrides=[f"run.threads={args.threads}", f"sample.k={args.k}",
                                                   'run.executor="ray"', "run.workers=2", "run.worker_cpus=1",
                                                   f"run.ray_address={json.dumps(args.address)}"])
    torch.set_num_threads(args.threads)
    task = make_task(cfg)
    policy = load_policy(cfg.model.name_or_path, device="cpu")
    contexts = task.load_contexts()[0][:args.contexts]
    texts = sample_self_edits(policy, [task.self_edit_prompt(c) for c in contexts], cfg.sample, k=args.k,
                              seed=seeds.e_step(cfg.run.seed, 1))
    items = [ScoreItem(c, task.adaptation(c, t), seeds.candidate_lora(cfg.run.seed, 1, i, j))
             for i, (c, ts) in enumerate(zip(contexts, texts)) for j, t in enumerate(ts)]
    inner = InnerLoop(policy, cfg.inner, slots=args.k, max_seq_len=cfg.model.max_seq_len,
                      query_prompt=task.query_prompt)
    grader = task.make_grader()
    n_chunks = math.ceil(len(items) / args.k)
    print(f"{len(items)} candidates ({args.contexts} contexts x K={args.k}, {n_chunks} chunks), sandbox model, "
          f"{args.threads} torch thread(s) per process, {os.cpu_count()} cores", flush=True)

    from engine.scale.pool import RayExecutor

    local = TimedLocal(inner)
    best: dict[str, float] = {}
    adapt_s: dict[str, float] = {}   # of the fastest pass: the seconds spent adapting (summed over workers)
    local_chunks: list[float] = []
    agree = True
    reference: list[float] | None = None

    def busy() -> float:  # seconds the pool's workers have spent adapting
        import ray
        return sum(ray.get(w.handle.telemetry.remote())["busy_s"] for w in ray_executor.workers)

    def timed(name: str, executor) -> None:
        nonlocal reference, agree, local_chunks
        local.chunk_s = []
        before = busy() if executor is not local else 0.0
        took, rewards = score(Scorer(inner, grader, task, executor=executor), items, contexts)
        adapting = busy() - before if executor is not local else sum(local.chunk_s)
        reference = reference or rewards
        agree &= rewards == reference
        if took < best.get(name, float("inf")):
            best[name], adapt_s[name] = took, adapting
            if name == "local":
                local_chunks = list(local.chunk_s)
        print(f"{name:<6} {took:6.1f} s  {len(items) / took * 60:6.1f} candidates/min  (adapting {adapting:.1f} s"
              f"{' summed over workers' if name == 'ray2' else ''}){'' if rewards == reference else '  REWARDS DIFFER'}",
              flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        store.record("bench", ev.RunCreated(name="bench-scale", preset="sandbox", config=cfg.to_dict()))
        run = RunContext(store, "bench", logging.getLogger("bench.scale"), Path(tmp))
        t = time.perf_counter()
        ray_executor = RayExecutor(run, cfg, inner)
        print(f"Ray started in {time.perf_counter() - t:.1f} s", flush=True)
        try:
            for n in (1, 2):
                cfg.run.workers = n
                t = time.perf_counter()
                ray_executor.ensure_pool()
                print(f"pool of {n} started in {time.perf_counter() - t:.1f} s (each worker loads the model)", flush=True)
                for _ in range(args.repeats):  # local and 1 worker in turn, so the machine's drift hits both
                    if n == 1:
                        timed("local", local)
                    timed(f"ray{n}", ray_executor)
                ray_executor.release()
        finally:
            ray_executor.close()
            store.close()
    per_min = {name: len(items) / took * 60 for name, took in best.items()}
    local_s = best["local"]
    local.chunk_s = local_chunks

    # Ray's own cost is what the 1-worker pass took beyond its worker's adapting: free of the machine's
    # drift between passes, which on a shared 2-core machine is larger than that cost
    t_w = sum(local.chunk_s) / len(local.chunk_s)
    t_d = (local_s - sum(local.chunk_s)) / n_chunks
    t_o = max(0.0, best["ray1"] - adapt_s["ray1"]) / n_chunks
    print(f"per chunk: adaptation t_w = {t_w:.2f} s, engine's serial part t_d = {t_d:.3f} s, "
          f"Ray's own cost t_o = {t_o:.3f} s ({t_o / t_w:.1%} of a chunk: 1 worker can keep "
          f"{t_w / (t_w + t_o):.2f} of local)")
    for chunks, what in ((n_chunks, "this round"), (50, "the paper's round: 50 contexts x K=5")):
        base = chunks * (t_w + t_d)
        row = "  ".join(f"N={n}: {base / max(math.ceil(chunks / n) * (t_w + t_o), chunks * t_d):.1f}x"
                        for n in (1, 2, 4, 8, 16))
        print(f"projected speed-up, {what} ({chunks} chunks): {row}")
    overhead = per_min["ray1"] / per_min["local"]
    print(f"Ray at 1 worker keeps {overhead:.2f} of local throughput (bar: >= 0.9); rewards agree: {agree}")
    print(f"BENCH scale local_per_min={per_min['local']:.1f} ray1_per_min={per_min['ray1']:.1f} "
          f"ray2_per_min={per_min['ray2']:.1f} overhead_ratio={overhead:.3f} ray_cost_per_chunk_s={t_o:.3f}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
