"""How much CPU the console uses while it shows each screen and nothing happens.

    .venv/bin/python bench/console_idle.py [--seconds 15] [--runs-dir DIR]

Two finished runs of the sandbox (small: 1 round, review "kept" decided by a 1 s
timeout, so the review screen has a closed round to show) are made by the real
engine, unless ``--runs-dir`` holds a store with two finished runs already. Then
``seal-tui`` is opened in tmux (a real terminal, 120x40) and each screen is shown in
turn: runs, a finished run's dashboard, its evals pane, its review screen, compare of
the two runs, a replay (paused), the new-run form and the help screen. For each, the
console's CPU time is read (psutil) over ``--seconds`` after a 3 s settle.

Ends with ``BENCH console_idle runs=<pct> dashboard=<pct> ... max=<pct>`` (percent of
one core).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--preset", "sandbox", "--set", "run.rounds=1", "--set", "data.n_train=2", "--set", "data.n_heldout=2",
         "--set", "sample.k=2", "--set", 'run.review="kept"', "--set", "run.review_timeout=1",
         "--set", "filter.min_gain=-1.0", "--set", "filter.min_reward=-1.0"]
# (name, keys that lead there from the screen before, keys that leave it)
SCREENS = (
    ("runs", [], []),
    ("dashboard", ["Enter"], []),
    ("evals", ["e"], ["e"]),
    ("review", ["R"], ["b"]),
    ("help", ["?"], ["Escape"]),
    ("runs_again", ["b"], []),
    ("compare", ["space", "Down", "space", "c"], ["b"]),
    ("replay", ["r", "space"], ["b"]),
    ("new_run", ["n"], ["Escape"]),
)


def make_runs(runs_dir: Path) -> None:
    env = dict(os.environ, SEAL_RUNS_DIR=str(runs_dir), OMP_NUM_THREADS="1")
    for name in ("idle-a", "idle-b"):
        subprocess.run([sys.executable, "-m", "engine", "run", *SMALL, "--name", name], cwd=ROOT, env=env,
                       check=True, capture_output=True)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def console_pid(session: str) -> int:
    shell = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    proc = psutil.Process(shell)
    for p in [proc, *proc.children(recursive=True)]:
        if "seal_tui" in " ".join(p.cmdline()) or "seal-tui" in " ".join(p.cmdline()):
            return p.pid
    return shell


def cpu_pct(pid: int, seconds: float) -> float:
    proc = psutil.Process(pid)
    t0, c0 = time.monotonic(), sum(proc.cpu_times()[:2])
    time.sleep(seconds)
    return 100.0 * (sum(proc.cpu_times()[:2]) - c0) / (time.monotonic() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--runs-dir", type=Path, default=None)
    ap.add_argument("--console", default=str(ROOT / ".venv" / "bin" / "seal-tui"), help="the console to measure")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("console_idle: tmux is needed (apt-get install tmux)", file=sys.stderr)
        return 2
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="idle-")) / "runs"
    if not (runs_dir / "seal.db").is_file():
        print(f"making two small sandbox runs in {runs_dir} ...", flush=True)
        make_runs(runs_dir)
    session = f"idle-{os.getpid()}"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40",
         f"TZ=UTC {args.console} --runs-dir {runs_dir}")
    figures: dict[str, float] = {}
    try:
        time.sleep(4)
        pid = console_pid(session)
        for name, keys, leave in SCREENS:
            for key in keys:
                tmux("send-keys", "-t", session, key)
                time.sleep(0.4)
            time.sleep(3)
            figures[name] = cpu_pct(pid, args.seconds)
            shown = tmux("capture-pane", "-p", "-t", session).splitlines()
            print(f"{name:<12} {figures[name]:5.2f}% of a core   | {next((s for s in shown if s.strip()), '')[:70]}",
                  flush=True)
            for key in leave:
                tmux("send-keys", "-t", session, key)
                time.sleep(0.6)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    print("BENCH console_idle " + " ".join(f"{k}={v:.2f}" for k, v in figures.items())
          + f" max={max(figures.values()):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
