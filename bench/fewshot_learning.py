"""Does SEAL learn in the few-shot sandbox? The paper's ARC table in miniature.

Runs the ``arc-sandbox`` preset (the real engine, as a subprocess) for two seeds, and for
the same seeds a control whose filter keeps random plans in place of the successful ones
(as many as the reward's rule keeps), then prints the held-out success rate for: in context
only (icl), the hand-set oracle plan, the base policy's plans (round 0) and the policy after
rounds 1 and 2; the spread between the seeds; minutes per run; and which switches,
strategies, learning rates and epochs the policy's held-out plans used before and after RL.

    .venv/bin/python bench/fewshot_learning.py [--seeds 0 1] [--control-seeds 0 1] [--runs-dir DIR] [--set k=v ...]

Ends with one line:
    BENCH fewshot icl=.. oracle=.. base=.. r1=.. r2=.. control_r1=.. spread=.. minutes=..
(fractions averaged over the seeds; control_r1 over the control's seeds).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.store import Store  # noqa: E402
from engine.tasks.fewshot.plan import PlanError, parse_plan, short_float  # noqa: E402

CONDITIONS = ("icl", "oracle", "base", "r1", "r2")


def run_preset(runs_dir: Path, run_id: str, sets: list[str]) -> float:
    """One engine run of the arc-sandbox preset; returns its wall time in seconds."""
    cmd = [sys.executable, "-m", "engine", "run", "--preset", "arc-sandbox", "--runs-dir", str(runs_dir),
           "--run-id", run_id, "--name", run_id]
    for s in sets:
        cmd += ["--set", s]
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"engine run {run_id} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.time() - start


def heldout_table(store: Store, run_id: str) -> dict[str, float | None]:
    by_round: dict[int, dict[str, float]] = {}
    for m in store.metrics(run_id):
        if m["name"].startswith("heldout_"):
            by_round.setdefault(m["round"], {})[m["name"][len("heldout_"):]] = m["value"]
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


def fmt(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


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
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=[0, 1], help="the two run.seed values")
    ap.add_argument("--control-seeds", type=int, nargs="*", default=None,
                    help="run.seed values of the random-filter control (default: the same two seeds)")
    ap.add_argument("--runs-dir", type=Path, default=None, help="run store to write (default: a temporary folder)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra section.field=value for every run")
    args = ap.parse_args(argv)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="fewshot-bench-"))
    stamp = time.strftime("%H%M%S")
    control_seeds = list(args.seeds) if args.control_seeds is None else args.control_seeds

    tables, usage, minutes = {}, {}, []
    for seed in args.seeds:
        run_id = f"fewshot-s{seed}-{stamp}"
        secs = run_preset(runs_dir, run_id, [f"run.seed={seed}", *args.sets])
        minutes.append(secs / 60)
        store = Store(runs_dir)
        tables[seed], usage[seed] = heldout_table(store, run_id), plan_usage(store, run_id)
        print(f"seed {seed}: {secs / 60:.1f} min  " + "  ".join(f"{c}={fmt(tables[seed][c])}" for c in CONDITIONS),
              flush=True)
    controls = {}
    for seed in control_seeds:
        control_id = f"fewshot-control-s{seed}-{stamp}"
        secs = run_preset(runs_dir, control_id, [f"run.seed={seed}", "filter.rule=random", *args.sets])
        minutes.append(secs / 60)
        controls[seed] = heldout_table(Store(runs_dir), control_id)
        print(f"control s{seed}: {secs / 60:.1f} min  " +
              "  ".join(f"{c}={fmt(controls[seed][c])}" for c in CONDITIONS), flush=True)
    r1s = [t["r1"] for t in controls.values()]
    control_r1 = sum(r1s) / len(r1s) if r1s and None not in r1s else None

    a, b = (tables[s] for s in args.seeds)
    mean = {c: (a[c] + b[c]) / 2 if a[c] is not None and b[c] is not None else None for c in CONDITIONS}
    spread = max((abs(a[c] - b[c]) for c in CONDITIONS if a[c] is not None and b[c] is not None), default=0.0)
    print()
    print(f"{'held-out success':<22}" + "".join(f"{c:>9}" for c in CONDITIONS))
    for seed in args.seeds:
        print(f"{'seed ' + str(seed):<22}" + "".join(f"{fmt(tables[seed][c]):>9}" for c in CONDITIONS))
    print(f"{'mean':<22}" + "".join(f"{fmt(mean[c]):>9}" for c in CONDITIONS))
    for seed in control_seeds:
        print(f"{'control (random), s' + str(seed):<22}" + "".join(f"{fmt(controls[seed][c]):>9}" for c in CONDITIONS))
    print(f"runs in {runs_dir}; minutes per run: " + ", ".join(f"{m:.1f}" for m in minutes))
    print()
    rounds = sorted({r for u in usage.values() for r in u})
    keys = sorted({k for u in usage.values() for c in u.values() for k in c if k != "plans"})
    print("the policy's held-out plans, share choosing each option (both seeds):")
    print(f"{'option':<16}" + "".join(f"{'round ' + str(r):>10}" for r in rounds))
    for k in keys:
        cells = []
        for r in rounds:
            total = sum(u.get(r, Counter())["plans"] for u in usage.values()) or 1
            cells.append(f"{sum(u.get(r, Counter())[k] for u in usage.values()) / total:>10.2f}")
        print(f"{k:<16}" + "".join(cells))
    print()
    for line in bar_lines(mean, control_r1, spread, max(minutes)):
        print(line)
    print(f"BENCH fewshot icl={fmt(mean['icl'])} oracle={fmt(mean['oracle'])} base={fmt(mean['base'])} "
          f"r1={fmt(mean['r1'])} r2={fmt(mean['r2'])} control_r1={fmt(control_r1)} spread={spread:.3f} "
          f"minutes={sum(minutes) / len(minutes):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
