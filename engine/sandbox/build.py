"""`seal-engine sandbox build`: the world, the tokenizer and the tiny Llama, from scratch.

Deterministic for a given --seed (same world, same documents, same initial weights
and batch order; run-to-run float differences aside). Documents are packed into
fixed-length rows so no step is spent on padding; the learning rate warms up,
then decays along a cosine.

Build time: the shipped model (4,000 steps of 48 x 200 tokens, 1.2M parameters) was
built with these functions on an H100 (``--device cuda``; 39.5 ms per step with four
builds sharing the GPU, 158 s). On this 2-core CPU a step of 48 rows takes 1.15 s
(60 steps in 69 s, measured idle), so the same build takes about 77 minutes here.
Fewer steps are not enough: copying values out of the passage into notes appears
abruptly, between steps 2,500 and 3,500 in this recipe (value-token loss of notes
from 3.0, no copying, to 0.5); with 24-row batches of the same documents it was
still partial (1.7) after 6,000 steps.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.sandbox import META_FILE


@dataclass
class BuildCfg:
    seed: int = 0
    steps: int = 4000
    n_pretrain: int = 2400
    batch: int = 48
    seq_len: int = 200
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.01
    vocab_size: int = 1280  # the smallest that keeps every world word one token
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 512
    max_positions: int = 512  # the model's max_position_embeddings
    n_qa: int = 800  # pretraining entities asked about (the rest get passages and notes)
    qa_repeats: int = 3
    n_demos: int = 4  # note-writing demonstrations per passage entity, each about a made-up person
    threads: int = 0
    device: str = "auto"  # "auto": CUDA when there is a GPU, else the CPU


class Progress:
    """A one-line progress bar on stderr (steps, loss, elapsed, ETA)."""

    def __init__(self, total: int, width: int = 30):
        self.total, self.width, self.start = total, width, time.time()

    def update(self, done: int, loss: float) -> None:
        elapsed = time.time() - self.start
        eta = elapsed / max(done, 1) * (self.total - done)
        fill = int(self.width * done / self.total)
        bar = "#" * fill + "." * (self.width - fill)
        sys.stderr.write(f"\rpretraining [{bar}] {done}/{self.total} loss {loss:.3f} "
                         f"{elapsed:5.0f}s, ~{eta:4.0f}s left ")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def pack_rows(docs: list[list[int]], seq_len: int, pad_id: int, rng: random.Random) -> list[list[int]]:
    """Whole documents laid into rows of ``seq_len`` (first fit), never cut in two.

    A note-writing demonstration must see its passage, so no document is split
    across rows; the short tail of a row is padding that the loss skips.
    """
    order = list(range(len(docs)))
    rng.shuffle(order)
    rows: list[list[int]] = []
    open_rows: list[int] = []  # indices of rows that still have room
    for i in order:
        doc = docs[i][:seq_len]
        for j in open_rows:
            if len(rows[j]) + len(doc) <= seq_len:
                rows[j].extend(doc)
                break
        else:
            rows.append(list(doc))
            open_rows.append(len(rows) - 1)
        open_rows = [j for j in open_rows if seq_len - len(rows[j]) >= 8][-16:]
    rng.shuffle(rows)
    return [r + [pad_id] * (seq_len - len(r)) for r in rows]


def packed_batches(docs: list[list[int]], cfg: BuildCfg, pad_id: int, rng: random.Random):
    """Endless (batch, seq_len) tensors of packed rows, repacked on every pass."""
    import torch

    while True:
        rows = pack_rows(docs, cfg.seq_len, pad_id, rng)
        for start in range(0, len(rows) - cfg.batch + 1, cfg.batch):
            yield torch.tensor(rows[start:start + cfg.batch])


def lr_at(step: int, cfg: BuildCfg) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def build_device(name: str):
    """The device to pretrain on (the engine's choice); exact float32 matrix products on a GPU (no TF32)."""
    import torch

    from engine.devices import pick_device

    device = pick_device(name, option="--device")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return device


def make_model(cfg: BuildCfg, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden, intermediate_size=cfg.intermediate,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions, tie_word_embeddings=True, rms_norm_eps=1e-5,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config)


def pretrain(model, docs: list[list[int]], cfg: BuildCfg, pad_id: int,
             show_progress: bool = True, on_step=None) -> list[float]:
    """AdamW on packed rows of ``docs`` for ``cfg.steps`` steps; the loss of every step.

    ``on_step(step, model)`` is called after each step.
    """
    import torch
    import torch.nn.functional as F

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    batches = packed_batches(docs, cfg, pad_id, random.Random(cfg.seed))
    device = next(model.parameters()).device
    bar = Progress(cfg.steps) if show_progress else None
    losses: list[float] = []
    model.train()
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        ids = next(batches).to(device)
        logits = model(input_ids=ids).logits
        targets = ids[:, 1:].masked_fill(ids[:, 1:] == pad_id, -100)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_step:
            on_step(step + 1, model)
        if bar and (step % 10 == 0 or step == cfg.steps - 1):
            bar.update(step + 1, sum(losses[-10:]) / len(losses[-10:]))
    if bar:
        bar.close()
    model.eval()
    return losses


def build(cfg: BuildCfg, out: Path, show_progress: bool = True) -> dict:
    """Make the world, train the tokenizer and the model, save all of it to ``out``."""
    import torch

    from engine.sandbox.curriculum import documents, tokenizer_corpus
    from engine.sandbox.tokenizer import train_tokenizer
    from engine.sandbox.world import make_world

    start = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world = make_world(cfg.seed, n_pretrain=cfg.n_pretrain)
    tokenizer = train_tokenizer(tokenizer_corpus(world), cfg.vocab_size)
    kinds = documents(world, tokenizer, n_qa=min(cfg.n_qa, cfg.n_pretrain // 2), qa_repeats=cfg.qa_repeats,
                      n_demos=cfg.n_demos, seed=cfg.seed)
    encoded = {k: [tokenizer(d, add_special_tokens=False)["input_ids"] for d in v] for k, v in kinds.items()}
    docs = [d for v in encoded.values() for d in v]
    model = make_model(cfg, tokenizer).to(build_device(cfg.device))
    losses = pretrain(model, docs, cfg, tokenizer.pad_token_id, show_progress)
    return save_build(model, tokenizer, out, losses, start, {
        "world_seed": cfg.seed, "build": asdict(cfg), "documents": len(docs), "tokens": sum(map(len, docs))})


def save_build(model, tokenizer, out: Path, losses: list[float], start: float, record: dict) -> dict:
    """The model (float16) and tokenizer saved in HF format to ``out``, and beside them the build's
    record (``META_FILE``): ``record`` with the parameters, the final loss (the last 50 steps' mean)
    and the build's seconds since ``start``. Returns the record."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    model.to("cpu", torch.float16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    meta = {**record, "parameters": sum(p.numel() for p in model.parameters()),
            "final_loss": sum(losses[-50:]) / len(losses[-50:]), "build_seconds": round(time.time() - start, 1)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def build_arguments(parser: argparse.ArgumentParser, seed: int, steps: int, out: Path) -> None:
    """The options every sandbox build takes: --seed, --out, --steps, --threads, --device."""
    parser.add_argument("--seed", type=int, default=seed, help="world and training seed (default 0)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {out})")
    parser.add_argument("--steps", type=int, default=steps, help="pretraining steps (default %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to pretrain (default auto: CUDA when there is a GPU)")


def run_build(make, out: Path, what: str) -> int:
    """``make()`` (a build), then its one line: what was saved where, or a bad setting (exit 2)."""
    try:
        meta = make()
    except ValueError as exc:  # a bad setting (e.g. --device cuda without a GPU)
        print(f"seal-engine sandbox build: {exc}", file=sys.stderr)
        return 2
    print(f"saved {what} ({meta['parameters'] / 1e6:.2f}M parameters, final loss "
          f"{meta['final_loss']:.3f}) to {out} in {meta['build_seconds'] / 60:.1f} minutes")
    return 0


def build_main(argv: list[str] | None = None) -> int:
    from engine.sandbox import default_model_dir

    parser = argparse.ArgumentParser(prog="seal-engine sandbox build",
                                     description="Build the sandbox world, tokenizer and tiny model from scratch.")
    defaults = BuildCfg()
    build_arguments(parser, defaults.seed, defaults.steps, default_model_dir())
    parser.add_argument("--entities", type=int, default=defaults.n_pretrain, help="pretraining entities (default %(default)s)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.entities < 10:
        parser.error("--steps must be >= 1 and --entities >= 10")
    cfg = BuildCfg(seed=args.seed, steps=args.steps, n_pretrain=args.entities, threads=args.threads,
                   device=args.device)
    out = args.out or default_model_dir()
    return run_build(lambda: build(cfg, out), out, "the sandbox model")
