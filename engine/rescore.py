"""``seal-engine eval``: score a policy on a run's held-out contexts after the run.

One of the run's saved round policies (``--round N``; 0 is its base model) or any other
model (``--policy FOLDER_OR_HUB_ID``) is evaluated as the run evaluates a round, with the
run's config (``--set`` changes it for this evaluation: eval.k, eval.teacher...), on the
held-out contexts the run recorded, every condition measured. The result is recorded in
the run as a ``policy_eval`` event, which the console shows beside the run's rounds; the
run's status, curves and best figure stay as they were (this process writes no phase,
progress or metric events: they belong to the run's own engine processes).
"""

from __future__ import annotations

import json
import signal
import traceback
from pathlib import Path

from engine import events as ev
from engine.config import Config, ConfigError, config_from_dict
from engine.model_files import looks_local
from engine.preflight import InputError, preflight
from engine.runtime import RunContext, RunStopped, StoreLogHandler
from engine.store import LIVE_STATUSES, Store
from engine.store.summary import saved_policies
from engine.tasks import make_task

EXIT_DONE, EXIT_FAILED, EXIT_STOPPED = 0, 1, 3


class RescoreFailed(Exception):
    """Something the re-score needs kept failing (the judge, the teacher); the message says what."""


class RescoreContext(RunContext):
    """The run's context for an evaluation outside its engine: only the result, a teacher's self-edits
    and log lines are recorded; a failing judge or teacher ends the re-score instead of pausing the run."""

    def set_phase(self, phase: str, total: int = 0) -> None:
        self.phase = phase

    def progress(self, done: int, total: int) -> None:
        pass

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        pass

    def checkpoint(self) -> None:
        if self.stop_requested:  # the run's commands are its own engine's to answer
            raise RunStopped("SIGTERM")

    def pause_for(self, reason: str) -> None:
        raise RescoreFailed(reason)


def rescore_run(runs_dir: Path, ref: str, *, policy: str | None = None, round_: int | None = None,
                overrides: list[str] | None = None) -> int:
    """Evaluate ``policy`` (or the run's round ``round_`` policy) on run ``ref``'s held-out contexts
    and record it in that run; returns the exit code. Raises InputError for a bad run, policy or setting."""
    from engine.run import _logger

    store = Store(runs_dir, create=False)
    run_row = store.find_run(ref)
    if run_row is None:
        raise InputError(f"no run {ref!r} in {store.path}; 'seal-tui ls' lists the runs")
    run_id = run_row["id"]
    if run_row.get("source") == "imported":
        raise InputError(f"run {run_id} was imported from result files: it has no held-out contexts or config "
                         "the engine can score a policy with; re-score an engine run")
    if run_row.get("status") in LIVE_STATUSES and not store.is_stale(run_row):
        raise InputError(f"run {run_id} is still {run_row['status']} (engine pid {run_row.get('pid')}): re-score a "
                         f"policy once it has ended, or stop it first (`seal-tui attach {run_id}`, then s)")
    cfg = _config(run_row, overrides or [])
    source, label, policy_round = _which_policy(store, run_id, cfg, policy, round_)
    cfg.model.name_or_path = source
    task = make_task(cfg)
    prepared = preflight(cfg, task, Path(runs_dir))
    heldout = _same_heldout(store, run_id, cfg, prepared.heldout)

    run_dir = store.runs_dir / run_id   # the log goes where the store keeps the run (wherever it was moved)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = _logger(run_dir, run_id)
    run = RescoreContext(store, run_id, log, run_dir)
    run.round = max(policy_round, 0)
    handler = StoreLogHandler(run)
    log.addHandler(handler)

    def on_term(signum, frame):
        run.stop_requested = True
    signal.signal(signal.SIGTERM, on_term)
    try:
        log.info("seal-engine eval: %s (%s) on run %s's %d held-out %ss", label, source, run_id, len(heldout),
                 task.labels.context)
        result = _evaluate(run, task, cfg, source, prepared.model.local_files_only, heldout,
                           ev.PolicyEval(policy=source, label=label, round=policy_round, overrides=list(overrides or [])))
        print(_summary_line(run_id, label, result, task), flush=True)
        return EXIT_DONE
    except RunStopped:
        log.info("seal-engine eval of %s stopped: no evaluation recorded", label)
        return EXIT_STOPPED
    except InputError:
        raise
    except RescoreFailed as exc:
        log.error("seal-engine eval of %s failed: %s; no evaluation recorded", label, exc)
        return EXIT_FAILED
    except Exception as exc:  # the message to the user, the traceback to the run's log file
        for h in log.handlers:
            if not isinstance(h, StoreLogHandler) and hasattr(h, "baseFilename"):
                h.stream.write(traceback.format_exc())
        log.error("seal-engine eval of %s failed: %s: %s (traceback in %s)", label, type(exc).__name__, exc,
                  run_dir / "engine.log")
        return EXIT_FAILED
    finally:
        for h in list(log.handlers):
            h.close()
            log.removeHandler(h)


def _evaluate(run: RescoreContext, task, cfg: Config, source: str, local_files_only: bool, heldout: list[dict],
              rescore: ev.PolicyEval) -> dict:
    from engine.evaluate import evaluate_heldout
    from engine.run import load_for_scoring, make_grader, setup_torch
    from engine.scoring import Scorer

    setup_torch(cfg)
    grader = make_grader(run, task)
    policy, inner = load_for_scoring(run, task, cfg, source, local_files_only)
    scorer = Scorer(inner, grader, task, on_grader_failure=lambda exc: run.pause_for(f"grader failed: {exc}"))
    return evaluate_heldout(run, policy, scorer, task, heldout, cfg, rescore=rescore)


def _config(run_row: dict, overrides: list[str]) -> Config:
    try:
        saved = json.loads(run_row["config_json"] or "{}")
        config_from_dict(saved)
    except (ConfigError, ValueError) as exc:
        raise InputError(f"run {run_row['id']}: its saved config no longer loads ({exc})") from None
    return config_from_dict(saved, overrides)  # a bad --set: ConfigError names it


def _which_policy(store: Store, run_id: str, cfg: Config, policy: str | None,
                  round_: int | None) -> tuple[str, str, int]:
    """(what to load, its label, the run's round of it: 0 its base model, -1 none of the run's)."""
    saved = saved_policies(store, run_id)
    rounds = ", ".join(str(r) for r in sorted(saved)) or "none"
    if round_ is not None:
        if round_ == 0:
            return cfg.model.name_or_path, f"base model {cfg.model.name_or_path}", 0
        if round_ not in saved:
            raise InputError(f"--round {round_}: run {run_id} saved no policy for round {round_} (rounds with a saved "
                             f"policy: {rounds}; 0 is its base model); or give a folder with --policy")
        if not Path(saved[round_]).is_dir():
            raise InputError(f"--round {round_}: run {run_id}'s round {round_} policy folder {saved[round_]} is gone; "
                             "give another with --policy")
        return saved[round_], f"round {round_} policy", round_
    if not policy:
        raise InputError(f"say which policy to score: --round N (run {run_id}'s saved rounds: {rounds}; 0 is its base "
                         "model) or --policy FOLDER_OR_HUB_ID")
    if policy == cfg.model.name_or_path:
        return policy, f"base model {policy}", 0
    path = Path(policy).expanduser()
    for r, folder in saved.items():
        if path.exists() and path.resolve() == Path(folder).resolve():
            return str(path), f"round {r} policy", r
    if looks_local(policy) and not path.exists():
        raise InputError(f"--policy {policy}: no such folder; give a saved policy's folder (e.g. "
                         f"{Path(next(iter(saved.values()), 'runs/RUN/policy/round-1'))}), a hub id, or --round N")
    return (str(path) if path.exists() else policy), path.name or policy, -1


def _same_heldout(store: Store, run_id: str, cfg: Config, heldout: list[dict]) -> list[dict]:
    """The held-out contexts as the task loads them now, refused unless they are the ones the run recorded."""
    recorded = store.get_contexts(run_id, "heldout")
    if recorded and [(c["title"], c["context"]) for c in recorded] != [(c["title"], c["context"]) for c in heldout]:
        raise InputError(f"data.path = {cfg.data.path!r} no longer gives the held-out contexts run {run_id} recorded "
                         "(the file changed, or data.split_seed / data.n_heldout was set): score on the run's data")
    return heldout


def _summary_line(run_id: str, label: str, result: dict, task) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"
    words = task.labels
    parts = [f"{words.none} {pct(result['none'])}", f"{words.passage} {pct(result['passage'])}"]
    if result.get("teacher") is not None:
        parts.append(f"teacher {pct(result['teacher'])}")
    parts.append(f"{words.self_edit} {pct(result['self_edit'])}")
    return f"run {run_id}: {label}: " + ", ".join(parts) + f" ({result['n_questions']} {words.question}s)"
