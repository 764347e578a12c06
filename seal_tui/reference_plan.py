"""What every imported reference file becomes: an ``ImportPlan`` (checked, ready to write),
and the checks that name the exact field of a file that is wrong.

Shared by the knowledge-incorporation files (seal_tui.reference_files) and the few-shot
ones (seal_tui.reference_fewshot); nothing here reads a file or writes the store.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.events import KNOWLEDGE_LABELS

PRESET = "seal-reference"


class ImportRejected(ValueError):
    """The file is not a result file we can import; the message names it and what was expected."""


@dataclass
class ImportPlan:
    """Everything one file becomes, checked and ready to write."""

    path: Path
    kind: str
    sha256: str
    round: int
    config: dict
    summary: str
    contexts: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)
    candidates: list[dict] = field(default_factory=list)   # + optional score / verdict / trained
    metrics: list[tuple[str, str, float]] = field(default_factory=list)  # (phase written after, name, value)
    eval_result: dict | None = None
    best_heldout: float | None = None
    mstep: dict | None = None
    task: str = "knowledge"            # the SEAL experiment the file comes from (RunCreated.task)
    labels: dict | None = None          # how the console names its parts (None: the knowledge task's)
    notes: list[str] = field(default_factory=list)   # what the file lacks or lost, said at import and in the log

    @property
    def run_id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.path.stem.lower()).strip("-") or "file"
        return f"ref-{slug}-{self.sha256[:8]}"

    @property
    def name(self) -> str:
        return run_name(self.path)

    @property
    def model(self) -> str:
        return f"seal-ref/{self.config['reference']['policy']}"



# ---------------------------------------------------------------- checks
class Checker:
    """Reads fields and says exactly which one is wrong."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, expected: str, value: Any = ...) -> None:
        got = "" if value is ... else f", got {short(value)}"
        raise ImportRejected(f"{self.path}: {where}: expected {expected}{got}")

    def get(self, obj: dict, key: str, where: str, kind: str, *, optional: bool = False) -> Any:
        label = f"{where}.{key}" if where and not where.startswith("line ") else \
            f"{where}: field {key!r}" if where else key
        if key not in obj:
            if optional:
                return None
            raise ImportRejected(f"{self.path}: {label} is missing (expected {KIND_TEXT[kind]})")
        value = obj[key]
        if optional and value is None:
            return None
        if not is_kind(value, kind):
            self.fail(label, KIND_TEXT[kind], value)
        return float(value) if kind == "number" else value


KIND_TEXT = {"number": "a number", "str": "a string", "list": "a list", "dict": "an object",
              "bool": "true or false", "int": "a whole number"}


def is_kind(value: Any, kind: str) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool) or value in (0, 1)
    return isinstance(value, {"str": str, "list": list, "dict": dict}[kind])


def short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def iteration(*labels: Any) -> int | None:
    """N of the first "iterN" among the labels (the policy after N ReSTEM rounds)."""
    for label in labels:
        m = re.search(r"iter(\d+)", str(label or ""))
        if m:
            return int(m.group(1))
    return None



def run_name(path: Path) -> str:
    """"seal-ref <stem>"; a stem that names no experiment (the forgetting runs' summary_<time>) with its folder."""
    generic = re.fullmatch(r"(summary_\d+|overall_results|final_results|results)", path.stem)
    return f"seal-ref {path.parent.name}/{path.stem}" if generic and path.parent.name else f"seal-ref {path.stem}"


def run_config(path: Path, sha: str, kind: str, rounds: int, policy: str, data: dict, *,
               inner: dict | None = None, extra: dict | None = None) -> dict:
    """A config shaped like an engine run's (so Compare lines them up) plus a [reference] section."""
    reference = {"kind": kind, "file": str(path.resolve()), "sha256": sha, "policy": policy,
                 "imported_at": time.time(), **file_time(path, data)}
    for key in ("timestamp", "exp_name", "model", "base_model", "dataset", "eval_times"):
        if isinstance(data.get(key), (str, int, float)):
            reference[key] = data[key]
    return {"run": {"name": run_name(path), "preset": PRESET, "rounds": rounds},
            "model": {"name_or_path": f"seal-ref/{policy}"},
            **({"inner": inner} if inner else {}), **(extra or {}), "reference": reference}


def content_sha256(data: Any) -> str:
    """The hash of what a file says, not of how it is written: the same data re-serialised (other
    indentation, key order) is the same import."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- the file's own time
def file_time(path: Path, data: dict) -> dict:
    """When the reference wrote the file, as far as the file says: ``recorded_at`` (UNIX seconds,
    None where the year or anything else is missing) and ``recorded`` (how to show it; None:
    the file records no time). The reference writes ``timestamp`` as MMDD_HHMMSS (no year);
    its forgetting runs name their file summary_<UNIX seconds>."""
    stamp = data.get("timestamp") if isinstance(data, dict) else None
    if isinstance(stamp, str):
        m = re.fullmatch(r"(\d\d)(\d\d)_(\d\d)(\d\d)(\d\d)", stamp.strip())
        if m and 1 <= int(m[1]) <= 12 and 1 <= int(m[2]) <= 31:
            return {"recorded_at": None,
                    "recorded": f"{m[1]}-{m[2]} {m[3]}:{m[4]}:{m[5]} (the file's timestamp {stamp}: no year)"}
        try:
            when = datetime.fromisoformat(stamp.strip())
        except ValueError:
            return {"recorded_at": None, "recorded": f"{stamp} (the file's timestamp, as written)"}
        return {"recorded_at": when.timestamp(), "recorded": None}
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and stamp > 1e8:
        return {"recorded_at": float(stamp), "recorded": None}
    m = re.fullmatch(r"summary_(\d{9,11})", path.stem)
    if m:
        return {"recorded_at": float(m[1]), "recorded": None}
    return {"recorded_at": None, "recorded": None}


# ---------------------------------------------------------------- what a file's numbers are of
TEACHERS = ((re.compile(r"gpt-?4[._-]?1", re.IGNORECASE), "GPT-4.1"),
            (re.compile(r"gpt-?4o", re.IGNORECASE), "GPT-4o"),
            (re.compile(r"gpt-?4(?![._-]?[0-9o])", re.IGNORECASE), "GPT-4"))
PROMPT_STYLE = re.compile(r"prompt[-_](very[-_]long|long|rewrite|self[-_]qa|implications)", re.IGNORECASE)


@dataclass
class Reading:
    """What produced a file's numbers, read from its names (dataset, file, exp_name, model)."""

    round: int                 # the run's round: the policy's (0 = the base model); a ranking's E-step round
    policy: str                # who wrote the self-edits: base, iterN, a teacher model, unknown
    key: str                   # passage_only | base_self_edits | policy_self_edits | teacher_self_edits | unknown
    condition: str             # the same in words, as the console shows it
    teacher: str | None = None
    prompt_style: str | None = None
    round_from: str = ""


def read_condition(*labels: Any, passage_only: bool = False, ranking: bool = False) -> Reading:
    """The condition, policy and round a file's names say. The reference names its files and
    datasets by the self-edits' writer: base / iter0 (the untrained model), iterN (the policy after
    N ReSTEM rounds), gpt4_1 (GPT-4.1 as a teacher), naive (the passage alone, no self-edit).
    A ranking file (an E-step) of the iterN policy is round N+1."""
    names = [str(x) for x in labels if isinstance(x, (str, int, float)) and str(x)]
    style = next((m[1].lower().replace("_", "-") for n in names if (m := PROMPT_STYLE.search(n))), None)
    with_style = f" (prompt: {style})" if style else ""
    step = 1 if ranking else 0
    if passage_only or any(re.search(r"naive", n, re.IGNORECASE) for n in names):
        return Reading(step, "base", "passage_only", "passage only (no self-edit)", prompt_style=style,
                       round_from="the passage-only condition: the base model")
    for n in names:
        for pattern, teacher in TEACHERS:
            if pattern.search(n):
                return Reading(step, teacher.lower(), "teacher_self_edits",
                               f"{teacher}-written self-edits (teacher){with_style}", teacher=teacher,
                               prompt_style=style, round_from=f"{n!r}: a teacher's self-edits for the base model")
    for n in names:
        m = re.search(r"iter[_-]?(\d+)", n, re.IGNORECASE)
        if m and int(m[1]) > 0:
            r = int(m[1])
            return Reading(r + step, f"iter{r}", "policy_self_edits",
                           f"self-edits of the policy after round {r}{with_style}", prompt_style=style,
                           round_from=f"{n!r}")
        if m or re.search(r"(^|[^a-z])base([^a-z]|$)", n, re.IGNORECASE):
            return Reading(step, "base", "base_self_edits", f"base-model self-edits{with_style}",
                           prompt_style=style, round_from=f"{n!r}: the base model")
    return Reading(1, "unknown", "unknown", f"self-edits of a policy the file does not name{with_style}",
                   prompt_style=style, round_from="not named in the file (filed as round 1)")



def describe(plan: ImportPlan, reading: Reading) -> None:
    """What produced the file's numbers, in its run's config (the console and ``ls`` read it there)."""
    ref = plan.config["reference"]
    ref.update(condition=reading.condition, condition_key=reading.key, round_from=reading.round_from)
    if reading.teacher:
        ref["teacher"] = reading.teacher
        plan.labels = {**KNOWLEDGE_LABELS, "teacher": f"{reading.teacher} self-edits"}


def headline(plan: ImportPlan, name: str, value: float, unit: str) -> None:
    """The one figure the runs list shows for the run (``unit``: accuracy, reward or count)."""
    plan.config["reference"]["headline"] = {"name": name, "value": value, "unit": unit}
