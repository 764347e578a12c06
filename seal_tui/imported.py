"""How the console speaks of a run imported from the SEAL reference's result files: read-only,
its numbers of one condition and round, its own time where the file has one.

An imported run (``source = "imported"``) carries what its file says in
``config.reference`` (seal_tui.reference_plan: kind, condition, policy, recorded_at /
recorded, headline). The panes of a live run say "yet" and "waiting"; an imported one
will never have more, so each pane that has nothing from the file says so in one line.
"""

from __future__ import annotations

from typing import Any

from .format import date_time

# what each kind of file is, as a sentence's object ("this file is ...")
KIND_WORDS = {
    "evaluation": "a single-passage held-out evaluation",
    "ranking": "a ranking round (E-step: self-edits and their rewards)",
    "multi_passage": "a multi-passage result",
    "forgetting": "a forgetting matrix",
    "mstep_set": "an M-step training set",
    "fewshot_results": "few-shot results",
}


# the same in a header's few words
KIND_SHORT = {"evaluation": "held-out evaluation", "ranking": "ranking (E-step)", "multi_passage": "multi-passage",
              "forgetting": "forgetting", "mstep_set": "M-step set", "fewshot_results": "few-shot results"}


def reference(config: dict[str, Any] | None) -> dict[str, Any]:
    """The run config's [reference] section ({} for an engine run)."""
    ref = (config or {}).get("reference")
    return ref if isinstance(ref, dict) else {}


def is_imported(state) -> bool:
    return getattr(state, "source", "engine") == "imported"


def kind_words(config: dict | None) -> str:
    kind = reference(config).get("kind")
    return KIND_WORDS.get(kind, "an imported result file")


def not_in_file(config: dict | None) -> str:
    """Why a pane of an imported run is empty: its file does not hold that."""
    return f"not in this file: it is {kind_words(config)}"


def recorded(config: dict | None) -> str:
    """When the reference wrote the file, as far as it says: a date, the file's own words, or unknown."""
    ref = reference(config)
    if isinstance(ref.get("recorded_at"), (int, float)):
        return date_time(ref["recorded_at"])
    return ref.get("recorded") or "unknown (the file records no time)"


def recorded_short(config: dict | None) -> str:
    """The same in a table cell of 16: "2025-06-02 22:17", "????-05-13 01:32" (no year) or "unknown"."""
    return when_written(reference(config).get("recorded_at"), reference(config).get("recorded"))


def when_written(recorded_at: float | None, recorded_text: str | None) -> str:
    """``recorded_short`` from the two fields (a ``seal-tui ls --json`` row has them as
    started_at and recorded)."""
    if isinstance(recorded_at, (int, float)):
        return date_time(recorded_at)
    text = recorded_text or ""
    if len(text) >= 11 and text[2] == "-" and text[5] == " ":   # "MM-DD HH:MM:SS (...: no year)"
        return f"????-{text[:11]}"
    return "unknown"


def headline_text(value: float | None, unit: str | None) -> str:
    """A headline figure as a cell: 47.0%, 0.433 (a mean reward) or 50 (a count)."""
    if value is None:
        return "–"
    if unit == "reward":
        return f"{value:.3f}"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value * 100:.1f}%"


def no_self_edits(config: dict | None) -> str:
    """Why an imported run has no candidates (self-edits with rewards)."""
    ref = reference(config)
    if ref.get("condition_key") == "passage_only":
        return "no self-edits in this file: the passage-only condition (each passage trained on itself)"
    if ref.get("kind") in ("multi_passage", "forgetting"):
        return f"no self-edits in this file: it is {kind_words(config)}, which keeps only the accuracies"
    return f"no scored self-edits in this file: it is {kind_words(config)}"


def what_it_is(config: dict | None) -> str:
    """"multi-passage: base-model self-edits": the file's kind and condition, for a header."""
    ref = reference(config)
    kind = KIND_SHORT.get(ref.get("kind"), "imported")
    return f"{kind}: {ref['condition']}" if ref.get("condition") else kind
