"""What the learning benches share (``sandbox_learning.py``, ``fewshot_learning.py``): engine runs
of a preset (the real engine, as a subprocess) for two seeds or more and, for the control's seeds,
with a filter that keeps random candidates; each run's held-out figures by round; the means, the
spread between the seeds and the table they print."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.store import Store  # noqa: E402


def run_preset(preset: str, runs_dir: Path, run_id: str, sets: list[str]) -> float:
    """One engine run of ``preset``; returns its wall time in seconds (a failed run ends the bench)."""
    cmd = [sys.executable, "-m", "engine", "run", "--preset", preset, "--runs-dir", str(runs_dir),
           "--run-id", run_id, "--name", run_id]
    for s in sets:
        cmd += ["--set", s]
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"engine run {run_id} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.time() - start


def heldout_by_round(store: Store, run_id: str) -> dict[int, dict[str, float]]:
    """The run's held-out metrics: {round: {none, passage, self_edit, ...}}."""
    by_round: dict[int, dict[str, float]] = {}
    for m in store.metrics(run_id):
        if m["name"].startswith("heldout_"):
            by_round.setdefault(m["round"], {})[m["name"][len("heldout_"):]] = m["value"]
    return by_round


def fmt(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def arguments(doc: str, argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="run.seed values, two or more (default 0 1)")
    ap.add_argument("--control-seeds", type=int, nargs="*", default=None,
                    help="run.seed values of the random-filter control (default: the same seeds; none: no control)")
    ap.add_argument("--runs-dir", type=Path, default=None, help="run store to write (default: a temporary folder)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra section.field=value for every run")
    args = ap.parse_args(argv)
    if len(set(args.seeds)) < 2:
        ap.error(f"--seeds {' '.join(map(str, args.seeds))}: give two different seeds or more (the spread is between seeds)")
    return args


@dataclass
class Measured:
    """Every run's figures, by seed: ``tables`` for the preset, ``controls`` for the random filter."""

    conditions: Sequence[str]
    seeds: list[int]
    runs_dir: Path
    tables: dict[int, dict[str, float | None]] = field(default_factory=dict)
    controls: dict[int, dict[str, float | None]] = field(default_factory=dict)
    run_ids: dict[int, str] = field(default_factory=dict)
    minutes: list[float] = field(default_factory=list)

    def _values(self, condition: str) -> list[float] | None:
        values = [self.tables[s][condition] for s in self.seeds]
        return None if None in values else values

    def mean(self) -> dict[str, float | None]:
        return {c: sum(v) / len(v) if (v := self._values(c)) else None for c in self.conditions}

    def spread(self) -> float:
        """The largest difference between two seeds (highest less lowest) over the conditions."""
        return max((max(v) - min(v) for c in self.conditions if (v := self._values(c))), default=0.0)

    def control_mean(self, condition: str) -> float | None:
        values = [t[condition] for t in self.controls.values()]
        return sum(values) / len(values) if values and None not in values else None

    def row(self, label: str, table: dict[str, float | None]) -> str:
        return f"{label:<22}" + "".join(f"{fmt(table[c]):>9}" for c in self.conditions)

    def print_table(self, title: str) -> None:
        print()
        print(f"{title:<22}" + "".join(f"{c:>9}" for c in self.conditions))
        for seed in self.seeds:
            print(self.row(f"seed {seed}", self.tables[seed]))
        print(self.row("mean", self.mean()))
        for seed, table in self.controls.items():
            print(self.row(f"control (random), s{seed}", table))


def measure(preset: str, prefix: str, args: argparse.Namespace, conditions: Sequence[str],
            table_of: Callable[[Store, str], dict[str, float | None]]) -> Measured:
    """Run the preset for ``args.seeds``, then the random-filter control for its seeds, printing a
    line per run as it ends; ``table_of(store, run_id)`` reads a run's figures."""
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix=f"{prefix}-bench-"))
    stamp = time.strftime("%H%M%S")
    control_seeds = list(args.seeds) if args.control_seeds is None else args.control_seeds
    out = Measured(conditions, list(args.seeds), runs_dir)
    runs = [(seed, False) for seed in args.seeds] + [(seed, True) for seed in control_seeds]
    for seed, control in runs:
        run_id = f"{prefix}-{'control-' if control else ''}s{seed}-{stamp}"
        secs = run_preset(preset, runs_dir, run_id, [f"run.seed={seed}", *(["filter.rule=random"] if control else []),
                                                     *args.sets])
        out.minutes.append(secs / 60)
        table = table_of(Store(runs_dir), run_id)
        if control:
            out.controls[seed] = table
        else:
            out.tables[seed], out.run_ids[seed] = table, run_id
        print(f"{'control s' if control else 'seed '}{seed}: {secs / 60:.1f} min  "
              + "  ".join(f"{c}={fmt(table[c])}" for c in conditions), flush=True)
    return out
