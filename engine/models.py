"""Loading the policy: ``from_pretrained`` on a hub id or a folder, device and dtype."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from engine.devices import DeviceError, pick_device, pick_dtype
from engine.model_files import ModelLoadError, folder_problem, looks_local, resolve_model_path
from engine.prompts import wants_chat


@dataclass
class Policy:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    dtype: torch.dtype
    use_chat: bool
    source: str


def load_policy(name_or_path: str, *, device: str = "auto", dtype: str = "auto",
                chat_template: str = "auto", local_files_only: bool = False) -> Policy:
    """``local_files_only``: load a hub id from the cache without asking the hub (an offline machine)."""
    source = resolve_model_path(name_or_path)
    path = Path(source).expanduser()
    local = looks_local(source)
    if local:
        if not path.exists():
            raise ModelLoadError(f"model folder {path} does not exist; check model.name_or_path")
        problem = folder_problem(path)
        if problem:
            raise ModelLoadError(problem)
        source = str(path)
    try:
        dev = pick_device(device)
    except DeviceError as exc:
        raise ModelLoadError(str(exc)) from None
    dt = pick_dtype(dtype, dev)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_files_only)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dt, local_files_only=local_files_only)
    except OSError as exc:
        hint = "" if local else " (this machine may be offline: download it elsewhere and give the folder)"
        raise ModelLoadError(f"cannot load model {source!r}: {str(exc).splitlines()[0]}{hint}") from None
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"model {source!r} is broken or unsupported: {str(exc).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"tokenizer of {source!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    model.to(dev)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        use_chat = wants_chat(tokenizer, chat_template)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None
    return Policy(model, tokenizer, dev, dt, use_chat, source)


def save_policy(policy: Policy, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    policy.model.save_pretrained(folder, safe_serialization=True)
    policy.tokenizer.save_pretrained(folder)


def load_weights(policy: Policy, folder: Path) -> None:
    """Put the weights ``save_policy`` wrote to ``folder`` into ``policy.model`` in place (the
    modules that wrap it, the inner loop's, stay valid). A tied weight saved once fills both names."""
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for shard in sorted(Path(folder).glob("*.safetensors")):
        state.update(load_file(shard))
    model = policy.model
    missing, unexpected = model.load_state_dict(state, strict=False)
    names_of: dict[int, set[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names_of.setdefault(id(p), set()).add(name)
    by_name = dict(model.named_parameters(remove_duplicate=False))
    unfilled = [m for m in missing if m not in by_name or not (names_of[id(by_name[m])] & state.keys())]
    if unexpected or unfilled:
        raise ModelLoadError(f"the weights in {folder} do not fit the policy: "
                             f"missing {unfilled[:3]}, unexpected {unexpected[:3]}")
