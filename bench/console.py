"""Console benchmarks: first paint of the runs screen, dashboard lag at 1,000 events/s, RSS.

    .venv/bin/python bench/console.py [--events-per-s 1000] [--seconds 8]

Ends with one line: ``BENCH console first_paint_s=<x> lag_ms_at_1000eps=<y> rss_mb=<z> ...
replay_load_s=<a> replay_rss_mb=<b>``.

- first_paint_s: a fresh ``python`` process (interpreter and imports included) until the
  runs screen, holding 100 runs, has painted its first frame (headless); the BENCH line
  also gives paint_after_imports_s, the app's own part.
- lag_ms_at_1000eps: a writer process appends engine-shaped events (candidates, scores,
  logs, telemetry...) to the store at the given rate; the dashboard polls, reduces and
  redraws; lag is the 95th percentile of (time shown - time written) at each redraw.
- rss_mb: the console process's resident memory after the stream (bounded buffers).
- replay_load_s / replay_rss_mb: a 10,000-candidate run (~41,000 events) written through
  the store; a fresh process opens its replay: seconds until the replay is painted with the
  whole log indexed, and the peak RSS after seeking to its last event (every event read,
  reduced and drawn; the time that seek takes is printed above the BENCH line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import events as ev  # noqa: E402
from engine.store import Store  # noqa: E402

WORDS = ("the river", "a quiet island", "Orla Vance", "the glass tower", "in 1874", "copper coins",
         "the northern pass", "was founded", "trades salt", "the blue heron", "Kestrel Bay")


def _sentence(rng: random.Random, n: int = 8) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def fill_runs(store: Store, n: int, seed: int = 0) -> None:
    """``n`` finished runs with a few events each (what the runs screen lists)."""
    rng = random.Random(seed)
    for i in range(n):
        rid = f"20250101-{i:06d}-sandbox-{i:04x}"
        store.record(rid, ev.RunCreated(name=f"bench-{i:03d}", preset="sandbox", model="sandbox",
                                        config={"run": {"rounds": 3}}, rounds=3), round_=0, phase="setup")
        store.record(rid, ev.RunStarted(), ts=time.time() - 3600)
        store.record(rid, ev.RoundStarted(round=3, total_rounds=3), round_=3)
        end = rng.choice([ev.RunFinished(best_heldout=rng.random()), ev.RunFailed(error="x"), ev.RunStopped()])
        store.record(rid, end, round_=3, phase="done", ts=time.time() - 60)


class SyntheticEngine:
    """Writes a sandbox-shaped run through the store API at a steady rate of events."""

    def __init__(self, runs_dir: Path, run_id: str, *, events_per_s: float, contexts: int = 32,
                 k: int = 5, rounds: int = 3, seed: int = 0, gpus: int = 0) -> None:
        self.runs_dir, self.run_id = runs_dir, run_id
        self.rate, self.contexts, self.k, self.rounds = events_per_s, contexts, k, rounds
        self.rng = random.Random(seed)
        self.gpus = gpus
        self.written = 0
        self.stop = threading.Event()

    def _tick(self, n: int = 1) -> None:
        self.written += n
        if self.rate > 0:
            due = self.t0 + self.written / self.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def run(self, forever: bool = False) -> None:
        store = Store(self.runs_dir)
        rng, rid = self.rng, self.run_id
        self.t0 = time.perf_counter()
        store.record(rid, ev.RunCreated(name="synthetic", preset="sandbox", model="sandbox", rounds=self.rounds,
                                        config={"run": {"rounds": self.rounds, "review": "auto"}}),
                     round_=0, phase="setup")
        store.record(rid, ev.RunStarted(pid=os.getpid()), round_=0, phase="setup")
        ctxs = [(i, {"title": f"Passage {i}", "context": _sentence(rng, 40),
                     "questions": [{"question": _sentence(rng, 6) + "?", "answer": rng.choice(WORDS)}
                                   for _ in range(3)]}) for i in range(self.contexts)]
        store.record(rid, ev.Contexts(split="train", items=[{"idx": i, **c} for i, c in ctxs]), round_=0,
                     phase="setup")
        rnd = 0
        while not self.stop.is_set() and (forever or rnd < self.rounds):
            rnd += 1
            store.record(rid, ev.RoundStarted(round=rnd, total_rounds=self.rounds), round_=rnd)
            n = self.contexts * self.k
            store.record(rid, ev.Phase(phase="sample", total=n), round_=rnd, phase="sample")
            ids = []
            for c in range(self.contexts):
                if self.stop.is_set():
                    break
                ids += store.add_candidates(rid, rnd, [ev.CandidateSampled(
                    context_idx=c, cand_idx=j, title=f"Passage {c}",
                    self_edit="\n".join(_sentence(rng) for _ in range(4))) for j in range(self.k)])
                self._tick(self.k)
            store.record(rid, ev.Phase(phase="inner_loop", total=n), round_=rnd, phase="inner_loop")
            for done, cid in enumerate(ids, 1):
                if self.stop.is_set():
                    break
                before = [rng.random() < 0.3 for _ in range(3)]
                after = [rng.random() < 0.3 + 0.1 * rnd for _ in range(3)]
                reward, base = sum(after) / 3, sum(before) / 3
                store.record(rid, ev.CandidateScored(
                    id=cid, context_idx=(done - 1) // self.k, cand_idx=(done - 1) % self.k, reward=reward,
                    baseline=base, gain=reward - base, train_sequences=[_sentence(rng) for _ in range(4)],
                    answers=[{"question": "q?", "gold": "g", "answer_before": "b", "answer_after": "a",
                              "correct_before": b, "correct_after": a, "reason": ""} for b, a in zip(before, after)]),
                    round_=rnd, phase="inner_loop")
                store.record(rid, ev.Progress(phase="inner_loop", done=done, total=n), round_=rnd, phase="inner_loop")
                self._tick(2)
                if done % 25 == 0:
                    store.record(rid, ev.Log(message=f"scored {done}/{n}"), round_=rnd, phase="inner_loop")
                    store.record(rid, ev.Telemetry(cpu_pct=rng.uniform(50, 190), rss_mb=900 + rng.uniform(0, 100), gpus=[
                        {"index": g, "name": "Fake GPU", "util": rng.uniform(0, 100), "mem_used_mb": 30000,
                         "mem_total_mb": 80000, "temp_c": 60} for g in range(self.gpus)]))
                    self._tick(2)
            store.record_many(rid, [ev.CandidateFiltered(id=cid, kept=i % self.k == 0, reason="best")
                                    for i, cid in enumerate(ids)], round_=rnd, phase="filter")
            self._tick(len(ids))
            for step in range(1, 21):
                store.record(rid, ev.MStepProgress(step=step, total=20, loss=2.0 / step, epoch=1),
                             round_=rnd, phase="train")
                self._tick()
            store.record(rid, ev.MStepDone(policy_path="", examples=self.contexts, loss=0.1), round_=rnd,
                         phase="train")
            acc = min(1.0, 0.2 + 0.1 * rnd)
            store.record(rid, ev.EvalResult(round=rnd, none=0.2, passage=0.3, self_edit=acc, n_contexts=8,
                                            n_questions=24), round_=rnd, phase="eval")
            store.record(rid, ev.Metric(name="heldout_self_edit", value=acc), round_=rnd, phase="eval")
            self._tick(3)
        if not self.stop.is_set():
            store.record(rid, ev.RunFinished(best_heldout=0.5), round_=rnd, phase="done")
        store.close()


PAINT_CODE = """
import time
t0 = time.perf_counter()
import asyncio
from pathlib import Path
from seal_tui.app import SealApp
from seal_tui.widgets.runs_table import RunsTable
t_import = time.perf_counter()
async def go():
    t_app = time.perf_counter()
    app = SealApp(Path(RUNS_DIR))
    async with app.run_test(size=(120, 40)) as pilot:
        while not (app.screen.query(RunsTable) and app.screen.query_one(RunsTable).row_count == 100):
            await asyncio.sleep(0.001)
        await pilot.pause()
        t_paint = time.perf_counter()
        print("PAINT", t_import - t0, t_paint - t_app, t_paint - t0, time.process_time())
asyncio.run(go())
"""


def first_paint(runs_dir: Path) -> tuple[float, float, float, float]:
    """(interpreter start-up + imports, app start to first frame, total, the process's CPU time
    to that frame) in seconds; on a loaded machine the CPU time moves less than the wall time."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    interpreter = time.perf_counter() - t
    out = subprocess.run([sys.executable, "-c", PAINT_CODE.replace("RUNS_DIR", repr(str(runs_dir)))],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("PAINT"):
            imports, app, total, cpu = (float(x) for x in line.split()[1:])
            return interpreter + imports, app, interpreter + total, cpu
    raise RuntimeError(out.stderr[-2000:])


def write_main(runs_dir: str, run_id: str, rate: float) -> None:
    """The writer process: an engine-shaped event stream until killed."""
    SyntheticEngine(Path(runs_dir), run_id, events_per_s=rate, contexts=200, k=5,
                    rounds=10 ** 6).run(forever=True)


async def dashboard_lag(runs_dir: Path, events_per_s: float, seconds: float) -> tuple[float, float, int]:
    import psutil

    from seal_tui.app import SealApp
    from seal_tui.screens.dashboard import DashboardScreen

    run_id = "bench-live"
    Store(runs_dir).close()
    writer = subprocess.Popen([sys.executable, __file__, "--write", str(runs_dir), run_id, str(events_per_s)])
    store = Store(runs_dir)
    app = SealApp(runs_dir)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            while store.get_run(run_id) is None:
                await asyncio.sleep(0.05)
            app.open_run(run_id)
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            await asyncio.sleep(2.0)          # warm-up: catch up with what was written before
            screen.lag_samples.clear()
            me = psutil.Process()
            cpu0 = me.cpu_times()
            n0, t0 = store.count_events(run_id), time.perf_counter()
            await asyncio.sleep(seconds)
            elapsed = time.perf_counter() - t0
            rate = (store.count_events(run_id) - n0) / elapsed
            cpu1 = me.cpu_times()
            cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed
            lags = sorted(screen.lag_samples)
            p95 = lags[int(0.95 * (len(lags) - 1))] if lags else float("nan")
            rss = psutil.Process().memory_info().rss / 2 ** 20
            seen = screen.state.events_seen
            cands = len(screen.state.candidates)
    finally:
        writer.kill()
        writer.wait()
    print(f"  writer {rate:.0f} events/s; dashboard reduced {seen} events ({cands} candidates kept), "
          f"{len(lags)} redraws in {seconds:.0f} s, lag median {lags[len(lags) // 2] * 1000:.0f} ms; "
          f"console CPU {cpu:.0%} of one core; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return p95 * 1000, rss, seen


REPLAY_CODE = """
import time
t0 = time.perf_counter()
import asyncio, resource
from pathlib import Path
from seal_tui.app import SealApp
from seal_tui.screens.replay import ReplayScreen
from seal_tui.widgets.replay_bar import ReplayBar
t_import = time.perf_counter()
async def go():
    app = SealApp(Path(RUNS_DIR), keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        # opened paused: the bench's log was written in seconds, so 1x would already be replaying thousands
        app.push_screen(ReplayScreen(RUN_ID, Path(RUNS_DIR), playing=False))
        while not (isinstance(app.screen, ReplayScreen) and app.screen.query(ReplayBar)
                   and (app.screen.query_one(ReplayBar).position or None) is not None
                   and app.screen.query_one(ReplayBar).position.loaded):
            await asyncio.sleep(0.001)
        await pilot.pause()
        t_loaded = time.perf_counter()
        screen = app.screen
        screen.replay.seek(screen.replay.total)        # every event read, reduced and drawn
        while screen.state.events_seen < screen.replay.total:
            await asyncio.sleep(0.005)
        screen._sync()
        await pilot.pause()
        t_end = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("REPLAY", t_import - t0, t_loaded - t0, t_end - t_loaded, peak, screen.replay.total,
              len(screen.state.candidates), screen.query_one("#candidates").row_count)
asyncio.run(go())
"""


def replay_load(tmp: Path, candidates: int = 10_000) -> tuple[float, float]:
    """A 10,000-candidate run written through the store, replayed in a fresh process:
    (seconds from the process start to the replay painted at its first event with the whole
    log indexed, ready to play or seek; peak RSS in MB after seeking to its last event)."""
    runs_dir = tmp / "runs-replay"
    t = time.perf_counter()
    writer = SyntheticEngine(runs_dir, "bench-replay", events_per_s=0, contexts=candidates // 10, k=5, rounds=2)
    writer.run()
    store = Store(runs_dir)
    n_events, n_cands = store.count_events("bench-replay"), len(store.candidates("bench-replay"))
    store.close()
    print(f"  replay store: {n_cands} candidates, {n_events} events written in {time.perf_counter() - t:.1f} s")
    best = None
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", REPLAY_CODE.replace("RUNS_DIR", repr(str(runs_dir)))
                              .replace("RUN_ID", repr("bench-replay"))],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("REPLAY")), None)
        if line is None:
            raise RuntimeError(out.stderr[-2000:])
        imports, loaded, to_end, peak, total, kept, rows = (float(x) for x in line.split()[1:])
        if best is None or loaded < best[1]:
            best = (imports, loaded, to_end, peak, total, kept, rows)
    imports, loaded, to_end, peak, total, kept, rows = best
    print(f"replay of {n_cands} candidates ({total:.0f} events), best of 3: painted {loaded:.3f} s after the "
          f"process started ({imports:.3f} s interpreter and imports); seeking to the last event then took "
          f"{to_end:.3f} s ({kept:.0f} candidates in the state, {rows:.0f} rows); peak RSS {peak:.0f} MB")
    return loaded, peak


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events-per-s", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--write", nargs=3, metavar=("RUNS_DIR", "RUN_ID", "RATE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_main(args.write[0], args.write[1], float(args.write[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="seal-bench-") as tmp:
        runs_a = Path(tmp) / "runs-100"
        store = Store(runs_a)
        fill_runs(store, 100)
        store.close()
        paints = sorted((first_paint(runs_a) for _ in range(3)), key=lambda p: p[2])
        imports, app_s, fp, cpu = paints[0]
        print(f"first paint (100 runs, best of 3): {fp:.3f} s from a fresh process = "
              f"{imports:.3f} s interpreter and imports + {app_s:.3f} s the app to its first frame "
              f"(CPU {cpu:.3f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        runs_b = Path(tmp) / "runs-live"
        lag_ms, rss, _ = asyncio.run(dashboard_lag(runs_b, args.events_per_s, args.seconds))
        print(f"dashboard lag p95 {lag_ms:.0f} ms at {args.events_per_s:.0f} events/s; RSS {rss:.0f} MB")
        replay_s, replay_rss = replay_load(Path(tmp))
    print(f"BENCH console first_paint_s={fp:.3f} lag_ms_at_1000eps={lag_ms:.0f} rss_mb={rss:.0f} "
          f"paint_after_imports_s={app_s:.3f} replay_load_s={replay_s:.3f} replay_rss_mb={replay_rss:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
