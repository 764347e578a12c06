"""What a model folder must hold for ``from_pretrained``, checked without loading it (no torch):
a readable config, a tokenizer, and whole weights (a safetensors header says how long its file
must be). The engine's checks before a run (``engine.preflight``) and ``load_policy`` share them."""

from __future__ import annotations

import json
import struct
from pathlib import Path

POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "n_ctx")


class ModelLoadError(RuntimeError):
    """The model named in the config cannot be loaded; the message says what to fix."""


def resolve_model_path(name_or_path: str) -> str:
    """'sandbox' is the built-in model, 'sandbox-arc' the few-shot sandbox's; anything else goes to
    from_pretrained as given."""
    if name_or_path in ("sandbox", "sandbox-arc"):
        from engine import sandbox
        try:
            return sandbox.resolve_model() if name_or_path == "sandbox" else sandbox.resolve_arc_model()
        except FileNotFoundError as exc:
            raise ModelLoadError(str(exc)) from None
    return name_or_path


def looks_local(source: str) -> bool:
    """A folder rather than a hub id ("org/name"): it exists, or is written as a path."""
    return Path(source).expanduser().exists() or source.startswith((".", "/", "~")) or source.count("/") > 1


def folder_problem(path: Path) -> str | None:
    """Why a model folder cannot be loaded (config, tokenizer, weights), or None."""
    if not path.is_dir():
        return (f"model folder {path} is not a folder; give model.name_or_path a folder saved with "
                "save_pretrained, or a hub id")
    config = path / "config.json"
    if not config.is_file():
        return f"model folder {path} has no config.json; it must be saved with save_pretrained"
    try:
        json.loads(config.read_text())
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        return f"model folder {path}: config.json is not valid JSON ({exc}); save the model again"
    problem = weights_problem(path)
    if problem:
        return problem
    if not any((path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model",
                                                   "vocab.json", "spiece.model")):
        return (f"model folder {path} has no tokenizer (tokenizer.json or tokenizer_config.json); save the "
                "tokenizer into it with tokenizer.save_pretrained")
    tokenizer_json = path / "tokenizer.json"
    if tokenizer_json.is_file():
        try:
            from tokenizers import Tokenizer
            Tokenizer.from_file(str(tokenizer_json))
        except Exception as exc:  # the Rust library's own error types
            return f"model folder {path}: tokenizer.json cannot be read ({_first_line(exc)}); save the tokenizer again"
    return None


def weights_problem(path: Path) -> str | None:
    """Missing, empty or cut-short weight files (a safetensors header says how long its file must be)."""
    index = path / "model.safetensors.index.json"
    shards: set[str] = set()
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            return f"model folder {path}: {index.name} is not a valid index ({exc}); save the model again"
        missing = sorted(s for s in shards if not (path / s).is_file())
        if missing:
            return f"model folder {path}: weight files listed in {index.name} are missing: {', '.join(missing)}"
    files = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not files:
        return f"model folder {path} has no weights (*.safetensors or *.bin)"
    for file in files:
        why = _safetensors_problem(file) if file.suffix == ".safetensors" else _bin_problem(file)
        if why:
            return f"model folder {path}: {file.name} {why}; copy or save the model again"
    return None


def _safetensors_problem(file: Path) -> str | None:
    size = file.stat().st_size
    try:
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"is cut short ({size} bytes, not even a header)"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return f"is cut short ({size} bytes; its header alone says {n + 8})"
            header = json.loads(fh.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return f"is not a safetensors file ({exc})"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)
            and "data_offsets" in t]
    need = 8 + n + max(ends, default=0)
    if size < need:
        return f"is cut short ({size} bytes of the {need} its header lists)"
    return None


def _bin_problem(file: Path) -> str | None:
    try:
        with open(file, "rb") as fh:
            if not fh.read(4):
                return "is empty"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def max_positions(config: Path) -> int | None:
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError):
        return None
    for source in (data, data.get("text_config") or {}):
        for key in POSITION_KEYS:
            value = source.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
