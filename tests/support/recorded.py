"""The console's recorded runs: the event logs of two real engine runs on the tiny model,
normalized and committed (``tests/console/fixtures/*.jsonl``), so that the console's tests
need neither torch nor an engine run. A store is rebuilt from a log by recording its events
again (``Store.replay_into``): the tables are the projection of the events.

- ``recorded``: 2 ReSTEM rounds, 4 contexts x 3 self-edits, real LoRA and M-step;
- ``evals``: 1 round with the multi-passage and forgetting evaluations, graded by a local
  OpenAI-compatible judge that says yes to about half the (question, answer) pairs;
- ``review``: 1 round with ``run.review = "kept"``, up to where the engine waits for a
  person's decisions on the 4 kept self-edits (its engine was stopped there);
- ``fewshot``: 1 round of the few-shot (ARC) task on 4 real ARC tasks with the tiny plan-writing
  grid model (``tests.support.fewshot_models``), 3 plans per task (a garbled one refused,
  unresampled), kept plans put up for review and approved when its 1 s timeout ran out.

Normalized: fixed run ids, times (0.5 s apart from ``T0``), paths and model name, and
telemetry every 8 events with values made from its position; texts and numbers stay the
engine's own. Regenerate after a change to what the engine records (the engine's tests
check that the logs still have the shape the engine writes):

    .venv/bin/python -m tests.support.recorded
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from engine.events import Event
from engine.store import Store

from .common import REPO

FIXTURES = REPO / "tests" / "console" / "fixtures"
T0 = 1_750_000_000.0          # 2025-06-15 15:06:40 UTC: the normalized run's creation time
RUN_IDS = {"recorded": "20250615-150640-recorded-0000", "evals": "20250615-150640-evals-0000",
           "review": "20250615-150640-review-0000", "fewshot": "20250615-150640-fewshot-0000"}
MODEL = "tiny-llama"


def path_of(name: str) -> Path:
    return FIXTURES / f"{name}.jsonl"


def read_log(path: Path) -> list[Event]:
    events = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        events.append(Event(d["id"], d["run_id"], d["ts"], d["kind"], d["round"], d["phase"], d["data"]))
    return events


def load(name: str, runs_dir: Path) -> str:
    """A store at ``runs_dir`` holding the recorded run ``name``; returns its run id."""
    store = Store(runs_dir)
    try:
        store.replay_into(read_log(path_of(name)))
    finally:
        store.close()
    return RUN_IDS[name]


def normalize(events: list[Event], run: dict, src_root: Path, new_id: str, *, telemetry_every: int = 8) -> list[Event]:
    """The run's events with everything that varies between two recordings fixed."""
    old_dir, old_model, old_id = run["run_dir"], run["model"], run["id"]
    new_dir = f"runs/{new_id}"

    def fix(text: str) -> str:
        for old, new in ((old_dir, new_dir), (str(src_root), "runs"), (old_model, MODEL),
                         (str(src_root.parent), "work"), (old_id, new_id)):
            if old:
                text = text.replace(old, new)
        return text

    out: list[Event] = []
    kept = [e for e in events if e.kind != "telemetry"]   # their count depends on wall time
    eid = 0
    for i, e in enumerate(kept):
        if i and i % telemetry_every == 0:
            eid += 1
            sample = {"cpu_pct": float(40 + (i * 37) % 60), "rss_mb": float(300 + (i * 13) % 200), "gpus": []}
            out.append(Event(eid, new_id, T0 + eid * 0.5, "telemetry", None, None, sample))
        eid += 1
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:8000", fix(json.dumps(e.data, ensure_ascii=False)))
        data = json.loads(text)    # (the judge's port is the test server's)
        if e.kind == "run_started":
            data["pid"] = None        # no process of this machine: a replayed run is never live
        out.append(Event(eid, new_id, T0 + eid * 0.5, e.kind, e.round, e.phase, data))
    return out


def write_log(events: list[Event], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e.as_dict(), ensure_ascii=False, sort_keys=True) + "\n" for e in events))


def record(name: str, runs_dir: Path, run_id: str) -> Path:
    """Normalize a finished run of ``runs_dir`` and write it as the fixture ``name``."""
    store = Store(runs_dir)
    try:
        events = normalize(list(store.iter_events(run_id)), store.get_run(run_id), runs_dir, RUN_IDS[name])
    finally:
        store.close()
    write_log(events, path_of(name))
    return path_of(name)


def main() -> int:
    from .engine_runs import judged_eval_run_in, recorded_run_in
    from .tiny_models import make_tiny_model

    work = Path(tempfile.mkdtemp(prefix="recorded-"))
    model = make_tiny_model(work / "model")
    data = work / "contexts.json"
    squad = REPO.parent / "shared" / "data" / "seal" / "squad_val.json"
    if not squad.is_file():
        raise SystemExit(f"{squad} is needed: the recorded runs are made on SEAL's SQuAD passages")
    data.write_text(json.dumps(json.loads(squad.read_text())[:40]))
    runs = work / "runs"
    print("wrote", record("recorded", runs, recorded_run_in(runs, model, data)))
    print("wrote", record("evals", runs, judged_eval_run_in(runs, model, data)))
    print("wrote", record("review", runs, waiting_for_review(model, data, runs)))
    print("wrote", record("fewshot", runs, fewshot_run(work, runs)))
    return 0


def fewshot_run(work: Path, runs: Path) -> str:
    """The recorded few-shot run (see the module's docstring); its id."""
    from .engine_runs import run_engine
    from .fewshot_models import fewshot_run_args, make_plan_writing_model

    model = make_plan_writing_model(work / "fewshot-model")
    # no resampling: a plan the tiny model garbles is refused, with its reason
    proc = run_engine(*fewshot_run_args(model, runs, "--set", "sample.k=3", "--set", 'run.review="kept"',
                                        "--set", "run.review_timeout=1", "--set", "fewshot.resample=0",
                                        "--name", "fewshot"))
    if proc.returncode != 0:
        raise SystemExit(f"the few-shot run failed: {proc.stderr[-2000:]}")
    return proc.stdout.split()[1]


def waiting_for_review(model: Path, data: Path, runs: Path) -> str:
    """Start a run that asks for review, and stop its engine once it waits; returns its id."""
    import subprocess
    import time

    from .engine_runs import engine_cmd, tiny_run_args

    args = tiny_run_args(model, data, runs, "--set", "run.rounds=1", "--set", 'run.review="kept"',
                         "--name", "to-review")
    proc = subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = Store(runs)
    try:
        end = time.monotonic() + 300
        while time.monotonic() < end:
            waiting = [r for r in store.list_runs() if r["name"] == "to-review" and r["status"] == "awaiting_review"]
            if waiting:
                return waiting[0]["id"]
            if proc.poll() is not None:
                raise SystemExit(f"the engine exited early: {proc.stderr.read()[-2000:]}")
            time.sleep(0.3)
        raise SystemExit("the run did not ask for review within 300 s")
    finally:
        proc.kill()
        proc.wait()
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
