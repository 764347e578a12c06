"""The built-in sandbox: a world of fictional facts and a tiny Llama pretrained on it.

The model ships in ``engine/sandbox/model/`` (HF format); ``seal-engine sandbox build``
remakes it from scratch. The world is regenerated from the seed stored beside the
model, so the contexts a run uses always match the model it runs. No torch here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

META_FILE = "sandbox.json"


def default_model_dir() -> Path:
    return Path(__file__).resolve().parent / "model"


def _built(folder: Path, build: str) -> str:
    """``folder`` as from_pretrained loads it, or FileNotFoundError saying how to build it."""
    if not (folder / "config.json").is_file() or not (folder / META_FILE).is_file():
        raise FileNotFoundError(f"the sandbox model is missing from {folder}; run `{build}` to make it")
    return str(folder)


def resolve_model() -> str:
    """The folder of the shipped sandbox model, loadable by from_pretrained."""
    return _built(default_model_dir(), "seal-engine sandbox build")


def default_arc_model_dir() -> Path:
    """The few-shot sandbox's model (``model.name_or_path = "sandbox-arc"``)."""
    return Path(__file__).resolve().parent / "arc_model"


def resolve_arc_model() -> str:
    return _built(default_arc_model_dir(), "seal-engine sandbox build --task fewshot")


def world_seed(model_dir: str | Path | None = None) -> int:
    folder = Path(model_dir) if model_dir else Path(resolve_model())
    return int(json.loads((folder / META_FILE).read_text())["world_seed"])


@lru_cache(maxsize=4)
def _contexts(seed: int) -> dict:
    from engine.sandbox.world import make_world

    world = make_world(seed, n_pretrain=0)
    return {"train": world.contexts("train"), "heldout": world.contexts("heldout")}


def contexts(model_dir: str | Path | None = None) -> dict:
    """{"train": [...], "heldout": [...]} contexts of the shipped model's world.

    Their entities never appear in pretraining and the two lists share none.
    """
    world = _contexts(world_seed(model_dir))
    return {split: [dict(c, questions=[dict(q) for q in c["questions"]]) for c in items]
            for split, items in world.items()}

