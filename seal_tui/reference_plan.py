"""What every imported reference file becomes: an ``ImportPlan`` (checked, ready to write),
and the checks that name the exact field of a file that is wrong.

Shared by the knowledge-incorporation files (seal_tui.reference_files) and the few-shot
ones (seal_tui.reference_fewshot); nothing here reads a file or writes the store.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    @property
    def run_id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.path.stem.lower()).strip("-") or "file"
        return f"ref-{slug}-{self.sha256[:8]}"

    @property
    def name(self) -> str:
        return f"seal-ref {self.path.stem}"

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



def run_config(path: Path, sha: str, kind: str, rounds: int, policy: str, data: dict, *,
               inner: dict | None = None, extra: dict | None = None) -> dict:
    """A config shaped like an engine run's (so Compare lines them up) plus a [reference] section."""
    reference = {"kind": kind, "file": str(path.resolve()), "sha256": sha, "policy": policy,
                 "imported_at": time.time()}
    for key in ("timestamp", "exp_name", "model", "base_model", "dataset", "eval_times"):
        if isinstance(data.get(key), (str, int, float)):
            reference[key] = data[key]
    return {"run": {"name": f"seal-ref {path.stem}", "preset": PRESET, "rounds": rounds},
            "model": {"name_or_path": f"seal-ref/{policy}"},
            **({"inner": inner} if inner else {}), **(extra or {}), "reference": reference}
