"""The knowledge task's contexts: SEAL's SQuAD-format JSON or the sandbox world, split
into a training pool and held-out contexts by seed."""

from __future__ import annotations

import json
import random
from pathlib import Path

from engine import seeds
from engine.tasks.base import DataError

FORMAT = '[{"title": str, "context": str, "questions": [{"question": str, "answer": str}]}]'


def load_contexts(path: str | Path) -> list[dict]:
    p = Path(path).expanduser()
    if p.is_dir():
        raise DataError(f"data file {p} is a folder; set data.path to the SEAL-format JSON file in it ({FORMAT})")
    if not p.is_file():
        raise DataError(f"data file {p} does not exist; set data.path to a SEAL-format JSON file ({FORMAT})")
    try:
        items = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"data file {p} is not valid JSON ({exc}); expected {FORMAT}") from None
    if not isinstance(items, list) or not items:
        raise DataError(f"data file {p}: expected a non-empty JSON list of contexts, {FORMAT}")
    out = []
    for i, c in enumerate(items):
        where = f"data file {p}, context #{i}"
        if not isinstance(c, dict) or not isinstance(c.get("context"), str) or not c.get("context", "").strip():
            raise DataError(f"{where}: needs a non-empty \"context\" string; expected {FORMAT}")
        qs = c.get("questions")
        if not isinstance(qs, list) or not qs:
            raise DataError(f"{where}: needs a non-empty \"questions\" list; expected {FORMAT}")
        clean_qs = []
        for j, q in enumerate(qs):
            if not isinstance(q, dict) or not isinstance(q.get("question"), str) or not isinstance(q.get("answer"), str):
                raise DataError(f"{where}, question #{j}: needs \"question\" and \"answer\" strings")
            clean_qs.append({"question": q["question"], "answer": q["answer"]})
        out.append({"title": str(c.get("title") or f"Passage {i}"), "context": c["context"],
                    "questions": clean_qs, "_index": i})  # its place in the file, for messages (kept in memory only)
    return out


def split_contexts(items: list[dict], *, n_heldout: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(training pool, held-out) after a seeded shuffle; the two never share a passage."""
    if len(items) < n_heldout + 1:
        raise DataError(f"data has {len(items)} contexts; data.n_heldout = {n_heldout} leaves none to train on; "
                        "lower data.n_heldout or use a larger file")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    heldout = [items[i] for i in order[:n_heldout]]
    train = [items[i] for i in order[n_heldout:]]
    return train, heldout


def load_run_contexts(data_cfg, run_seed: int, model: str | None = None) -> tuple[list[dict], list[dict]]:
    """The training pool and the held-out contexts of a run, split by ``data.split_seed``
    (or by the run's seed when that is -1).

    For the sandbox, the world is the one of the sandbox model in use: a folder given
    as ``model`` (e.g. a rebuilt sandbox) if it has the sandbox's metadata, else the shipped one."""
    seed = seeds.data_split(run_seed, data_cfg.split_seed)
    if data_cfg.path == "sandbox":
        from engine import sandbox
        model_dir = model if model and (Path(model) / sandbox.META_FILE).is_file() else None
        try:
            world = sandbox.contexts(model_dir)
        except FileNotFoundError as exc:
            raise DataError(str(exc)) from None
        train = list(world["train"])
        heldout = list(world["heldout"])
        random.Random(seed).shuffle(heldout)
        if len(heldout) < data_cfg.n_heldout:
            raise DataError(f"data.n_heldout = {data_cfg.n_heldout}: the sandbox has {len(heldout)} held-out contexts")
        heldout = heldout[: data_cfg.n_heldout]
    else:
        train, heldout = split_contexts(load_contexts(data_cfg.path), n_heldout=data_cfg.n_heldout, seed=seed)
    if data_cfg.max_questions:
        cut = lambda cs: [dict(c, questions=c["questions"][: data_cfg.max_questions]) for c in cs]
        train, heldout = cut(train), cut(heldout)
    return train, heldout

