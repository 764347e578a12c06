"""Does SEAL learn in the few-shot sandbox? The paper's ARC table in miniature.

Runs the ``arc-sandbox`` preset (the real engine, as a subprocess) for two seeds or more, and for
the same seeds a control whose filter keeps random plans in place of the successful ones
(as many as the reward's rule keeps), then prints the held-out success rate for: in context
only (icl), the hand-set oracle plan, the base policy's plans (round 0) and the policy after
rounds 1 and 2; the spread between the seeds; minutes per run; and which switches,
strategies, learning rates and epochs the policy's held-out plans used before and after RL.

    .venv/bin/python bench/fewshot_learning.py [--seeds 0 1 ...] [--control-seeds 0 1 ...] [--runs-dir DIR] [--set k=v ...]

Ends with one line:
    BENCH fewshot icl=.. oracle=.. base=.. r1=.. r2=.. control_r1=.. spread=.. minutes=..
(fractions averaged over the seeds; control_r1 over the control's seeds).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from learning import arguments, fmt, heldout_by_round, measure

from engine.store import Store
from engine.tasks.fewshot.plan import PlanError, parse_plan, short_float

CONDITIONS = ("icl", "oracle", "base", "r1", "r2")


def heldout_table(store: Store, run_id: str) -> dict[str, float | None]:
    by_round = heldout_by_round(store, run_id)
    base = by_round.get(0, {})
    return {"icl": base.get("none"), "oracle": base.get("passage"), "base": base.get("self_edit"),
            "r1": by_round.get(1, {}).get("self_edit"), "r2": by_round.get(2, {}).get("self_edit")}


def plan_usage(store: Store, run_id: str) -> dict[int, Counter]:
    """Per evaluated round: how often the policy's held-out plans chose each option."""
    out: dict[int, Counter] = {}
    for e in store.events_of(run_id, ("eval_result",)):
        counts = out.setdefault(e.round, Counter())
        for pc in e.payload.per_context:
            for text in pc.get("self_edit_texts") or [pc.get("self_edit_text", "")]:
                counts["plans"] += 1
                try:
                    plan = parse_plan(text)
                except PlanError:
                    counts["invalid"] += 1
                    continue
                for fam in plan.families:
                    counts[fam] += 1
                counts["output tokens" if plan.output_tokens_only else "all tokens"] += 1
                counts[f"lr {short_float(plan.learning_rate)}"] += 1
                counts[f"{plan.num_train_epochs} ep"] += 1
    return out


def bar_lines(m: dict, control_r1: float | None, spread: float, slowest: float) -> list[str]:
    if None in m.values() or control_r1 is None:
        return ["bars: not checked (a condition has no figure)"]
    checks = [
        ("r1 - base > spread", f"{m['r1'] - m['base']:.3f} > {spread:.3f}", m["r1"] - m["base"] > spread),
        ("r2 >= r1 - spread", f"{m['r2']:.3f} >= {m['r1'] - spread:.3f}", m["r2"] >= m["r1"] - spread),
        ("control_r1 <= base + spread", f"{control_r1:.3f} <= {m['base'] + spread:.3f}",
         control_r1 <= m["base"] + spread),
        ("<= 5 minutes per run", f"slowest {slowest:.1f}", slowest <= 5.0),
        ("icl < base < r1 <= oracle, each step > spread",
         f"{m['base'] - m['icl']:+.3f}, {m['r1'] - m['base']:+.3f}, oracle - r1 {m['oracle'] - m['r1']:+.3f}",
         m["base"] - m["icl"] > spread and m["r1"] - m["base"] > spread and m["oracle"] >= m["r1"]),
        ("r1 >= 2 x base", f"{m['r1']:.3f} >= {2 * m['base']:.3f}", m["r1"] >= 2 * m["base"]),
    ]
    return [f"{'holds ' if ok else 'FAILS '} {name}: {figures}" for name, figures, ok in checks]


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    runs = measure("arc-sandbox", "fewshot", args, CONDITIONS, heldout_table)
    store = Store(runs.runs_dir)
    usage = {seed: plan_usage(store, run_id) for seed, run_id in runs.run_ids.items()}
    mean, spread, control_r1 = runs.mean(), runs.spread(), runs.control_mean("r1")
    runs.print_table("held-out success")
    print(f"runs in {runs.runs_dir}; minutes per run: " + ", ".join(f"{m:.1f}" for m in runs.minutes))
    print()
    rounds = sorted({r for u in usage.values() for r in u})
    keys = sorted({k for u in usage.values() for c in u.values() for k in c if k != "plans"})
    print("the policy's held-out plans, share choosing each option (every seed):")
    print(f"{'option':<16}" + "".join(f"{'round ' + str(r):>10}" for r in rounds))
    for k in keys:
        cells = []
        for r in rounds:
            total = sum(u.get(r, Counter())["plans"] for u in usage.values()) or 1
            cells.append(f"{sum(u.get(r, Counter())[k] for u in usage.values()) / total:>10.2f}")
        print(f"{k:<16}" + "".join(cells))
    print()
    for line in bar_lines(mean, control_r1, spread, max(runs.minutes)):
        print(line)
    print(f"BENCH fewshot icl={fmt(mean['icl'])} oracle={fmt(mean['oracle'])} base={fmt(mean['base'])} "
          f"r1={fmt(mean['r1'])} r2={fmt(mean['r2'])} control_r1={fmt(control_r1)} spread={spread:.3f} "
          f"minutes={sum(runs.minutes) / len(runs.minutes):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
