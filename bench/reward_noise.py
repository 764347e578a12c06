"""How much of a self-edit's reward is the self-edit, and how much the LoRA initialisation?

The filter compares a context's K candidates by one inner-loop run each. If two runs of
the same self-edit from two LoRA initialisations disagree, the filter keeps noise. This
samples the sandbox model's own self-edits (the preset's E-step) for training contexts,
scores every one twice, from two independent initialisations, and reports for the
preset's inner loop and for a baseline setting measured in the same run:

- corr: the correlation of the two runs' rewards over all candidates (1: the reward is
  the self-edit's alone);
- selgain: how much better, in the other run, is the candidate the filter picks by one
  run than its context's average (what the filter can give the M-step);
- the mean reward per note style (bench/sandbox_probe.py's classifier) and seconds per run.

    .venv/bin/python bench/reward_noise.py [--contexts 32] [--baseline 1e-2:20]

Ends with one line:
    BENCH reward_noise corr=.. corr_baseline=.. selgain=.. selgain_baseline=.. s_per_run=.. s_per_run_baseline=..
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from sandbox_probe import classify  # noqa: E402

from engine import seeds  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.inner_loop import InnerLoop  # noqa: E402
from engine.models import load_policy, resolve_model_path  # noqa: E402
from engine.restem import round_contexts  # noqa: E402
from engine.sampling import sample_self_edits  # noqa: E402
from engine.scoring import ScoreItem, Scorer  # noqa: E402
from engine.tasks.knowledge import KnowledgeTask  # noqa: E402


def selection_gain(a: list[float], b: list[float], groups: list[int]) -> float:
    """Pick each context's best by run ``a`` (earlier candidate on ties); its reward in run ``b``
    minus the context's mean in run ``b``, averaged over contexts."""
    by_ctx: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by_ctx[g].append(i)
    gains = []
    for idx in by_ctx.values():
        best = max(idx, key=lambda i: (a[i], -i))
        gains.append(b[best] - statistics.mean(b[i] for i in idx))
    return statistics.mean(gains)


def measure(policy, inner_cfg, task: KnowledgeTask, items_of, slots: int) -> dict:
    scorer = Scorer(InnerLoop(policy, inner_cfg, slots=slots, max_seq_len=256), task.make_grader(), task)
    runs, start = [], time.perf_counter()
    for init in (1_000_003, 2_000_003):  # two independent LoRA initialisations per candidate
        rewards: list[float] = []
        for _, scores in scorer.score_chunks(items_of(init)):
            rewards += [s.reward for s in scores]
        runs.append(rewards)
    seconds = (time.perf_counter() - start) / (2 * len(runs[0]))
    scorer.inner.close()
    return {"a": runs[0], "b": runs[1], "s_per_run": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contexts", type=int, default=32, help="training contexts (K self-edits each)")
    ap.add_argument("--baseline", default="1e-2:20", help="inner lr:steps to compare with (the preset's until now)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    cfg = load_config(preset="sandbox", overrides=[f"run.seed={args.seed}"])
    task = KnowledgeTask(cfg)
    pool, _ = task.load_contexts()
    contexts = [c for _, c in round_contexts(pool, args.contexts, seed=seeds.round_contexts(args.seed, 1))]
    policy = load_policy(resolve_model_path(cfg.model.name_or_path))
    k = cfg.sample.k
    texts = sample_self_edits(policy, [task.self_edit_prompt(c) for c in contexts], cfg.sample, k=k, seed=args.seed)
    cands = [(ci, t) for ci, ts in enumerate(texts) for t in ts]
    groups = [ci for ci, _ in cands]
    styles = [classify(t) for _, t in cands]
    seqs = [task.adaptation(contexts[ci], t) for ci, t in cands]

    def items_of(init: int) -> list[ScoreItem]:
        return [ScoreItem(contexts[ci], s, init + n) for n, ((ci, _), s) in enumerate(zip(cands, seqs))]

    lr, steps = args.baseline.split(":")
    settings = {"preset": cfg.inner, "baseline": dataclasses.replace(cfg.inner, lr=float(lr), epochs=int(steps))}
    print(f"{len(cands)} self-edits of the sandbox model ({args.contexts} contexts x {k}), each scored twice "
          f"from two LoRA initialisations", flush=True)
    out = {}
    for name, icfg in settings.items():
        m = measure(policy, icfg, task, items_of, slots=k)
        m["corr"] = statistics.correlation(m["a"], m["b"]) if len(set(m["a"])) > 1 and len(set(m["b"])) > 1 else 0.0
        m["selgain"] = (selection_gain(m["a"], m["b"], groups) + selection_gain(m["b"], m["a"], groups)) / 2
        by_style: dict[str, list[float]] = defaultdict(list)
        for s, x, y in zip(styles, m["a"], m["b"]):
            by_style[s] += [x, y]
        out[name] = m
        print(f"{name:<9} lr {icfg.lr:g} x {icfg.epochs} steps: mean reward {statistics.mean(m['a'] + m['b']):.3f}  "
              f"corr {m['corr']:.3f}  selgain {m['selgain']:+.3f}  {m['s_per_run']:.3f} s per run  styles "
              + " ".join(f"{s}={statistics.mean(v):.2f}({len(v) // 2})" for s, v in sorted(by_style.items())),
              flush=True)
    p, b = out["preset"], out["baseline"]
    print(f"BENCH reward_noise corr={p['corr']:.3f} corr_baseline={b['corr']:.3f} selgain={p['selgain']:.3f} "
          f"selgain_baseline={b['selgain']:.3f} s_per_run={p['s_per_run']:.3f} s_per_run_baseline={b['s_per_run']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
