"""Before a run exists: every input a user gives is checked, so that a bad one is refused
with one line naming it and the fix, and leaves no run and no folder behind.

- the runs dir: creatable and writable;
- the model: a folder with a readable config, tokenizer and whole weights (a truncated
  safetensors file is found from its header), or a hub id that is in the local cache or
  reachable (``HF_HUB_OFFLINE`` honoured: an offline machine fails at once, not after a minute
  of retries; a cached model on a machine that cannot reach the hub loads without asking it);
- the data: the task's own loading (shape, sizes, a directory given for a file), enough
  training contexts for ``data.n_train``, and every prompt short enough for the model's
  context window (each context named by its index);
- the grader's API key variable, when the judge is an LLM, and the teacher's (``eval.teacher``).

Nothing here imports torch: a refusal comes in about a second.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from engine.model_files import ModelLoadError, folder_problem, looks_local, max_positions, resolve_model_path
from engine.store.problems import mkdir_problem, runs_dir_problem, writable_problem

HUB_PROBE_S = 3.0         # how long the hub may take to answer before the machine counts as offline
PROMPT_SLACK = 32         # tokens a chat template adds around a prompt


class InputError(Exception):
    """Bad user input found while starting a run (runs dir, model, data): exit code 2."""


@dataclass
class ModelCheck:
    """Where ``from_pretrained`` finds the model, and what the run may ask of it."""

    source: str                       # a folder, or a hub id
    folder: Path | None               # where its files are (a hub id's cached snapshot), if known
    local_files_only: bool = False    # load from the cache without asking the hub (offline)
    max_positions: int | None = None  # the model's context window in tokens, if its config says


@dataclass
class Prepared:
    """What the checks loaded, handed to the run so that nothing is read twice."""

    train_pool: list[dict]
    heldout: list[dict]
    model: ModelCheck
    warnings: list[str] = field(default_factory=list)


def preflight(cfg, task, runs_dir: Path) -> Prepared:
    """Check everything a user gave for a run; raises InputError naming the first bad input."""
    from engine.tasks import DataError

    check_runs_dir(runs_dir)
    model = check_model(cfg.model.name_or_path)
    check_grader(cfg.grader)
    check_teacher(cfg)
    for name in ("path", "heldout_path", "solutions_path"):  # a folder where a file belongs, in any task's words
        value = getattr(cfg.data, name)
        if value and Path(value).expanduser().is_dir():
            raise InputError(f"data.{name} = {value}: a folder, not a file; set data.{name} to the data file in it")
    try:
        train_pool, heldout = task.load_contexts()
    except DataError as exc:
        raise InputError(str(exc)) from None
    label = task.labels.context
    if cfg.data.n_train > len(train_pool):
        raise InputError(f"data.n_train = {cfg.data.n_train}: {cfg.data.path} leaves {len(train_pool)} {label}s to "
                         f"train on once {len(heldout)} are held out; lower data.n_train to at most {len(train_pool)} "
                         "or give more data")
    warnings = check_lengths(cfg, task, train_pool, heldout, model)
    return Prepared(train_pool, heldout, model, warnings)


# ---------------------------------------------------------------- the runs dir
def check_runs_dir(runs_dir: Path) -> None:
    """The runs dir can be made (or is there) and written, without leaving anything in it."""
    runs_dir = Path(runs_dir)
    problem = runs_dir_problem(runs_dir)
    if problem:
        raise InputError(problem)
    existing = next(folder for folder in (runs_dir, *runs_dir.parents) if folder.exists())
    if existing != runs_dir and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(mkdir_problem(runs_dir, PermissionError(13, "Permission denied")))
    problem = writable_problem(existing)
    if problem:
        raise InputError(problem.replace(str(existing), str(runs_dir), 1) if existing != runs_dir else problem)


# ---------------------------------------------------------------- the model
def check_model(name_or_path: str) -> ModelCheck:
    try:
        source = resolve_model_path(name_or_path)
    except ModelLoadError as exc:
        raise InputError(str(exc)) from None
    path = Path(source).expanduser()
    if looks_local(source):
        if not path.exists():
            raise InputError(f"model folder {path} does not exist; check model.name_or_path")
        problem = folder_problem(path)
        if problem:
            raise InputError(problem)
        return ModelCheck(str(path), path, max_positions=max_positions(path / "config.json"))
    return _check_hub_id(source)


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or transformers' ``TRANSFORMERS_OFFLINE``) says not to ask the hub."""
    return any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_unreachable() -> str | None:
    """Why the hub (``HF_ENDPOINT``) does not answer within a few seconds, or None when it does."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=HUB_PROBE_S).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{endpoint} does not answer: {reason}"
    return None


def _check_hub_id(repo_id: str) -> ModelCheck:
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # not a valid repo id: from_pretrained says so in its own words later
        cached = None
    folder = Path(cached).parent if isinstance(cached, str) else None
    offline = hub_offline()
    why = "HF_HUB_OFFLINE is set" if offline else None
    if not offline:
        why = hub_unreachable()
    if folder is None and why:
        raise InputError(f"model {repo_id!r} is not in this machine's Hugging Face cache ({constants.HF_HUB_CACHE}) "
                         f"and cannot be downloaded ({why}): download it where there is a network "
                         f"(huggingface-cli download {repo_id}), copy its folder here and set model.name_or_path "
                         "to that folder")
    return ModelCheck(repo_id, folder, local_files_only=bool(why),
                      max_positions=max_positions(folder / "config.json") if folder else None)


# ---------------------------------------------------------------- the grader
def check_grader(grader_cfg) -> None:
    if grader_cfg.kind != "llm":
        return
    from engine.judge import JudgeSetupError, resolve_api_key

    try:
        resolve_api_key(grader_cfg.api_key_env, grader_cfg.base_url)
    except JudgeSetupError as exc:
        raise InputError(str(exc)) from None


def check_teacher(cfg) -> None:
    if not cfg.eval.teacher:
        return
    from engine.chat_client import ChatSetupError
    from engine.teacher import check_key

    try:
        check_key(cfg)
    except ChatSetupError as exc:
        raise InputError(str(exc)) from None


# ---------------------------------------------------------------- prompt lengths
def check_lengths(cfg, task, train_pool: list[dict], heldout: list[dict], model: ModelCheck) -> list[str]:
    """Refuse a context whose prompt cannot fit the model's context window (a passage of megabytes
    would otherwise fail after minutes, asking for terabytes); returns warnings for the log (passages
    longer than model.max_seq_len, whose passage-only training is cut there)."""
    if model.max_positions is None:
        return []
    count = _token_counter(model)
    if count is None:
        return []
    limit = model.max_positions - PROMPT_SLACK
    answer_tokens = task.answer_max_tokens() or cfg.inner.answer_max_tokens
    long_passages: list[str] = []
    for split, contexts in (("training", train_pool), ("held-out", heldout)):
        for i, ctx in enumerate(contexts):
            where = (f"{task.labels.context} #{ctx['_index']} ({_short(ctx.get('title'))}) of {cfg.data.path}"
                     if "_index" in ctx else f"{split} {task.labels.context} {_short(ctx.get('title'))}")
            prompts = [(task.self_edit_prompt(ctx), cfg.sample.max_new_tokens, "its self-edit prompt")]
            prompts += [(task.query_prompt(q), answer_tokens, "a query") for q in task.queries(ctx)]
            for text, new_tokens, what in prompts:
                n = count(text, limit - new_tokens)
                if n + new_tokens > limit:
                    raise InputError(f"{where}: {what} is longer than {limit - new_tokens} tokens ({len(text):,} "
                                     f"characters); with {new_tokens} tokens to generate it does not fit the model's "
                                     f"context of {model.max_positions} tokens "
                                     f"({model.source}); shorten it or leave it out of the data")
            if task.name == "knowledge" and count(ctx["context"], cfg.model.max_seq_len) > cfg.model.max_seq_len:
                long_passages.append(f"#{ctx.get('_index', i)}")
    if long_passages:
        long_passages.sort(key=lambda s: int(s[1:]) if s[1:].isdigit() else 0)
        shown = ", ".join(long_passages[:5]) + (", ..." if len(long_passages) > 5 else "")
        note = (f"{len(long_passages)} passages are longer than model.max_seq_len = {cfg.model.max_seq_len} tokens "
                f"({shown}): training on a passage alone uses its first max_seq_len tokens")
        return [note]
    return []


def _short(title) -> str:
    text = " ".join(str(title or "").split())
    return text if len(text) <= 40 else text[:39] + "…"


def _token_counter(model: ModelCheck):
    """count(text, budget): the tokens of ``text``; a text whose UTF-8 bytes are within ``budget`` is
    within it in tokens too (a token is at least one byte), so only long texts are tokenized."""
    if model.folder is None or not (model.folder / "tokenizer.json").is_file():
        return None
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model.folder / "tokenizer.json"))

    def count(text: str, budget: int) -> int:
        n_bytes = len(text.encode("utf-8"))
        if n_bytes <= budget:
            return n_bytes
        head = text[: 16 * max(budget, 1)]  # a head over budget says enough (megabytes take seconds to tokenize)
        n = len(tok.encode(head, add_special_tokens=True).ids)
        return n if n > budget or len(head) == len(text) else len(tok.encode(text, add_special_tokens=True).ids)

    return count
