"""What a run's events become in an experiment tracker: scalars on an axis, and tables.

One mapping, read event by event, for the live mirror (the engine, as it records) and for
``seal-tui export RUN --to ...`` (a stored run's log, imported reference runs included): both
write the same figures. Torch-free and tracker-free: no tracker library is imported here.

Axes: per-round figures (rewards, kept count, held-out accuracy, judge counters) step by the
ReSTEM round; the M-step loss by its step counted over the whole run (round 2's first step
follows round 1's last); telemetry by whole seconds since the run was created.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from engine import events as ev
from engine.config import looks_like_a_key

ROUND, MSTEP_STEP, ELAPSED_S = "round", "mstep/step", "system/elapsed_s"   # the axes, as W&B names them
KEPT_TABLE = "self_edits/kept"
KEPT_COLUMNS = ["round", "candidate", "context", "reward", "gain", "self_edit"]
# the held-out conditions (heldout_<name> metrics) as each task calls them
CONDITIONS = {"knowledge": {"none": "none", "passage": "passage", "self_edit": "self_edit", "teacher": "teacher"},
              "fewshot": {"none": "in_context", "passage": "oracle", "self_edit": "self_edit"}}
_GROUPS = (("heldout_", "heldout/"), ("multi_", "heldout_multi/"), ("forgetting_", "forgetting/"),
           ("judge_", "judge/"), ("teacher_", "teacher/"), ("train_", "train/"))
_TRAIN = {"baseline_mean": "train/baseline_mean", "kept_count": "train/kept_count"}


@dataclass(frozen=True)
class Scalar:
    tag: str
    step: int
    value: float
    wall_time: float
    axis: str = ROUND


@dataclass
class Table:
    tag: str
    step: int
    columns: list[str]
    rows: list[list]
    wall_time: float

    def markdown(self) -> str:
        """The table as Markdown (TensorBoard's text plugin renders it)."""
        def cell(v) -> str:
            text = f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
            return "<br>".join(text.replace("|", "\\|").splitlines())   # one table row, whatever breaks the text has
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)


def metric_tag(name: str, task: str = ev.DEFAULT_TASK) -> str:
    """A store metric's name as a tracker's tag: ``heldout_self_edit`` -> ``heldout/self_edit``."""
    if name in _TRAIN:
        return _TRAIN[name]
    if name.startswith("heldout_"):
        cond = name[len("heldout_"):]
        return "heldout/" + CONDITIONS.get(task, CONDITIONS["knowledge"]).get(cond, cond)
    for prefix, group in _GROUPS:
        if name.startswith(prefix):
            return group + name[len(prefix):]
    return "metrics/" + name


@dataclass
class _Candidate:
    round: int
    context: str = ""
    self_edit: str = ""
    reward: float | None = None
    gain: float | None = None


@dataclass
class Figures:
    """Reads a run's events in order; ``feed`` gives what each one adds to a tracker."""

    task: str = ev.DEFAULT_TASK
    created: float | None = None
    _mstep_totals: dict[int, int] = field(default_factory=dict)
    _candidates: dict[int, _Candidate] = field(default_factory=dict)
    _kept: dict[int, list[int]] = field(default_factory=dict)   # round -> kept candidate ids, until written
    _rescore: bool = False

    def feed(self, e: ev.Event) -> list[Scalar | Table]:
        p, rnd, ts = e.payload, int(e.round or 0), e.ts
        if self.created is None:
            self.created = ts
        rescore, self._rescore = self._rescore, isinstance(p, ev.PolicyEval)
        out: list[Scalar | Table] = []
        if isinstance(p, (ev.Phase, ev.RoundStarted, ev.RoundFinished, ev.RunFinished, ev.RunStopped,
                          ev.RunFailed, ev.RunPaused, ev.ReviewWaiting, ev.MStepExamples, ev.EvalResult)):
            out += self.flush(ts)   # the filter's verdicts of the round are all in
        if isinstance(p, ev.RunCreated):
            self.task = p.task
        elif isinstance(p, ev.Metric) and p.value is not None:
            if rescore and p.name.startswith("heldout_"):
                self._rescore = True  # the re-score's own figures (the policy_eval) stand for them
            else:
                out.append(Scalar(metric_tag(p.name, self.task), rnd if p.step is None else p.step, p.value, ts))
        elif isinstance(p, ev.PolicyEval):
            names = CONDITIONS.get(self.task, CONDITIONS["knowledge"])
            out += [Scalar(f"rescore/{names.get(k, k)}", p.round, float(getattr(p, k)), ts)
                    for k in ("none", "passage", "self_edit", "teacher") if getattr(p, k) is not None]
        elif isinstance(p, ev.MStepProgress) and p.loss is not None:
            self._mstep_totals[rnd] = p.total
            before = sum(t for r, t in self._mstep_totals.items() if r < rnd)
            out.append(Scalar("mstep/loss", before + p.step, p.loss, ts, MSTEP_STEP))
        elif isinstance(p, ev.Telemetry):
            out += self._telemetry(p, ts)
        elif isinstance(p, ev.CandidateSampled) and p.id is not None:
            self._candidates[p.id] = _Candidate(rnd, p.title, p.summary or p.self_edit)
        elif isinstance(p, ev.CandidateScored) and p.id in self._candidates:
            c = self._candidates[p.id]
            c.reward, c.gain = p.reward, p.gain
        elif isinstance(p, ev.CandidateFiltered) and p.kept:
            self._kept.setdefault(rnd, []).append(p.id)
        return out

    def _telemetry(self, p: ev.Telemetry, ts: float) -> list[Scalar]:
        step = round(ts - (self.created or ts))
        out = [Scalar("system/cpu_pct", step, p.cpu_pct, ts, ELAPSED_S),
               Scalar("system/rss_mb", step, p.rss_mb, ts, ELAPSED_S)]
        for gpu in p.gpus:
            i = gpu.get("index", 0)
            out += [Scalar(f"system/gpu{i}_{k}", step, float(gpu[k]), ts, ELAPSED_S)
                    for k in ("util", "mem_used_mb") if gpu.get(k) is not None]
        return out

    def flush(self, wall_time: float | None = None) -> list[Table]:
        """The kept self-edits of each round whose table is not written yet (at the run's end too)."""
        tables = []
        for rnd, ids in sorted(self._kept.items()):
            rows = []
            for cid in ids:
                c = self._candidates.get(cid, _Candidate(rnd))
                rows.append([rnd, cid, c.context, c.reward, c.gain, c.self_edit])
            tables.append(Table(KEPT_TABLE, rnd, list(KEPT_COLUMNS), rows, wall_time or self.created or 0.0))
        self._kept.clear()
        return tables


# ---------------------------------------------------------------- the config as hyperparameters
_SECRET_VARIABLE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
REDACTED = "(redacted)"


def _secrets() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_VARIABLE.search(k) and len(v) >= 8]


def redact(text: str) -> str:
    """``text`` with the value of every secret environment variable (an API key, a token) taken out:
    a tracker's error may quote what it was given."""
    for secret in _secrets():
        text = text.replace(secret, REDACTED)
    return text


def public_config(config: dict) -> dict:
    """A run's resolved config for a tracker: a value that looks like a key, or holds the value of a
    secret environment variable (an API key, a token), is replaced; the config names variables, never
    their values, but a tracker's page is shared, so it is checked once more here."""
    secrets = _secrets()

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str) and (looks_like_a_key(value) or any(s in value for s in secrets)):
            return REDACTED
        return value
    return clean(config)


def flat_config(config: dict) -> dict[str, bool | int | float | str]:
    """``{"inner": {"lr": 1e-3}}`` -> ``{"inner.lr": 1e-3}``; lists as JSON text (hyperparameter
    tables take plain values)."""
    out: dict[str, bool | int | float | str] = {}
    for section, values in config.items():
        if not isinstance(values, dict):
            out[section] = values if isinstance(values, (bool, int, float, str)) else json.dumps(values)
            continue
        for key, value in values.items():
            out[f"{section}.{key}"] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    return out
