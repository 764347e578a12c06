"""Does SEAL learn in the sandbox? The paper's held-out table in miniature.

Runs the ``sandbox`` preset (the real engine, as a subprocess) for two seeds or more, and
for the same seeds a control in which the filter keeps a random candidate instead of
the best (where the reward's rule keeps one, so the M-step trains on as many
self-edits), then prints the held-out accuracy after adaptation with: no adaptation,
the passage only, the base policy's self-edits (round 0) and the policy after rounds
1-3, and whether the issue's bars hold.

    .venv/bin/python bench/sandbox_learning.py [--seeds 0 1 ...] [--control-seeds 0 1 ...] [--runs-dir DIR] [--set k=v ...]

Ends with one line:
    BENCH sandbox none=.. passage=.. base=.. r1=.. r2=.. r3=.. control_r2=.. spread=.. minutes=..
accuracies as fractions averaged over the seeds (control_r2 over the control's seeds);
spread is the largest difference between two seeds over those conditions; minutes
is the mean wall time of a run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from learning import arguments, fmt, heldout_by_round, measure

CONDITIONS = ("none", "passage", "base", "r1", "r2", "r3")


def heldout_table(store, run_id: str) -> dict[str, float | None]:
    """{none, passage, base, r1, r2, r3} from the run's per-round held-out metrics."""
    by_round = heldout_by_round(store, run_id)
    base = by_round.get(0, {})
    out = {"none": base.get("none"), "passage": base.get("passage"), "base": base.get("self_edit")}
    for r in (1, 2, 3):
        out[f"r{r}"] = by_round.get(r, {}).get("self_edit")
    return out


def bar_lines(mean: dict, control_r2: float | None, spread: float, slowest: float) -> list[str]:
    """The issue's bars, each with its figures and whether it holds."""
    if None in mean.values() or control_r2 is None:
        return ["bars: not checked (a condition has no figure)"]
    m = mean  # short name: the checks below read like the bars
    checks = [
        ("r1 - base > spread", f"{m['r1'] - m['base']:.3f} > {spread:.3f}", m["r1"] - m["base"] > spread),
        ("r2 >= r1 - spread (no collapse)", f"{m['r2']:.3f} >= {m['r1'] - spread:.3f}", m["r2"] >= m["r1"] - spread),
        ("control_r2 <= base + spread", f"{control_r2:.3f} <= {m['base'] + spread:.3f}", control_r2 <= m["base"] + spread),
        ("<= 5 minutes per run", f"slowest {slowest:.1f}", slowest <= 5.0),
    ]
    order = ("none", "passage", "base", "r1", "r2")
    steps = [m[b] - m[a] for a, b in zip(order, order[1:])]
    checks.append(("none < passage < base < r1 < r2, each step > spread",
                   ", ".join(f"{d:+.3f}" for d in steps), all(d > spread for d in steps)))
    return [f"{'holds ' if ok else 'FAILS '} {name}: {figures}" for name, figures, ok in checks]


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    runs = measure("sandbox", "sandbox", args, CONDITIONS, heldout_table)
    mean, spread, control_r2 = runs.mean(), runs.spread(), runs.control_mean("r2")
    runs.print_table("held-out accuracy")
    print(f"{'control r2, mean':<22}{'':>{9 * CONDITIONS.index('r2')}}{fmt(control_r2):>9}")
    print(f"runs in {runs.runs_dir}; minutes per run: " + ", ".join(f"{m:.1f}" for m in runs.minutes))
    print()
    for line in bar_lines(mean, control_r2, spread, max(runs.minutes)):
        print(line)
    print(f"BENCH sandbox none={fmt(mean['none'])} passage={fmt(mean['passage'])} base={fmt(mean['base'])} "
          f"r1={fmt(mean['r1'])} r2={fmt(mean['r2'])} r3={fmt(mean['r3'])} control_r2={fmt(control_r2)} "
          f"spread={spread:.3f} minutes={sum(runs.minutes) / len(runs.minutes):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
