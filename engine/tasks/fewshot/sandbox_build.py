"""`seal-engine sandbox build --task fewshot`: the few-shot sandbox's tokenizer and tiny Llama.

(It lives with the few-shot task, which it is made of; ``engine.sandbox`` holds the worlds
and the knowledge sandbox's build, and imports no task.)

The world is ``engine.sandbox.arc_world`` (small ARC-style tasks, each a hidden rule). The
model is pretrained on a curriculum of two kinds of documents, both in the chat format the
engine asks in (``engine.prompts.render``: one user turn, the reply, eos):

- **grid skills**: a pretraining task's demonstrations and test input in the sandbox's
  compact layout (``engine.tasks.fewshot.prompts.COMPACT_LAYOUT``), the reply its output
  grid; also its demonstrations left out in turn (the shape of test-time training data).
  Some are seen through a permutation of colours 1-9, as test-time training shows them (the
  world itself draws 1-5). Only pretraining rules: every primitive and a share of the compositions. The ReSTEM
  training and held-out rules are compositions it never saw.
- **the plan habit**: a task's self-edit prompt (``engine.tasks.fewshot.prompts.self_edit_prompt``)
  and, as the reply, a plan drawn at random from a broad distribution, whatever the task
  (``random_plan``): every switch on or off, either strategy, learning rates over three
  decades, 1 to 4 epochs. The policy starts with no preference; only ReSTEM gives it one.

The tokenizer is byte-level BPE trained on those documents, with every digit a token of its
own (a grid cell is one token, never merged with its neighbour) and ``|`` apart.

Deterministic for a given --seed (world, documents, initial weights, batch order).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.sandbox.tokenizer import CHAT_TEMPLATE, EOS, PAD

META_FILE = "sandbox.json"
TASK = "fewshot"
# the plan's values the base policy is taught to write (its prior: no preference among them)
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
EPOCHS = (1, 2, 3, 4)


@dataclass
class ArcBuildCfg:
    seed: int = 0
    steps: int = 1000
    n_pretrain: int = 3000        # pretraining tasks (grid-skill documents)
    n_plan_docs: int = 1500       # self-edit prompt -> random plan documents
    loo_share: float = 0.5        # of the pretraining tasks, those also shown demonstration-left-out
    colour_share: float = 0.3     # of the pretraining tasks, those shown through a colour permutation
    primitive_extra: float = 0.0  # further tasks of single primitives, as a share of n_pretrain (0: none)
    batch: int = 16
    seq_len: int = 512
    lr: float = 3e-3
    warmup: int = 60
    weight_decay: float = 0.01
    vocab_size: int = 1024
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 384
    threads: int = 0
    device: str = "auto"


def random_plan(rng: random.Random) -> dict:
    """A plan of the reference's schema from the base policy's broad prior."""
    from engine.tasks.fewshot.plan import SWITCHES

    return {"data_generation": {s: rng.random() < 0.5 for s in SWITCHES},
            "training": {"strategy": rng.choice(["train_using_all_tokens", "train_using_output_tokens"]),
                         "learning_rate": rng.choice(LEARNING_RATES), "num_train_epochs": rng.choice(EPOCHS)}}


def _chat(prompt: str, reply: str) -> str:
    """One user turn and the reply, as the engine renders a query (the sandbox's chat template)."""
    return f"<|user|>\n{prompt}{EOS}\n<|assistant|>\n{reply}{EOS}"


def documents(world, seed: int, n_plan_docs: int, loo_share: float, colour_share: float = 0.3) -> dict[str, list[str]]:
    """The curriculum's documents by kind (see the module's docstring)."""
    from engine.tasks.fewshot.arc import ArcTask
    from engine.tasks.fewshot.prompts import COMPACT_LAYOUT as L
    from engine.tasks.fewshot.prompts import self_edit_prompt
    from engine.tasks.fewshot.views import colour_permutation, colour_view, view_task

    rng = random.Random(f"arc-curriculum:{seed}")
    skills, plans = [], []
    tasks = [ArcTask.from_dict(t.arc) for t in world.pretrain]
    for task in tasks:
        if rng.random() < colour_share:
            # test-time training permutes colours 1-9 (the world draws 1-5): the model must know them all
            task = view_task(task, colour_view(colour_permutation(rng)))
        skills.append(_chat(L.prompt(task.train, task.test_inputs[0]), L.completion(task.test_outputs[0])))
        if rng.random() < loo_share and len(task.train) > 1:
            i = rng.randrange(len(task.train))
            rest = task.train[:i] + task.train[i + 1:]
            skills.append(_chat(L.prompt(rest, task.train[i].input), L.completion(task.train[i].output)))
    for _ in range(n_plan_docs):
        task = rng.choice(tasks)
        plans.append(_chat(self_edit_prompt(task, L), json.dumps(random_plan(rng))))
    return {"skills": skills, "plans": plans}


def primitive_tasks(seed: int, n: int) -> list:
    """``n`` further pretraining tasks of single primitives (every primitive in turn, seeded): more
    of the skills every composition is made of."""
    from engine.sandbox.arc_world import PRIMITIVES, WorldTask, draw_rule, make_task

    names = sorted(PRIMITIVES)
    out = []
    for i in range(n):
        rng = random.Random(f"arc-primitive-task:{seed}:{i}")
        rule = draw_rule(names[i % len(names)], rng)
        out.append(WorldTask(f"sbx-primitive-{i:04d}", rule.name, make_task(rule, rng), rule))
    return out


def arc_tokenizer(texts, vocab_size: int):
    """Byte-level BPE with every digit and ``|`` a token of its own; the sandbox's chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Split("|", behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    core.decoder = decoders.ByteLevel()
    specials = [PAD, EOS, "<|user|>", "<|assistant|>", "<|system|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token=PAD,
                                  additional_special_tokens=["<|user|>", "<|assistant|>", "<|system|>"])
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def build(cfg: ArcBuildCfg, out: Path, show_progress: bool = True) -> dict:
    """Make the world, train the tokenizer and the model, save all of it to ``out``."""
    import torch

    from engine.sandbox.arc_world import world as make_world
    from engine.sandbox.build import BuildCfg, build_device, make_model, pretrain

    start = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world = make_world(cfg.seed, n_pretrain=cfg.n_pretrain, n_train=0, n_heldout=0)
    if cfg.primitive_extra > 0:
        world.pretrain.extend(primitive_tasks(cfg.seed, int(cfg.n_pretrain * cfg.primitive_extra)))
    kinds = documents(world, cfg.seed, cfg.n_plan_docs, cfg.loo_share, cfg.colour_share)
    texts = [d for v in kinds.values() for d in v]
    tokenizer = arc_tokenizer(texts, cfg.vocab_size)
    docs = [tokenizer(d, add_special_tokens=False)["input_ids"] for d in texts]
    too_long = sum(len(d) > cfg.seq_len for d in docs)
    docs = [d for d in docs if len(d) <= cfg.seq_len]   # never cut: a cut grid teaches a wrong shape
    trainer_cfg = BuildCfg(seed=cfg.seed, steps=cfg.steps, batch=cfg.batch, seq_len=cfg.seq_len, lr=cfg.lr,
                           warmup=cfg.warmup, weight_decay=cfg.weight_decay, hidden=cfg.hidden, layers=cfg.layers,
                           heads=cfg.heads, intermediate=cfg.intermediate, max_positions=2 * cfg.seq_len,
                           threads=cfg.threads, device=cfg.device)
    model = make_model(trainer_cfg, tokenizer).to(build_device(cfg.device))
    losses = pretrain(model, docs, trainer_cfg, tokenizer.pad_token_id, show_progress)
    out.mkdir(parents=True, exist_ok=True)
    model.to("cpu", torch.float16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    meta = {"task": TASK, "world_seed": cfg.seed, "build": asdict(cfg),
            "parameters": sum(p.numel() for p in model.parameters()),
            "documents": {k: len(v) for k, v in kinds.items()}, "dropped_too_long": too_long,
            "tokens": sum(map(len, docs)), "final_loss": sum(losses[-50:]) / len(losses[-50:]),
            "build_seconds": round(time.time() - start, 1)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def build_main(argv: list[str] | None = None) -> int:
    from engine.sandbox import default_arc_model_dir

    parser = argparse.ArgumentParser(prog="seal-engine sandbox build --task fewshot",
                                     description="Build the few-shot sandbox's tokenizer and tiny model from scratch.")
    d = ArcBuildCfg()
    parser.add_argument("--seed", type=int, default=d.seed, help="world and training seed (default 0)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {default_arc_model_dir()})")
    parser.add_argument("--steps", type=int, default=d.steps, help="pretraining steps (default %(default)s)")
    parser.add_argument("--tasks", type=int, default=d.n_pretrain, help="pretraining tasks (default %(default)s)")
    parser.add_argument("--plans", type=int, default=d.n_plan_docs, help="plan-writing documents (default %(default)s)")
    parser.add_argument("--primitive-extra", type=float, default=d.primitive_extra,
                        help="further single-primitive tasks, as a share of --tasks (default %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to pretrain (default auto: CUDA when there is a GPU)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.tasks < 10 or args.plans < 1:
        parser.error("--steps and --plans must be >= 1 and --tasks >= 10")
    cfg = ArcBuildCfg(seed=args.seed, steps=args.steps, n_pretrain=args.tasks, n_plan_docs=args.plans,
                      primitive_extra=args.primitive_extra, threads=args.threads, device=args.device)
    out = args.out or default_arc_model_dir()
    try:
        meta = build(cfg, out)
    except ValueError as exc:
        print(f"seal-engine sandbox build: {exc}", file=sys.stderr)
        return 2
    print(f"saved the few-shot sandbox model ({meta['parameters'] / 1e6:.2f}M parameters, final loss "
          f"{meta['final_loss']:.3f}) to {out} in {meta['build_seconds'] / 60:.1f} minutes")
    return 0
