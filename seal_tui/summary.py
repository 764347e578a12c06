"""``seal-tui show``'s text: a run's summary (``engine.store.run_summary``: config
essentials, status, numbers per round, each round's policy, kept adapters) as lines."""

from __future__ import annotations

import time

from engine.store import LIVE_STATUSES

from .format import date_time, duration, pct
from .imported import headline_text


def render_summary(s: dict) -> str:
    lines = [f"run       {s['id']}  ({s['name']})"]
    status = s["status"].replace("_", " ")
    if s["status"] == "stale":
        status += (f": the engine is gone, last event {date_time(s['last_event_at'])} "
                   f"({duration(time.time() - (s['last_event_at'] or 0))} ago); `seal-tui resume {s['id']}`")
    elif s["status"] in LIVE_STATUSES and s.get("pid"):
        status += f" (engine pid {s['pid']} on {s.get('host') or '?'}, round {s['round']}/{s['rounds']}, {s['phase']})"
    lines.append(f"status    {status}")
    if s.get("error"):
        lines.append(f"error     {s['error']}")
    imported = s["source"] == "imported"
    lines.append(f"source    {s['source']}" + (f": {s['config'].get('reference.file')} "
                                                f"({s['config'].get('reference.kind')})" if imported else ""))
    if imported:
        lines.append(f"condition {s['config'].get('reference.condition') or '–'} (round {s['rounds']}: "
                     f"{s['config'].get('reference.round_from') or 'not named'})")
    lines.append(f"preset    {s['preset'] or '–'}    model {s['model'] or '–'}")
    if imported:   # the file's own time, as far as it says; an import is no run we timed
        written = date_time(s["started_at"]) if s.get("started_at") else (s.get("recorded") or "unknown (not in the file)")
        lines.append(f"written   {written}    imported {date_time(s.get('imported_at'))}    duration – (not in the file)")
    else:
        lines.append(f"started   {date_time(s['started_at'] or s['created_at'])}    duration {duration(s['duration_s'])}"
                     + (f"    finished {date_time(s['finished_at'])}" if s.get("finished_at") else ""))
    for note in s["config"].get("reference.notes") or []:
        lines.append(f"note      {note}")
    lines.append(f"folder    {s['run_dir']}")
    cfg = [f"{k}={v}" for k, v in s["config"].items() if not k.startswith("reference.")]
    if cfg:
        lines.append("config    " + _wrap(cfg, 90, "          "))
    # a knowledge run keeps its short words; another task says its own (the run's labels)
    words = s.get("labels") if s.get("task", "knowledge") != "knowledge" and s.get("labels") else {}
    figure = s.get("figure")
    if imported and figure and s["best_heldout"] is None:
        lines.append(f"result    {figure['name']}: {headline_text(figure.get('value'), figure.get('unit'))}")
    else:
        lines.append(f"best held-out ({words.get('self_edit', 'self-edits')})  {pct(s['best_heldout'])}")
    teacher = any(r.get("heldout_teacher") is not None for r in s["rounds_detail"])
    header = ("round", words.get("none", "none"), words.get("passage_short", "passage"),
              words.get("self_edit", "self-edit"), *(("teacher",) if teacher else ()),
              "success" if s.get("task") == "fewshot" else "reward", "cands", "kept", "review a/r/e", "M-step")
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
                      pct(r["heldout_self_edit"]), *((pct(r.get("heldout_teacher")),) if teacher else ()),
                      "–" if r["train_reward_mean"] is None else (pct(r["train_reward_mean"]) if s.get("task") == "fewshot"
                                                                  else f"{r['train_reward_mean']:.3f}"),
                      str(r["candidates"] or "–"), "–" if r["kept"] is None else str(r["kept"]),
                      f"{review['approved']}/{review['rejected']}/{review['edited']}" if review else "–", mtext))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    if len(table) > 1:
        lines += [""] + ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    if s.get("policy_evals"):
        lines += ["", "re-scored on this run's held-out set (seal-engine eval):"]
        for r in s["policy_evals"]:
            lines.append(f"  {r['label']}: none {pct(r['none'])}, passage {pct(r['passage'])}, "
                         + (f"teacher {pct(r['teacher'])}, " if r.get("teacher") is not None else "")
                         + f"self-edits {pct(r['self_edit'])} ({r['n_questions']} {words.get('question', 'question')}s)"
                         + (f"  --set {' '.join(r['overrides'])}" if r.get("overrides") else ""))
    if s.get("multi_passage"):
        m = s["multi_passage"]
        lines += ["", (f"multi-passage (round {m['round']}, {m.get('n_passages')} passages, {m.get('n_questions')} "
                       f"questions): none {pct(m.get('none'))}, passage {pct(m.get('passage'))}, "
                       f"self-edits {pct(m.get('self_edit'))}"
                       + (f", teacher {pct(m['teacher'])}" if m.get("teacher") is not None else ""))]
    if s.get("forgetting"):
        f = s["forgetting"]
        lines += ["", (f"forgetting (round {f['round']}, {f.get('k')} sequential edits, {f.get('sequences')} "
                       "sequences" + (f"; std: {f['std_note']}" if f.get("std_note") else "")
                       + "): mean accuracy over the passages seen, after 0..k edits:"),
                  "          " + " ".join(f"{v:.3f}" for v in f.get("row_mean") or [])]
    if s["source"] == "imported":
        lines += ["", "no policies or adapters: the reference's result files hold no weights"]
        return "\n".join(lines)
    lines += ["", *_phase_times(s.get("phase_times"), s["status"] in LIVE_STATUSES)]
    lines += ["", "policies (HF format, from_pretrained):"]
    lines += [f"  round {p['round']}  {p['path']}" + ("" if p["exists"] else "  (missing)")
              for p in s["policies"]] or ["  none saved"]
    lines += ["kept adapters (PEFT format):"]
    lines += [f"  round {a['round']}  candidate {a['candidate_id']}  context {a['context_idx']}  "
              f"reward {'–' if a['reward'] is None else format(a['reward'], '.3f')}  {a['path']}"
              + ("" if a["peft"] else "  (no adapter_config.json)")
              for a in s["adapters"]] or ["  none saved (set run.save_kept_adapters = true to keep them)"]
    return "\n".join(lines)


def _phase_times(breakdown: dict | None, live: bool) -> list[str]:
    """Where the run's wall time went, phase by phase (``engine.store.summary.phase_breakdown``)."""
    if not breakdown:
        return ["wall time by phase: " + ("recorded when the engine ends" if live else
                                          "not recorded (an engine before events version 4, or one killed)")]
    procs = breakdown["processes"]
    lines = [f"wall time by phase ({duration(breakdown['wall_s'])}"
             + (f" over {procs} engine processes" if procs > 1 else "") + "):"]
    width = max(len(r["name"]) for r in breakdown["rows"])
    lines += [f"  {r['name']:<{width}}  {r['seconds']:8.1f} s  {100 * r['share']:5.1f}%" for r in breakdown["rows"]]
    return lines


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
