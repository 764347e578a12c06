"""Where torch runs: the device and dtype a setting asks for (the engine's run and the
sandbox's build choose the same way)."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    """The device asked for is not there; the message names the setting and the fix."""


def pick_device(setting: str = "auto", option: str = "run.device") -> torch.device:
    """``option`` names the setting in the error (a config field or a command-line flag)."""
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise DeviceError(f"{option} = \"cuda\" but no CUDA GPU is visible; set {option} = \"auto\" or \"cpu\"")
        return torch.device("cuda")
    return torch.device("cpu")


def pick_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[setting]
