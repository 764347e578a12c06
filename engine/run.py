"""One engine run from start to end: the store record, logging, telemetry, signals,
the model and data, the ReSTEM loop, and the final status."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path

from engine import events as ev
from engine.config import Config, to_toml
from engine.preflight import InputError, Prepared, preflight
from engine.store import Store
from engine.store.facts import OUTPUT_ENV, OUTPUT_NAME, new_run_id, resume_refusal
from engine.store.problems import disk_full_message, is_disk_full
from engine.tasks import Task, make_task

# the engine process's exit codes
EXIT_FINISHED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED, EXIT_DISK_FULL = 0, 1, 2, 3, 4
RESERVE_NAME, RESERVE_BYTES = ".disk-reserve", 1 << 20


def _logger(run_dir: Path, run_id: str) -> logging.Logger:
    log = logging.getLogger(f"seal.engine.{run_id}")
    log.setLevel(logging.INFO)
    log.propagate = False
    fh = logging.FileHandler(run_dir / "engine.log")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(fh)
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(err)
    return log


def resume_run(runs_dir: Path, ref: str) -> int:
    """Continue a stale, failed or stopped run from its last completed phase."""
    from engine.config import ConfigError, config_from_dict

    store = Store(runs_dir, create=False)
    run = store.find_run(ref)
    if run is None:
        raise InputError(f"no run {ref!r} in {store.path}; 'seal-tui ls' lists the runs")
    refusal = resume_refusal(run, store.is_stale(run))
    if refusal:
        raise InputError(refusal)
    try:
        cfg = config_from_dict(json.loads(run["config_json"]))
    except ConfigError as exc:
        raise InputError(f"run {run['id']}: its saved config no longer loads ({exc})") from None
    return execute_run(cfg, runs_dir=runs_dir, run_id=run["id"], resume=True)


def execute_run(cfg: Config, *, runs_dir: Path, run_id: str | None = None, resume: bool = False) -> int:
    """Run SEAL with ``cfg``; returns the process exit code (0 finished, 1 failed, 2 bad input,
    3 stopped, 4 paused for lack of disk space).

    Every input is checked first (``engine.preflight``): a bad one raises InputError before the
    run is recorded, so it leaves no run and no folder behind."""
    from engine.runtime import STOP_REQUESTED, RunContext, RunStopped, StoreLogHandler
    from engine.telemetry import Telemetry

    # SIGTERM from the first moment: before the run exists it ends the process with nothing recorded,
    # while the run loads it stops it at once, later at the next checkpoint (never in the middle of a write)
    term: dict = {"asked": False, "run": None, "loading": False}

    def on_term(signum, frame):
        term["asked"] = True
        STOP_REQUESTED.set()
        run = term["run"]
        if run is not None:
            run.stop_requested = True
            if term["loading"] and run.phase == "setup":  # nothing to lose (a store write rolls back)
                raise RunStopped("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # losing the terminal never stops a run

    task = make_task(cfg)
    prepared = preflight(cfg, task, Path(runs_dir))
    if term["asked"]:
        return EXIT_STOPPED
    store = Store(runs_dir)
    run_id = run_id or new_run_id(cfg.run.preset)
    run_dir = store.runs_dir / run_id
    if not resume:  # a resumed run's start clears its error and end
        if store.get_run(run_id):
            raise InputError(f"run id {run_id} already exists in {store.path}; choose another --run-id")
        run_dir.mkdir(parents=True, exist_ok=True)
        _adopt_output(run_dir)
        (run_dir / "config.toml").write_text(to_toml(cfg))
        store.record(run_id, ev.RunCreated(name=cfg.run.name or run_id, preset=cfg.run.preset,
                                           model=cfg.model.name_or_path, rounds=cfg.run.rounds, config=cfg.to_dict(),
                                           task=task.name, labels=task.labels.as_dict(),
                                           self_edit_schema=task.self_edit_schema()), round_=0, phase="setup")
    logging.raiseExceptions = False  # a log line that cannot be written (a full disk) is dropped, not printed
    log = _logger(run_dir, run_id)
    run = RunContext(store, run_id, log, run_dir)
    store_handler = StoreLogHandler(run)
    store_handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(store_handler)
    run.record(ev.RunStarted(pid=os.getpid(), run_dir=str(run_dir), resumed=resume))
    if resume:
        log.info("resuming run %s", run_id)
    for note in prepared.warnings:
        log.warning("%s", note)
    print(f"run {run_id}", flush=True)

    reserve = _reserve_space(run_dir)
    telemetry = Telemetry(store.runs_dir, run_id)
    telemetry.start()
    mirror = None
    if cfg.run.report_to:  # run.report_to: a thread mirrors the recorded events into the trackers
        from engine.trackers.mirror import LiveMirror
        mirror = LiveMirror(store.runs_dir, run_id, cfg.run.report_to, resume=resume)
        mirror.start()
    try:
        term["run"], term["loading"] = run, True
        if term["asked"]:
            raise RunStopped("SIGTERM")
        last = _execute(run, task, cfg, run_dir, prepared, resume)
        best = max((m["value"] for m in store.metrics(run_id, "heldout_self_edit")), default=None)
        run.phase = "done"
        log.info("run %s finished; best held-out accuracy %s", run_id, "-" if best is None else f"{best:.3f}")
        run.end(ev.RunFinished(best_heldout=best,
                               last=last and {k: last[k] for k in ("none", "passage", "self_edit")}))
        return EXIT_FINISHED
    except RunStopped as exc:
        log.info("run %s stopped (%s)", run_id, exc)
        run.end(ev.RunStopped(reason=str(exc)))
        return EXIT_STOPPED
    except InputError as exc:
        log.error("run %s failed: %s", run_id, exc)
        run.end(ev.RunFailed(error=str(exc)))
        return EXIT_BAD_INPUT
    except Exception as exc:  # anything else: the message to the user, the traceback to the log file
        if is_disk_full(exc):
            return _out_of_space(run, store.runs_dir, reserve)
        msg = f"{type(exc).__name__}: {exc}"
        for h in log.handlers:
            if isinstance(h, logging.FileHandler):
                try:
                    h.stream.write(traceback.format_exc())
                except OSError:
                    pass
        log.error("run %s failed: %s (traceback in %s)", run_id, msg, run_dir / "engine.log")
        try:
            run.end(ev.RunFailed(error=msg))
        except Exception as again:
            if is_disk_full(again):
                return _out_of_space(run, store.runs_dir, reserve)
            raise
        return EXIT_FAILED
    finally:
        telemetry.stop()
        if mirror is not None:
            mirror.stop()   # after the run's last event: the trackers get it, then close
        reserve.unlink(missing_ok=True)
        for h in list(log.handlers):
            h.close()
            log.removeHandler(h)


def _adopt_output(run_dir: Path) -> None:
    """Move the launcher's output file (this process's stdout and stderr) into the new run's folder."""
    pending = Path(os.environ.pop(OUTPUT_ENV, "") or "")
    if not pending.name or not pending.is_file():
        return
    target = run_dir / OUTPUT_NAME
    try:
        pending.replace(target)  # the same disk: our open descriptors follow the file
        return
    except OSError:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    with open(target, "ab") as out:  # another disk: copy what was written, then write there
        out.write(pending.read_bytes())
        out.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    pending.unlink(missing_ok=True)


def _reserve_space(run_dir: Path) -> Path:
    """A file of RESERVE_BYTES in the run's folder, given back when the disk fills up so that the run
    can still record why it paused (where the disk has not even that, the run shows as stale)."""
    path = run_dir / RESERVE_NAME
    try:
        with open(path, "wb") as fh:
            fh.write(b"\0" * RESERVE_BYTES)
    except OSError:
        path.unlink(missing_ok=True)
    return path


def _out_of_space(run, runs_dir: Path, reserve: Path) -> int:
    """The disk is full: record the run as paused with the reason (in the room the reserve gives back),
    and say what to free; ``resume`` continues it once there is room."""
    message = disk_full_message(runs_dir)
    reserve.unlink(missing_ok=True)
    try:
        run.record(ev.RunPaused(phase=run.phase, reason=f"out of disk space: {message}"))
    except Exception:
        pass  # nothing more can be written; the run shows as stale, and resume continues it
    print(f"seal-engine: run {run.run_id} paused in round {run.round} ({run.phase}): {message}", file=sys.stderr,
          flush=True)
    return EXIT_DISK_FULL


def _execute(run, task: Task, cfg: Config, run_dir: Path, prepared: Prepared, resume: bool = False) -> dict | None:
    from engine.restem import Progress, contexts_event, run_restem
    from engine.scoring import Scorer

    setup_torch(cfg)
    run.set_phase("setup")
    train_pool, heldout = prepared.train_pool, prepared.heldout
    grader = make_grader(run, task)
    progress = Progress(run.store.iter_events(run.run_id)) if resume else Progress()
    if not resume:
        run.record(contexts_event("heldout", list(enumerate(heldout))))
    run.log.info("data: %d training contexts in the pool, %d held out", len(train_pool), len(heldout))
    model_source = cfg.model.name_or_path
    if progress.policy_path:  # the policy of the last trained round, as saved then
        model_source = progress.policy_path
        run.log.info("resuming from the policy saved at %s", model_source)
    policy, inner = load_for_scoring(run, task, cfg, model_source, prepared.model.local_files_only)
    from engine.executor import ExecutorError
    from engine.scale import make_executor
    try:  # run.executor: this process, or a pool of Ray workers (started here)
        executor = make_executor(run, cfg, inner, policy_is_base=not progress.policy_path)
    except ExecutorError as exc:  # the cluster cannot be reached, or its workers cannot load the model
        raise InputError(str(exc)) from None
    scorer = Scorer(inner, grader, task, on_grader_failure=lambda exc: run.pause_for(f"grader failed: {exc}"),
                    executor=executor)
    try:
        run.checkpoint()
        return run_restem(run, policy, scorer, task, cfg, train_pool, heldout, run_dir, progress)
    finally:
        executor.close()  # Ray workers stop, and a Ray started for this run with them


def setup_torch(cfg: Config) -> None:
    """Quiet libraries, the run's CPU threads and its global torch seed."""
    import torch
    from transformers.utils import logging as hf_logging

    from engine import seeds

    warnings.filterwarnings("ignore", category=FutureWarning)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    torch.manual_seed(seeds.torch_global(cfg.run.seed))


def make_grader(run, task: Task):
    try:
        return task.make_grader(store=run.store, run_id=run.run_id)
    except ValueError as exc:  # e.g. the judge's API key variable is not set
        raise InputError(str(exc)) from None


def load_for_scoring(run, task: Task, cfg: Config, model_source: str, local_files_only: bool):
    """The policy from ``model_source`` (a folder or a hub id) and the inner loop around it."""
    from engine.inner_loop import InnerLoop
    from engine.models import ModelLoadError, load_policy

    try:
        policy = load_policy(model_source, device=cfg.run.device, dtype=cfg.run.dtype,
                             chat_template=cfg.model.chat_template, local_files_only=local_files_only)
    except ModelLoadError as exc:
        raise InputError(str(exc)) from None
    n_params = sum(p.numel() for p in policy.model.parameters())
    run.log.info("model %s: %.1fM parameters on %s (%s), %s prompts", policy.source, n_params / 1e6,
                 policy.device, str(policy.dtype).replace("torch.", ""), "chat" if policy.use_chat else "plain")
    slots = cfg.inner.parallel or cfg.sample.k
    try:
        inner = InnerLoop(policy, cfg.inner, slots=slots, max_seq_len=cfg.model.max_seq_len,
                          query_prompt=task.query_prompt)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return policy, inner
