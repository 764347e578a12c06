"""Reading back what the experiment trackers wrote, each with its own library, and an environment
that keeps them off the network.

- TensorBoard: tensorboard's ``EventAccumulator``;
- W&B: an offline run's ``.wandb`` file, its records framed as W&B's writer frames them (a
  LevelDB-style log: 32 KiB blocks of CRC, length, type, data) and parsed with W&B's own protobuf
  classes (the Python reader that once did this is no longer shipped);
- trackio: its ``SQLiteStorage`` in a child process (trackio fixes its folder when imported).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import Store
from tests.support.common import REPO

FAKE_WANDB_KEY = "wandb-test-key-7f3a9c1e5b2d4f6a8c0e"
FAKE_OPENAI_KEY = "sk-test-b8d2f4a6c0e1a3c5e7f9b1d3"
FAKE_JUDGE_KEY = "judge-test-key-4c6e8a0b2d4f"


def offline_env(tmp: Path) -> dict[str, str]:
    """No tracker reaches the network: W&B offline and silent (no login; its settings under tmp),
    trackio's store under tmp; fake keys in the variables a careless writer might copy."""
    return {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp / "wandb-dir"),
            "WANDB_CONFIG_DIR": str(tmp / "wandb-config"), "WANDB_CACHE_DIR": str(tmp / "wandb-cache"),
            "WANDB_DATA_DIR": str(tmp / "wandb-data"), "HOME": str(tmp / "home"),
            "WANDB_API_KEY": FAKE_WANDB_KEY, "OPENAI_API_KEY": FAKE_OPENAI_KEY,
            "SEAL_TEST_JUDGE_KEY": FAKE_JUDGE_KEY, "TRACKIO_DIR": str(tmp / "trackio"), "HF_HUB_OFFLINE": "1"}


def seal_tui(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seal_tui", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def tensorboard_texts(folder: Path) -> dict[str, list[tuple[int, str]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    acc.Reload()
    return {tag: [(e.step, e.tensor_proto.string_val[0].decode()) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"] if not tag.startswith("_hparams_")}


def wandb_records(run_folder: Path) -> list:
    """The records of an offline W&B run folder's ``run-<id>.wandb`` file, as W&B's protobuf Records."""
    from wandb.proto import wandb_internal_pb2

    raw = next(run_folder.glob("run-*.wandb")).read_bytes()
    assert raw[:4] == b":W&B", f"{run_folder}: not a W&B transaction log"
    block, pos, records, parts = 32768, 7, [], b""
    while pos + 7 <= len(raw):
        left = block - pos % block
        if left < 7:   # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        data, pos = raw[pos + 7:pos + 7 + length], pos + 7 + length
        parts = data if kind in (1, 2) else parts + data   # 1 full, 2 first, 3 middle, 4 last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            records.append(record)
    return records


def wandb_history_and_config(run_folder: Path) -> tuple[list[dict], dict]:
    """(each logged row as {key: value}, the run's config as {key: value})."""
    history, config = [], {}
    for r in wandb_records(run_folder):
        kind = r.WhichOneof("record_type")
        if kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item})
        elif kind == "run":
            config.update({u.key: json.loads(u.value_json) for u in r.run.config.update})
        elif kind == "config":
            config.update({u.key: json.loads(u.value_json) for u in r.config.update})
    return history, config


def trackio_run(store_dir: Path, project: str, run: str) -> tuple[list[dict], dict]:
    """(the run's logged rows, its config), read by trackio itself from its store at ``store_dir``."""
    code = ("import json, sys\nfrom trackio.sqlite_storage import SQLiteStorage as S\n"
            f"print(json.dumps([S.get_logs({project!r}, {run!r}), S.get_run_config({project!r}, {run!r})]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TRACKIO_DIR": str(store_dir)})
    assert proc.returncode == 0, proc.stderr
    logs, config = json.loads(proc.stdout.strip().splitlines()[-1])
    return logs, config or {}


def last_per_step(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """A series as the store's per-round figures read it: the last value written at each step."""
    return sorted(dict(points).items())


def per_round(store: Store, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Every per-round figure the store holds for the run (the M-step's loss is per step)."""
    names = {m["name"] for m in store.metrics(run_id)} - {"mstep_loss"}
    return {name: store.metric_per_round(run_id, name) for name in sorted(names)}


def same_series(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> bool:
    """The same steps, and values equal to float32's precision (TensorBoard keeps float32)."""
    return [s for s, _ in got] == [s for s, _ in expected] and \
        [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6)


def kept_ids(store: Store, run_id: str) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for c in store.candidates(run_id):
        if c["kept"]:
            out.setdefault(c["round"], []).append(c["id"])
    return out


def files_holding(folder: Path, needles: list[str]) -> list[str]:
    """Every file under ``folder`` (binary ones too) that holds any of ``needles``."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n[:6]}..." for n in needles if n.encode() in data]
    return found
