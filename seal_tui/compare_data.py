"""What Compare shows, read from the store: each run's curves per round and its config.

Held-out accuracy is the ``heldout_self_edit`` metric (the policy's own self-edits,
as the dashboard's accuracy pane shows it); a run without it (an imported teacher or
passage-only evaluation) shows its own condition's, ``heldout_teacher`` or
``heldout_passage``, at its round, named in the legend. The mean reward is
``train_reward_mean``, or for a round without it the mean of the scored candidates'
rewards. Both engine runs and imported reference results write these, so they line up:
the imported base, iter1 and iter2 evaluations fall on rounds 0, 1 and 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .format import date_time, pct, printable
from .imported import recorded_short, reference
from .run_colors import run_colors

MAX_RUNS = 5
# a run's held-out curve: its policy's self-edits, else the one condition an imported file holds
HELDOUT_METRICS = (("heldout_self_edit", ""), ("heldout_teacher", "teacher"), ("heldout_passage", "passage only"))


@dataclass
class RunCurves:
    run_id: str
    name: str
    color: str
    heldout: list[tuple[int, float]] = field(default_factory=list)    # (round, accuracy)
    reward: list[tuple[int, float]] = field(default_factory=list)     # (round, mean reward)
    facts: dict[str, str] = field(default_factory=dict)               # run row fields, shown first
    config: dict[str, str] = field(default_factory=dict)              # "section.field" -> value
    task: str = "knowledge"                                           # run.task: knowledge or fewshot
    heldout_of: str = ""                                              # the condition when not the self-edits'


IDENTITY = ("run id", "started")   # differ between any two runs: never marked


@dataclass
class ConfigRow:
    field: str
    values: list[str]

    @property
    def differs(self) -> bool:
        return self.field not in IDENTITY and len(set(self.values)) > 1


def load_comparison(store, run_ids: list[str]) -> list[RunCurves]:
    """The runs in ``run_ids`` order (ids not in the store are left out)."""
    colors = run_colors(run_ids)
    out = []
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run is None:
            continue
        curves = RunCurves(run_id=run_id, name=printable(run.get("name") or run_id), color=colors[run_id])
        for metric, of in HELDOUT_METRICS:
            curves.heldout, curves.heldout_of = store.metric_per_round(run_id, metric), of
            if curves.heldout:
                break
        reward = dict(store.metric_per_round(run_id, "train_reward_mean"))
        for rnd, counts in store.round_counts(run_id).items():
            if counts["mean_reward"] is not None:
                reward.setdefault(rnd, float(counts["mean_reward"]))
        curves.reward = sorted(reward.items())
        curves.facts = {
            "run id": run_id, "status": store.display_status(run).replace("_", " "),
            "source": run.get("source") or "engine",
            "best held-out": pct(run.get("best_heldout")),
            "started": date_time(run.get("started_at") or run.get("created_at")),
        }
        try:
            config = json.loads(run.get("config_json") or "{}")
        except ValueError:
            config = {}
        ref = reference(config)
        if ref:   # an imported file: what its numbers are of, and its own time (not the import's)
            curves.facts["condition"] = printable(ref.get("condition") or "–")
            curves.facts["started"] = recorded_short(config)
        curves.config = flatten(config)
        curves.task = (config.get("run") or {}).get("task") or "knowledge"
        out.append(curves)
    return out


def plot_titles(runs: list[RunCurves]) -> tuple[str, str]:
    """The two plots' titles in the words of the runs' experiment (few-shot: success rates of plans)."""
    tasks = {r.task for r in runs}
    if tasks == {"fewshot"}:
        return "Held-out success (self-edit TTT)", "Success rate of the sampled plans"
    if "fewshot" in tasks:
        return ("Held-out: accuracy (knowledge) · success (few-shot)",
                "Mean reward: self-edits (knowledge) · plans (few-shot)")
    return "Held-out accuracy (self-edits)", "Mean reward of the scored self-edits"


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """{"inner": {"lr": 0.001}} -> {"inner.lr": "0.001"}, values as the table shows them."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = shown(value)
    return out


def shown(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(v) for v in value) or "[]"
    return printable(value)


def config_rows(runs: list[RunCurves]) -> list[ConfigRow]:
    """The run facts, then every config field any run has (in the first run's order)."""
    rows = [ConfigRow(key, [r.facts.get(key, "–") for r in runs])
            for key in dict.fromkeys(k for r in runs for k in r.facts)]
    fields = dict.fromkeys(k for r in runs for k in r.config)
    rows += [ConfigRow(key, [r.config.get(key, "–") for r in runs]) for key in fields]
    return rows
