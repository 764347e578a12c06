"""The few-shot self-edit: a JSON plan of data generation and training, parsed and checked.

The policy writes (the reference's schema, few-shot/utils/prompts.py)::

    {"data_generation": {"use_basic_augmentations": bool, "use_size_augmentations": bool,
                         "use_chain_augmentations": bool, "use_repeat_augmentations": bool},
     "training": {"strategy": "train_using_all_tokens" | "train_using_output_tokens",
                  "learning_rate": float, "num_train_epochs": int}}

Words around the object are tolerated (a small model adds them); the schema is not: an
unknown or missing key, a wrong type or an out-of-range value is a reason (``PlanError``),
which the E-step records when it gives up resampling.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from engine.config import PLAN_MAX_LR, PLAN_MIN_LR, PLAN_STRATEGIES

SWITCHES = ("use_basic_augmentations", "use_size_augmentations", "use_chain_augmentations",
            "use_repeat_augmentations")
STRATEGIES = PLAN_STRATEGIES   # defined with the config, whose oracle plan fields the console's form validates
TRAINING_KEYS = ("strategy", "learning_rate", "num_train_epochs")
# beyond these a LoRA either learns nothing in a few hundred steps or diverges at once
MIN_LR, MAX_LR = PLAN_MIN_LR, PLAN_MAX_LR


def json_schema() -> dict:
    """The plan's JSON Schema (draft 2020-12): what ``parse_plan`` accepts of the object itself
    (the console checks a person's edit in review against it before sending it)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "few-shot self-edit (SEAL ARC plan)",
        "type": "object",
        "additionalProperties": False,
        "required": ["data_generation", "training"],
        "properties": {
            "data_generation": {"type": "object", "additionalProperties": False, "required": list(SWITCHES),
                                "properties": {s: {"type": "boolean"} for s in SWITCHES}},
            "training": {"type": "object", "additionalProperties": False, "required": list(TRAINING_KEYS),
                         "properties": {
                             "strategy": {"enum": list(STRATEGIES)},
                             "learning_rate": {"type": "number", "minimum": MIN_LR, "maximum": MAX_LR},
                             "num_train_epochs": {"type": "integer", "minimum": 1}}},
        },
    }


class PlanError(ValueError):
    """A self-edit that is not a usable plan; the message is the reason, in a few words."""


@dataclass(frozen=True)
class Plan:
    """A parsed self-edit: which augmentation families to generate data with, and how to train."""

    use_basic_augmentations: bool
    use_size_augmentations: bool
    use_chain_augmentations: bool
    use_repeat_augmentations: bool
    strategy: str
    learning_rate: float
    num_train_epochs: int

    @property
    def families(self) -> tuple[str, ...]:
        """The switched-on families, as ``views.augmentation_families`` names them."""
        return tuple(s.removeprefix("use_").removesuffix("_augmentations")
                     for s in SWITCHES if getattr(self, s))

    @property
    def output_tokens_only(self) -> bool:
        return self.strategy == "train_using_output_tokens"

    def as_json(self) -> dict:
        return {"data_generation": {s: getattr(self, s) for s in SWITCHES},
                "training": {k: getattr(self, k) for k in TRAINING_KEYS}}

    def to_text(self) -> str:
        """The plan as the policy should write it (the M-step's target for an edited config)."""
        return json.dumps(self.as_json(), indent=2)

    def label(self) -> str:
        """Compact, for the candidates table: ``basic+size · out · lr 1e-4 · 3 ep``."""
        families = "+".join(self.families) or "no aug"
        tokens = "out" if self.output_tokens_only else "all"
        return f"{families} · {tokens} · lr {short_float(self.learning_rate)} · {self.num_train_epochs} ep"


def short_float(x: float) -> str:
    """1e-4, 2.5e-4, 0.01 -> 1e-2: a learning rate in the fewest characters."""
    if x == 0:
        return "0"
    exp = math.floor(math.log10(abs(x)))
    mant = round(x / 10 ** exp, 2)
    if abs(mant) >= 10:  # 9.999e-5 rounds up to the next decade
        mant, exp = mant / 10, exp + 1
    return f"{mant:g}e{exp}"


def find_json_object(text: str) -> dict | None:
    """The first JSON object in ``text`` (prose, code fences and trailing words around it ignored)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start >= 0:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def _section(obj: dict, name: str, keys: tuple[str, ...]) -> dict:
    sec = obj.get(name)
    if not isinstance(sec, dict):
        raise PlanError(f"\"{name}\" must be an object with {', '.join(keys)}")
    unknown = [k for k in sec if k not in keys]
    if unknown:
        raise PlanError(f"unknown key{'s' * (len(unknown) > 1)} {', '.join(unknown)} in \"{name}\"")
    missing = [k for k in keys if k not in sec]
    if missing:
        raise PlanError(f"\"{name}\" lacks {', '.join(missing)}")
    return sec


def parse_plan(text: str, *, min_lr: float = MIN_LR, max_lr: float = MAX_LR) -> Plan:
    """The plan in a sampled self-edit, or ``PlanError`` with the reason."""
    obj = find_json_object(text)
    if obj is None:
        raise PlanError("no JSON object in the self-edit")
    unknown = [k for k in obj if k not in ("data_generation", "training")]
    if unknown:
        raise PlanError(f"unknown key{'s' * (len(unknown) > 1)} {', '.join(unknown)} (expected data_generation, training)")
    data = _section(obj, "data_generation", SWITCHES)
    train = _section(obj, "training", TRAINING_KEYS)
    for s in SWITCHES:
        if not isinstance(data[s], bool):
            raise PlanError(f"{s} must be true or false, not {json.dumps(data[s])}")
    if train["strategy"] not in STRATEGIES:
        raise PlanError(f"strategy must be {' or '.join(STRATEGIES)}, not {json.dumps(train['strategy'])}")
    lr = train["learning_rate"]
    # bool is an int in Python, and json.loads accepts NaN and Infinity
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr):
        raise PlanError(f"learning_rate must be a number, not {json.dumps(lr)}")
    if not min_lr <= lr <= max_lr:
        raise PlanError(f"learning_rate {lr:g} is outside {min_lr:g}..{max_lr:g}")
    epochs = train["num_train_epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, int):
        raise PlanError(f"num_train_epochs must be an integer, not {json.dumps(epochs)}")
    if epochs < 1:
        raise PlanError(f"num_train_epochs must be at least 1, not {epochs}")
    return Plan(*(data[s] for s in SWITCHES), train["strategy"], float(lr), epochs)


def check_plan(text: str) -> str | None:
    """None for a usable plan, else why not (``Task.check_self_edit`` adds the step budget)."""
    try:
        parse_plan(text)
    except PlanError as exc:
        return str(exc)
    return None
