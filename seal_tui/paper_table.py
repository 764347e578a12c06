"""The paper's single-passage table, read off the imported reference evaluations: no adaptation,
passage only, the base model's self-edits, the policy after each ReSTEM round, a teacher's
self-edits. ``seal-tui import`` of the reference's results/ folder prints it; each figure is the
one the run holds (the file's mean of per-passage accuracies) with the file it came from."""

from __future__ import annotations

import json
from pathlib import Path

from .format import pct
from .imported import reference

# the reference's file for each row, named where it was not imported
EXPECTED_FILES = {"none": "base.json", "passage": "naive.json", "base": "base.json", "teacher": "gpt4_1.json"}


def paper_table(store) -> list[str]:
    """The table's lines ([] when the store holds no imported single-passage evaluation)."""
    rows: dict[tuple, tuple[float, str]] = {}   # (order, round, label) -> (accuracy, file)
    none_from: tuple[float, str, bool] | None = None
    for run in store.list_runs():
        if run.get("source") != "imported":
            continue
        config = json.loads(run.get("config_json") or "{}")
        ref = reference(config)
        if ref.get("kind") != "evaluation" or (config.get("sample") or {}).get("prompt_style"):
            continue   # other kinds, and the alternate prompts' evaluations, are not the table's
        key, file, rnd = ref.get("condition_key"), Path(str(ref.get("file") or "?")).name, run.get("rounds") or 0
        metric = {"passage_only": "heldout_passage", "teacher_self_edits": "heldout_teacher"}.get(key, "heldout_self_edit")
        value = next((v for _, v in store.metric_per_round(run["id"], metric)), None)
        baseline = next((v for _, v in store.metric_per_round(run["id"], "heldout_none")), None)
        if baseline is not None and (none_from is None or (key == "base_self_edits" and not none_from[2])):
            none_from = (baseline, file, key == "base_self_edits")
        if value is None:
            continue
        if key == "passage_only":
            rows[(1, 0, "passage only")] = (value, file)
        elif key == "base_self_edits":
            rows[(2, 0, "base-model self-edits")] = (value, file)
        elif key == "policy_self_edits":
            rows[(3, rnd, f"round {rnd}" + (" (SEAL)" if rnd == 2 else ""))] = (value, file)
        elif key == "teacher_self_edits":
            rows[(4, 0, f"{ref.get('teacher') or 'teacher'} self-edits (teacher)")] = (value, file)
    if not rows and none_from is None:
        return []
    if none_from is not None:
        rows[(0, 0, "no adaptation")] = (none_from[0], f"{none_from[1]} (its unadapted model)")
    width = max(len(label) for _, _, label in rows)
    lines = ["the paper's table (single passage, held-out accuracy, from the imported files):"]
    lines += [f"  {label:<{width}}  {pct(value):>6}  {file}" for (_, _, label), (value, file) in sorted(rows.items())]
    have = {order for order, _, _ in rows}
    missing = [EXPECTED_FILES[k] for order, k in ((1, "passage"), (2, "base"), (4, "teacher")) if order not in have]
    if 3 not in have:
        missing.append("iterN.json")
    if missing:
        lines.append(f"  not imported: {', '.join(missing)} (the reference's results/query_server/eval/)")
    lines.append("  Compare (space to select, c) lays them on their rounds; seal-tui ls lists them")
    return lines
