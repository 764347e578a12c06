"""A run's summary as plain data: the runs list's row (``ls --json``) and everything
``seal-tui show`` prints (``show --json``), read from the store and the run's folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine import events as ev

from .facts import LIVE_STATUSES, PHASE_TIME_ROWS

CONFIG_ESSENTIALS = (
    "run.rounds", "run.review", "run.seed", "model.name_or_path", "data.path", "data.n_train",
    "data.n_heldout", "sample.k", "sample.prompt_style", "sample.temperature", "inner.split",
    "inner.lora_r", "inner.lora_alpha", "inner.epochs", "inner.lr", "grader.kind", "grader.model",
    "filter.rule", "filter.top_k", "filter.min_gain", "mstep.mode", "mstep.lora_r", "mstep.epochs",
    "mstep.lr", "eval.multi_passage", "eval.forgetting_k", "eval.teacher", "reference.kind", "reference.file",
    "reference.timestamp", "reference.condition", "reference.policy", "reference.round_from", "reference.recorded",
    "reference.notes",
)
# a few-shot run's: the plan's world, not the passages'
FEWSHOT_ESSENTIALS = (
    "run.task", "run.rounds", "run.review", "run.seed", "model.name_or_path", "data.path", "data.heldout_path",
    "sample.k", "sample.temperature", "fewshot.grid_format", "fewshot.ttt_cap", "fewshot.max_steps",
    "fewshot.max_train_chars", "fewshot.heldout_self_edits", "fewshot.attempts", "inner.lora_r", "inner.lora_alpha",
    "inner.batch_size", "inner.schedule", "filter.rule", "filter.min_reward", "mstep.mode", "mstep.lora_r", "mstep.epochs",
    "mstep.lr",
    "reference.kind", "reference.file", "reference.timestamp", "reference.condition", "reference.round_from",
    "reference.notes",
)
HELDOUT = ("heldout_none", "heldout_passage", "heldout_self_edit", "heldout_teacher")


def run_row(store, run: dict, now: float | None = None) -> dict:
    """One run as the runs list shows it (times are UNIX seconds). ``kind``: "restem" for an engine
    run, else the imported file's kind; ``condition``: what an imported file's numbers are of;
    ``figure``: the run's headline number ({name, value, unit}: the best held-out accuracy, or an
    imported file's own). An imported run's times are its file's: ``started_at`` when the file says
    when it was written (else None, and ``recorded`` what the file does say), no duration."""
    now = time.time() if now is None else now
    status = store.display_status(run)
    last = store.last_event(run["id"])
    last_ts = last.ts if last else None
    start = run.get("started_at") or run.get("created_at")
    end = last_ts if status == "stale" else (now if status in LIVE_STATUSES else run.get("finished_at") or last_ts)
    best = run.get("best_heldout")
    row = {"id": run["id"], "name": run.get("name"), "status": status, "stored_status": run.get("status"),
           "preset": run.get("preset"), "model": run.get("model"), "source": run.get("source") or "engine",
           "kind": "restem", "condition": None,
           "round": run.get("current_round") or 0, "rounds": run.get("rounds") or 0, "phase": run.get("phase"),
           "best_heldout": best,
           "figure": {"name": "best held-out accuracy (self-edits)", "value": best, "unit": "accuracy"}
           if best is not None else None,
           "created_at": run.get("created_at"),
           "started_at": run.get("started_at"), "finished_at": run.get("finished_at"),
           "duration_s": (end - start) if start and end else None, "last_event_at": last_ts,
           "pid": run.get("pid"), "error": run.get("error"), "run_dir": run.get("run_dir")}
    if row["source"] == "imported":
        row.update(_imported(run))
    return row


def _imported(run: dict) -> dict:
    """An imported run's kind, condition, figure and times, as its file gives them (nothing invented)."""
    try:
        ref = json.loads(run.get("config_json") or "{}").get("reference") or {}
    except ValueError:
        ref = {}
    written = ref.get("recorded_at")
    return {"kind": ref.get("kind") or "imported", "condition": ref.get("condition"),
            "figure": ref.get("headline") or None,
            "started_at": written if isinstance(written, (int, float)) else None,
            "recorded": ref.get("recorded"), "finished_at": None, "duration_s": None,
            "imported_at": run.get("created_at")}


def run_summary(store, run: dict, now: float | None = None) -> dict:
    """The row, the config's essentials, numbers per round, saved policies and kept adapters."""
    row = run_row(store, run, now)
    config = json.loads(run.get("config_json") or "{}")
    created = next(iter(store.events_of(run["id"], ("run_created",))), None)
    task = created.payload.task if created else "knowledge"
    labels = created.payload.labels if created else {}
    essentials = {}
    for key in FEWSHOT_ESSENTIALS if task == "fewshot" else CONFIG_ESSENTIALS:
        section, name = key.split(".")
        value = (config.get(section) or {}).get(name)
        if key == "grader.model" and (config.get("grader") or {}).get("kind") != "llm":
            continue
        if value not in (None, "") and not (section == "eval" and not value):
            essentials[key] = value
    rounds: dict[int, dict] = {}

    def at(r: int | None) -> dict:
        r = int(r or 0)
        return rounds.setdefault(r, {"round": r, "heldout_none": None, "heldout_passage": None,
                                     "heldout_self_edit": None, "heldout_teacher": None, "train_reward_mean": None,
                                     "candidates": 0, "scored": 0, "kept": None, "review": None,
                                     "policy_path": None, "policy_exists": None, "mstep": None})

    for m in store.metrics(run["id"]):
        if m["name"] in (*HELDOUT, "train_reward_mean"):
            at(m["round"])[m["name"]] = m["value"]
    for r, counts in store.round_counts(run["id"]).items():
        entry = at(r)
        entry.update(candidates=counts["candidates"], scored=counts["scored"], kept=counts["kept"])
        if entry["train_reward_mean"] is None and counts["mean_reward"] is not None:
            entry["train_reward_mean"] = counts["mean_reward"]
        if counts["review"]:
            entry["review"] = counts["review"]
    extra: dict = {}
    for e in store.events_of(run["id"], ("review_done", "mstep_done", "eval_result")):
        p = e.payload
        if e.kind == "review_done":
            at(e.round)["review"] = {"approved": p.approved, "rejected": p.rejected, "edited": p.edited}
        elif e.kind == "mstep_done":
            path = p.policy_path
            at(e.round).update(policy_path=path, policy_exists=Path(path).is_dir() if path else None,
                               mstep={"examples": p.examples, "loss": p.loss, "skipped": p.skipped,
                                      "reason": p.reason})
        else:
            for key in ("multi_passage", "forgetting"):
                value = getattr(p, key)
                if value:
                    extra[key] = {"round": e.round, **{k: v for k, v in value.items() if k != "answers"}}
    extra["policy_evals"] = [{"label": p.label, "policy": p.policy, "round": p.round, "overrides": p.overrides,
                              "n_questions": p.n_questions,
                              **{k: getattr(p, k) for k in ("none", "passage", "self_edit", "teacher")}}
                             for p in (e.payload for e in store.events_of(run["id"], (ev.PolicyEval.KIND,)))]
    extra["phase_times"] = phase_breakdown(e.payload for e in store.events_of(run["id"], (ev.PhaseTimes.KIND,)))
    return {**row, "host": run.get("host"), "task": task, "labels": labels, "config": essentials,
            "rounds_detail": [rounds[r] for r in sorted(rounds)],
            "policies": [{"round": e["round"], "path": e["policy_path"], "exists": e["policy_exists"]}
                         for r, e in sorted(rounds.items()) if e["policy_path"]],
            "adapters": kept_adapters(store, run), **extra}


def phase_breakdown(times) -> dict | None:
    """A run's wall time by phase (``facts.PHASE_TIME_ROWS``), summed over the ``ev.PhaseTimes`` of its
    engine processes: {"wall_s", "processes", "rows": [{"name", "seconds", "share"}]}, a share being
    of the whole time; None where no process recorded its times (an engine before events version 4)."""
    times = list(times)
    if not times:
        return None
    seconds: dict[str, float] = {}
    for t in times:
        for phase, s in (t.seconds or {}).items():
            seconds[phase] = seconds.get(phase, 0.0) + float(s)
    wall = sum(float(t.wall_s or 0.0) for t in times) or sum(seconds.values())
    rows = [(name, sum(seconds.pop(p, 0.0) for p in phases)) for name, phases in PHASE_TIME_ROWS]
    if any(seconds.values()):  # a phase this version does not know
        rows.append(("other", sum(seconds.values())))
    return {"wall_s": wall, "processes": len(times),
            "rows": [{"name": name, "seconds": s, "share": s / wall if wall else 0.0} for name, s in rows
                     if s or name not in ("setup", "paused", "other")]}


def phase_line(breakdown: dict) -> str:
    """The breakdown in one line (the engine's last log line of a run)."""
    return f"wall time {breakdown['wall_s']:.1f} s: " + ", ".join(
        f"{r['name']} {r['seconds']:.1f} s ({100 * r['share']:.0f}%)" for r in breakdown["rows"])


def saved_policies(store, run_id: str) -> dict[int, str]:
    """Round -> the folder its M-step saved the policy in: where the run saved it, or in the store's own
    folder of the run (a store copied or moved elsewhere)."""
    out = {}
    for e in store.events_of(run_id, (ev.MStepDone.KIND,)):
        recorded = e.payload.policy_path
        if recorded:
            moved = store.runs_dir / run_id / "policy" / f"round-{e.round}"
            out[e.round] = str(moved) if not Path(recorded).is_dir() and moved.is_dir() else recorded
    return out


def kept_adapters(store, run: dict) -> list[dict]:
    """PEFT folders under runs/<id>/adapters/round-<r>/candidate-<id>/, with their candidate's numbers."""
    root = Path(run.get("run_dir") or store.runs_dir / run["id"]) / "adapters"
    if not root.is_dir():
        return []
    cands = {c["id"]: c for c in store.candidates(run["id"])}
    out = []
    for folder in sorted(root.glob("round-*/candidate-*"), key=_adapter_order):
        if not folder.is_dir():
            continue
        rnd, cid = _adapter_order(folder)
        cand = cands.get(cid, {})
        out.append({"round": rnd, "candidate_id": cid, "path": str(folder),
                    "peft": (folder / "adapter_config.json").is_file(),
                    "context_idx": cand.get("context_idx"), "reward": cand.get("reward"),
                    "kept": None if cand.get("kept") is None else bool(cand.get("kept"))})
    return out


def _adapter_order(folder: Path) -> tuple[int, int]:
    def number(name: str) -> int:
        tail = name.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else -1
    return number(folder.parent.name), number(folder.name)
