"""Does SEAL learn in the sandbox? The paper's held-out table in miniature.

Runs the ``sandbox`` preset (the real engine, as a subprocess) for two seeds, and for
the same two seeds a control in which the filter keeps a random candidate instead of
the best (where the reward's rule keeps one, so the M-step trains on as many
self-edits), then prints the held-out accuracy after adaptation with: no adaptation,
the passage only, the base policy's self-edits (round 0) and the policy after rounds
1-3, and whether the issue's bars hold.

    .venv/bin/python bench/sandbox_learning.py [--seeds 0 1] [--control-seeds 0 1] [--runs-dir DIR] [--set k=v ...]

Ends with one line:
    BENCH sandbox none=.. passage=.. base=.. r1=.. r2=.. r3=.. control_r2=.. spread=.. minutes=..
accuracies as fractions averaged over the seeds (control_r2 over the control's seeds);
spread is the largest difference between the two seeds over those conditions; minutes
is the mean wall time of a run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.store import Store  # noqa: E402

CONDITIONS = ("none", "passage", "base", "r1", "r2", "r3")


def run_preset(runs_dir: Path, run_id: str, sets: list[str]) -> float:
    """One engine run of the sandbox preset; returns its wall time in seconds."""
    cmd = [sys.executable, "-m", "engine", "run", "--preset", "sandbox", "--runs-dir", str(runs_dir),
           "--run-id", run_id, "--name", run_id]
    for s in sets:
        cmd += ["--set", s]
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"engine run {run_id} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.time() - start


def heldout_table(store: Store, run_id: str) -> dict[str, float]:
    """{none, passage, base, r1, r2, r3} from the run's per-round held-out metrics."""
    by_round: dict[int, dict[str, float]] = {}
    for m in store.metrics(run_id):
        if m["name"].startswith("heldout_"):
            by_round.setdefault(m["round"], {})[m["name"][len("heldout_"):]] = m["value"]
    base = by_round.get(0, {})
    out = {"none": base.get("none"), "passage": base.get("passage"), "base": base.get("self_edit")}
    for r in (1, 2, 3):
        out[f"r{r}"] = by_round.get(r, {}).get("self_edit")
    return out


def fmt(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


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
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=[0, 1], help="the two run.seed values")
    ap.add_argument("--control-seeds", type=int, nargs="+", default=None,
                    help="run.seed values of the random-filter control (default: the same two seeds)")
    ap.add_argument("--runs-dir", type=Path, default=None, help="run store to write (default: a temporary folder)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra section.field=value for every run")
    args = ap.parse_args(argv)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    stamp = time.strftime("%H%M%S")
    control_seeds = args.control_seeds or list(args.seeds)

    tables, minutes = {}, []
    for seed in args.seeds:
        run_id = f"bench-s{seed}-{stamp}"
        secs = run_preset(runs_dir, run_id, [f"run.seed={seed}", *args.sets])
        minutes.append(secs / 60)
        tables[seed] = heldout_table(Store(runs_dir), run_id)
        print(f"seed {seed}: {secs / 60:.1f} min  " + "  ".join(f"{c}={fmt(tables[seed][c])}" for c in CONDITIONS),
              flush=True)
    controls = {}
    for seed in control_seeds:
        control_id = f"bench-control-s{seed}-{stamp}"
        secs = run_preset(runs_dir, control_id, [f"run.seed={seed}", "filter.rule=random", *args.sets])
        minutes.append(secs / 60)
        controls[seed] = heldout_table(Store(runs_dir), control_id)
        print(f"control s{seed}: {secs / 60:.1f} min  " +
              "  ".join(f"{c}={fmt(controls[seed][c])}" for c in CONDITIONS), flush=True)
    r2s = [t["r2"] for t in controls.values()]
    control_r2 = sum(r2s) / len(r2s) if None not in r2s else None

    a, b = (tables[s] for s in args.seeds)
    mean = {c: (a[c] + b[c]) / 2 if a[c] is not None and b[c] is not None else None for c in CONDITIONS}
    spread = max(abs(a[c] - b[c]) for c in CONDITIONS if a[c] is not None and b[c] is not None)
    print()
    print(f"{'held-out accuracy':<22}" + "".join(f"{c:>9}" for c in CONDITIONS))
    for seed in args.seeds:
        print(f"{'seed ' + str(seed):<22}" + "".join(f"{fmt(tables[seed][c]):>9}" for c in CONDITIONS))
    print(f"{'mean':<22}" + "".join(f"{fmt(mean[c]):>9}" for c in CONDITIONS))
    for seed in control_seeds:
        print(f"{'control (random), s' + str(seed):<22}" + "".join(f"{fmt(controls[seed][c]):>9}" for c in CONDITIONS))
    print(f"{'control r2, mean':<22}{'':>{9 * CONDITIONS.index('r2')}}{fmt(control_r2):>9}")
    print(f"runs in {runs_dir}; minutes per run: " + ", ".join(f"{m:.1f}" for m in minutes))
    print()
    for line in bar_lines(mean, control_r2, spread, max(minutes)):
        print(line)
    print(f"BENCH sandbox none={fmt(mean['none'])} passage={fmt(mean['passage'])} base={fmt(mean['base'])} "
          f"r1={fmt(mean['r1'])} r2={fmt(mean['r2'])} r3={fmt(mean['r3'])} control_r2={fmt(control_r2)} "
          f"spread={spread:.3f} minutes={sum(minutes) / len(minutes):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
