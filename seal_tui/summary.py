"""A run's summary for ``seal-tui show``: config essentials, status, numbers per round,
and the files a run leaves (each round's policy, kept adapters). Read from the store
and the run's folder; no torch."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .format import date_time, duration, pct

LIVE = ("created", "running", "paused", "awaiting_review")
CONFIG_ESSENTIALS = (
    "run.rounds", "run.review", "run.seed", "model.name_or_path", "data.path", "data.n_train",
    "data.n_heldout", "sample.k", "sample.prompt_style", "sample.temperature", "inner.split",
    "inner.lora_r", "inner.lora_alpha", "inner.epochs", "inner.lr", "grader.kind", "grader.model",
    "filter.rule", "filter.top_k", "filter.min_gain", "mstep.mode", "mstep.lora_r", "mstep.epochs",
    "mstep.lr", "eval.multi_passage", "eval.forgetting_k", "reference.kind", "reference.file",
    "reference.timestamp",
)
_SUMMARY_KINDS = ("review_done", "mstep_done", "eval_result")


def run_row(store, run: dict, now: float | None = None) -> dict:
    """What ``ls --json`` prints for one run (times are UNIX seconds)."""
    now = time.time() if now is None else now
    status = store.display_status(run)
    last = store.conn.execute("SELECT ts FROM events WHERE run_id=? ORDER BY id DESC LIMIT 1",
                              (run["id"],)).fetchone()
    last_ts = last[0] if last else None
    start = run.get("started_at") or run.get("created_at")
    end = last_ts if status == "stale" else (now if status in LIVE else run.get("finished_at") or last_ts)
    return {"id": run["id"], "name": run.get("name"), "status": status, "stored_status": run.get("status"),
            "preset": run.get("preset"), "model": run.get("model"), "source": run.get("source") or "engine",
            "round": run.get("current_round") or 0, "rounds": run.get("rounds") or 0, "phase": run.get("phase"),
            "best_heldout": run.get("best_heldout"), "created_at": run.get("created_at"),
            "started_at": run.get("started_at"), "finished_at": run.get("finished_at"),
            "duration_s": (end - start) if start and end else None, "last_event_at": last_ts,
            "pid": run.get("pid"), "error": run.get("error"), "run_dir": run.get("run_dir")}


def run_summary(store, run: dict, now: float | None = None) -> dict:
    """Everything ``show`` prints, as plain data (``show --json`` prints this)."""
    now = time.time() if now is None else now
    row = run_row(store, run, now)
    config = json.loads(run.get("config_json") or "{}")
    essentials = {}
    for key in CONFIG_ESSENTIALS:
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
                                     "heldout_self_edit": None, "train_reward_mean": None,
                                     "candidates": 0, "scored": 0, "kept": None, "review": None,
                                     "policy_path": None, "policy_exists": None, "mstep": None})

    for m in store.metrics(run["id"]):
        if m["name"] in ("heldout_none", "heldout_passage", "heldout_self_edit", "train_reward_mean"):
            at(m["round"])[m["name"]] = m["value"]
    for r, n, scored, kept, mean_reward, approved, rejected, edited in store.conn.execute(
            "SELECT round, COUNT(*), COUNT(scored_at), CASE WHEN COUNT(kept) THEN SUM(kept) END, AVG(reward), "
            "SUM(review='approved'), SUM(review='rejected'), SUM(review='edited') "
            "FROM candidates WHERE run_id=? GROUP BY round", (run["id"],)):
        entry = at(r)
        entry.update(candidates=n, scored=scored, kept=kept)
        if entry["train_reward_mean"] is None and mean_reward is not None:
            entry["train_reward_mean"] = mean_reward
        if approved or rejected or edited:
            entry["review"] = {"approved": approved or 0, "rejected": rejected or 0, "edited": edited or 0}
    extra: dict = {}
    for r, kind, data_json in store.conn.execute(
            f"SELECT round, kind, data_json FROM events WHERE run_id=? AND kind IN "
            f"({','.join('?' * len(_SUMMARY_KINDS))}) ORDER BY id", (run["id"], *_SUMMARY_KINDS)):
        data = json.loads(data_json)
        if kind == "review_done":
            at(r)["review"] = {k: int(data.get(k) or 0) for k in ("approved", "rejected", "edited")}
        elif kind == "mstep_done":
            path = data.get("policy_path")
            at(r).update(policy_path=path, policy_exists=Path(path).is_dir() if path else None,
                         mstep={k: data.get(k) for k in ("examples", "loss", "skipped", "reason")})
        else:
            for key in ("multi_passage", "forgetting"):
                if data.get(key):
                    extra[key] = {"round": r, **{k: v for k, v in data[key].items() if k != "answers"}}
    return {**row, "host": run.get("host"), "config": essentials,
            "rounds_detail": [rounds[r] for r in sorted(rounds)],
            "policies": [{"round": e["round"], "path": e["policy_path"], "exists": e["policy_exists"]}
                         for r, e in sorted(rounds.items()) if e["policy_path"]],
            "adapters": kept_adapters(store, run), **extra}


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


def render_summary(s: dict) -> str:
    lines = [f"run       {s['id']}  ({s['name']})"]
    status = s["status"].replace("_", " ")
    if s["status"] == "stale":
        status += (f": the engine is gone, last event {date_time(s['last_event_at'])} "
                   f"({duration(time.time() - (s['last_event_at'] or 0))} ago); `seal-tui resume {s['id']}`")
    elif s["status"] in LIVE and s.get("pid"):
        status += f" (engine pid {s['pid']} on {s.get('host') or '?'}, round {s['round']}/{s['rounds']}, {s['phase']})"
    lines.append(f"status    {status}")
    if s.get("error"):
        lines.append(f"error     {s['error']}")
    lines.append(f"source    {s['source']}" + (f": {s['config'].get('reference.file')} "
                                                f"({s['config'].get('reference.kind')})"
                                                if s["source"] == "imported" else ""))
    lines.append(f"preset    {s['preset'] or '–'}    model {s['model'] or '–'}")
    lines.append(f"started   {date_time(s['started_at'] or s['created_at'])}    duration {duration(s['duration_s'])}"
                 + (f"    finished {date_time(s['finished_at'])}" if s.get("finished_at") else ""))
    lines.append(f"folder    {s['run_dir']}")
    cfg = [f"{k}={v}" for k, v in s["config"].items() if not k.startswith("reference.")]
    if cfg:
        lines.append("config    " + _wrap(cfg, 90, "          "))
    lines.append(f"best held-out (self-edits)  {pct(s['best_heldout'])}")
    header = ("round", "none", "passage", "self-edit", "reward", "cands", "kept", "review a/r/e", "M-step")
    table = [header]
    for r in s["rounds_detail"]:
        review = r["review"]
        mstep = r["mstep"]
        if mstep is None:
            mtext = "–"
        elif mstep.get("skipped"):
            mtext = f"skipped: {mstep.get('reason') or ''}"
        else:
            loss = mstep.get("loss")
            mtext = f"{mstep.get('examples')} examples" + (f", loss {loss:.3f}" if loss is not None else "")
        table.append((str(r["round"]), pct(r["heldout_none"]), pct(r["heldout_passage"]),
                      pct(r["heldout_self_edit"]),
                      "–" if r["train_reward_mean"] is None else f"{r['train_reward_mean']:.3f}",
                      str(r["candidates"] or "–"), "–" if r["kept"] is None else str(r["kept"]),
                      f"{review['approved']}/{review['rejected']}/{review['edited']}" if review else "–", mtext))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    if len(table) > 1:
        lines += [""] + ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    if s.get("multi_passage"):
        m = s["multi_passage"]
        lines += ["", f"multi-passage (round {m['round']}, {m.get('n_passages')} passages, {m.get('n_questions')} "
                      f"questions): none {pct(m.get('none'))}, passage {pct(m.get('passage'))}, "
                      f"self-edits {pct(m.get('self_edit'))}"]
    if s.get("forgetting"):
        f = s["forgetting"]
        lines += ["", f"forgetting (round {f['round']}, {f.get('k')} sequential edits, {f.get('sequences')} "
                      "sequences): mean accuracy over the passages seen, after 0..k edits:",
                  "          " + " ".join(f"{v:.3f}" for v in f.get("row_mean") or [])]
    if s["source"] == "imported":
        lines += ["", "no policies or adapters: the reference's result files hold no weights"]
        return "\n".join(lines)
    lines += ["", "policies (HF format, from_pretrained):"]
    lines += [f"  round {p['round']}  {p['path']}" + ("" if p["exists"] else "  (missing)")
              for p in s["policies"]] or ["  none saved"]
    lines += ["kept adapters (PEFT format):"]
    lines += [f"  round {a['round']}  candidate {a['candidate_id']}  context {a['context_idx']}  "
              f"reward {'–' if a['reward'] is None else format(a['reward'], '.3f')}  {a['path']}"
              + ("" if a["peft"] else "  (no adapter_config.json)")
              for a in s["adapters"]] or ["  none saved (set run.save_kept_adapters = true to keep them)"]
    return "\n".join(lines)


def _wrap(items: list[str], width: int, indent: str) -> str:
    out, line = [], ""
    for item in items:
        if line and len(line) + 1 + len(item) > width:
            out.append(line)
            line = item
        else:
            line = f"{line} {item}" if line else item
    out.append(line)
    return ("\n" + indent).join(out)
