"""Chaos: does a run killed with SIGKILL at any moment, then resumed, end as if nothing happened?

Runs a small ``sandbox`` config once without interruption (the reference), then N times: each run
is killed with SIGKILL at a random moment of its life, resumed with ``seal-engine resume`` until it
finishes, and compared with the reference. The moment is drawn (seeded) uniformly over the
reference's work, not its seconds: the run is killed as soon as it has recorded as many events of
work (every kind but telemetry and log lines) as the reference had at the drawn point, so kills
fall in every phase in proportion to its events whatever the machine's load does to the time
spent importing torch. The comparison: every candidate (its self-edit, reward, baseline, gain,
kept), every per-round metric and the M-step losses must be the same, no candidate lost, none
recorded twice (a second row, a second candidate_scored or candidate_filtered event), no metric
recorded twice for a round.

    .venv/bin/python bench/chaos.py [--runs 20] [--seed 0] [--runs-dir DIR] [--set section.field=value ...]

Prints one line per run, then:
    BENCH chaos runs=<n> kills=<k> identical=<i> lost=<l> duplicated=<d>
(kills: the runs whose engine was killed while it ran; lost / duplicated: candidates over all runs).
Bar: identical = runs, lost = duplicated = 0, at n >= 20.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.store import Store  # noqa: E402

# a sandbox run of about half a minute on one CPU thread: every phase (sample, inner loop, filter,
# M-step with a saved policy, held-out evaluation) twice over
SMALL = ["run.rounds=2", "data.n_train=3", "data.n_heldout=4", "sample.k=3", "sample.max_new_tokens=48",
         "inner.epochs=3", "mstep.epochs=1", "filter.min_reward=-1", "run.threads=1"]
QUIET = ("telemetry", "log")   # events that are not work: their number depends on the time taken
CANDIDATE_FIELDS = ("round", "context_idx", "cand_idx", "self_edit", "reward", "baseline", "gain", "kept")


def engine(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def start(runs_dir: Path, run_id: str, sets: list[str]) -> subprocess.Popen:
    cmd = engine("run", "--preset", "sandbox", "--runs-dir", str(runs_dir), "--run-id", run_id, "--name", run_id)
    for s in sets:
        cmd += ["--set", s]
    with open(runs_dir.parent / f"{runs_dir.name}-{run_id}.stderr", "w") as err:  # a pipe could fill and block it
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)


def stderr_of(runs_dir: Path, run_id: str) -> str:
    return (runs_dir.parent / f"{runs_dir.name}-{run_id}.stderr").read_text()[-3000:]


def recorded(runs_dir: Path, run_id: str) -> bool:
    if not (runs_dir / "seal.db").is_file():
        return False
    store = Store(runs_dir, create=False)
    try:
        return store.get_run(run_id) is not None
    finally:
        store.close()


def wait_recorded(proc: subprocess.Popen, runs_dir: Path, run_id: str) -> float:
    """Until the engine has recorded its run (its checks passed); returns that moment."""
    while not recorded(runs_dir, run_id):
        if proc.poll() is not None:
            sys.exit(f"engine run {run_id} ended before its run was recorded:\n{stderr_of(runs_dir, run_id)}")
        time.sleep(0.05)
    return time.monotonic()


def work_events(runs_dir: Path, run_id: str) -> list[str]:
    """The kinds of the run's events of work, in order."""
    store = Store(runs_dir, create=False)
    try:
        return [e.kind for e in store.iter_events(run_id) if e.kind not in QUIET]
    finally:
        store.close()


def kill_after(proc: subprocess.Popen, runs_dir: Path, run_id: str, n: int) -> bool:
    """SIGKILL the engine as soon as its run has recorded ``n`` events of work; False if it ended first."""
    store = Store(runs_dir, create=False)
    seen, last = 0, 0
    try:
        while proc.poll() is None:
            batch = store.events_after(run_id, last)
            if batch:
                last = batch[-1].id
                seen += sum(e.kind not in QUIET for e in batch)
            if seen >= n:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.005)
        return False
    finally:
        store.close()


def finals(runs_dir: Path, run_id: str) -> dict:
    """What a finished run ends with, and what it recorded more than once."""
    store = Store(runs_dir, create=False)
    try:
        run = store.get_run(run_id)
        cands = store.candidates(run_id)
        events = Counter((e.kind, e.data.get("id")) for e in store.iter_events(run_id)
                         if e.kind in ("candidate_scored", "candidate_filtered"))
        metrics = Counter((m["round"], m["name"]) for m in store.metrics(run_id)
                          if not m["name"].startswith("judge_"))
        losses = [e.data["loss"] for e in store.iter_events(run_id) if e.kind == "mstep_done"]
        keys = Counter((c["round"], c["context_idx"], c["cand_idx"]) for c in cands)
        return {
            "status": run["status"],
            "candidates": sorted(tuple(c[f] for f in CANDIDATE_FIELDS) for c in cands),
            "keys": set(keys),
            "metrics": sorted((r, n, v) for (r, n), v in _last_per_round(store, run_id).items()),
            "losses": losses,
            "duplicated": sum(n > 1 for n in keys.values())
            + len({cid for (kind, cid), n in events.items() if n > 1}),
            "duplicated_metrics": sum(n > 1 for n in metrics.values()),
        }
    finally:
        store.close()


def _last_per_round(store: Store, run_id: str) -> dict:
    out = {}
    for m in store.metrics(run_id):
        if not m["name"].startswith("judge_"):
            out[(m["round"], m["name"])] = m["value"]
    return out


def resume_until_finished(runs_dir: Path, run_id: str) -> int:
    """``seal-engine resume`` (again, should a resume itself fail) until the run finishes; returns resumes."""
    for n in range(1, 4):
        proc = subprocess.run(engine("resume", run_id, "--runs-dir", str(runs_dir)), cwd=REPO,
                              capture_output=True, text=True)
        if proc.returncode == 0:
            return n
        print(f"  resume {n} of {run_id} exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="runs killed and resumed (default 20)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    ap.add_argument("--runs-dir", type=Path, help="store for the runs (default: a temporary folder)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="more config overrides")
    args = ap.parse_args(argv)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="seal-chaos-")) / "runs"
    sets = SMALL + args.sets
    print(f"store {runs_dir}; config: sandbox preset with {' '.join(sets)}")

    began = time.monotonic()
    proc = start(runs_dir, "reference", sets)
    wait_recorded(proc, runs_dir, "reference")
    if proc.wait() != 0:
        sys.exit(f"the reference run failed ({proc.returncode}):\n{stderr_of(runs_dir, 'reference')}")
    ref = finals(runs_dir, "reference")
    ref_work = work_events(runs_dir, "reference")
    print(f"reference: {len(ref['candidates'])} candidates, {len(ref['metrics'])} metrics, "
          f"M-step losses {ref['losses']}, {len(ref_work)} events of work, {(time.monotonic() - began):.0f} s")

    rng = random.Random(args.seed)
    kills = identical = lost = duplicated = duplicated_metrics = 0
    for i in range(args.runs):
        run_id = f"chaos-{i:03d}"
        at = rng.randrange(1, len(ref_work))  # killed once this many events of work are recorded
        proc = start(runs_dir, run_id, sets)
        wait_recorded(proc, runs_dir, run_id)
        killed = kill_after(proc, runs_dir, run_id, at)
        phase = "-"
        if killed:
            store = Store(runs_dir, create=False)
            run = store.get_run(run_id)
            store.close()
            killed = run["status"] != "finished"  # the engine may have recorded its end and not yet exited
            phase = f"round {run['current_round']} {run['phase']}" if killed else "after the run's end"
            kills += killed
        resumes = resume_until_finished(runs_dir, run_id) if killed else 0
        got = finals(runs_dir, run_id)
        same = (got["status"] == "finished" and got["candidates"] == ref["candidates"]
                and got["metrics"] == ref["metrics"] and got["losses"] == ref["losses"])
        missing = len(ref["keys"] - got["keys"])
        identical += same
        lost += missing
        duplicated += got["duplicated"]
        duplicated_metrics += got["duplicated_metrics"]
        print(f"{run_id}: killed after event {at} of {len(ref_work)} ({ref_work[at - 1]}; {phase}), "
              f"{resumes} resume(s) -> {got['status']}, "
              f"{'identical' if same else 'DIFFERENT'}, lost {missing}, duplicated {got['duplicated']}, "
              f"metrics recorded twice {got['duplicated_metrics']}")
        if not same and got["status"] == "finished":
            diff = [c for c in got["candidates"] if c not in ref["candidates"]][:2]
            print(f"  first differing candidates: {json.dumps(diff)[:400]}")
    minutes = (time.monotonic() - began) / 60
    print(f"{args.runs} runs, {kills} killed while running, {identical} identical to the reference, "
          f"{lost} candidates lost, {duplicated} recorded twice, {duplicated_metrics} metrics recorded twice; "
          f"{minutes:.1f} min")
    print(f"BENCH chaos runs={args.runs} kills={kills} identical={identical} lost={lost} duplicated={duplicated}")
    return 0 if identical == args.runs and lost == duplicated == duplicated_metrics == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
