"""`seal-engine sandbox build --task fewshot`: the few-shot sandbox's tokenizer and tiny Llama.

(It lives with the few-shot task, which it is made of; ``engine.sandbox`` holds the worlds
and the knowledge sandbox's build, and imports no task.)

The world is ``engine.sandbox.arc_world``'s colour-map world (``SANDBOX_WORLD``): pretraining
tasks copy their grids; every ReSTEM training and held-out task is a colour map the model never
saw (40 each, disjoint), so in context it copies and fails, and only test-time training can
teach it the map from the task's few demonstrations. The model is pretrained first on grid
skills alone with the loss on the reply and the prompt's output grids (``encode_masked``;
``skill_steps``: copying appears around step 300-500 at batch 16, 85% of cells copied under
teacher forcing by step 600), then on plan documents (the loss on the plan) alternating with
grid skills with the loss on every token (``grid_loss = "all"``), with a fresh warmup and
cosine (plans alone at the full rate broke the copy's grid shapes; at the first phase's
decayed rate the plans stayed a bag of tokens). The second phase's loss on whole prompts is
what a pretrained language model has: it predicts a prompt's layout (``in``, ``out``, ``|``)
at about 0 nats and its random input cells at their entropy (1.25 nats), so a plan with the
loss on all tokens (``train_using_all_tokens``) meets a small loss on the prompt and works as
in the paper: 6-11 of 16 held-out maps at lr 1e-3 x 10, 3e-3 x 5 / x 10, 1e-2 x 5 / x 10.
Built with the loss on answers alone (``--grid-loss answers``, the model of stops 27-31) the
prompt's layout cost 17 nats and its input cells 9, and every all-token plan failed (2 of 16
at best), which left the base policy's plans at 0% held out against the paper's 20%. Copying
emerges with the masked loss only: with the loss on every token from the first step it had
not appeared after all 1250 steps (0 of 16 copies exact under teacher forcing). Two kinds of
documents, in the chat format the engine asks in (one user turn, the reply, eos):

- **grid skills**: a copy task's demonstrations and test input in the sandbox's compact layout
  (``engine.tasks.fewshot.prompts.COMPACT_LAYOUT``), the reply its output grid; also with a
  demonstration left out (the shape of test-time training data). 70% are seen through a
  permutation of colours 1-9, as test-time training shows them (the world draws 1-5).
- **the plan habit**: a task's self-edit prompt (``engine.tasks.fewshot.prompts.self_edit_prompt``)
  and, as the reply, a plan drawn at random from a broad prior, whatever the task
  (``random_plan``): each augmentation switch on 15% of the time, either strategy, learning
  rates 1e-4 to 3e-2, 1 to 10 epochs. The policy starts with no preference; only ReSTEM gives
  it one.

The tokenizer is byte-level BPE trained on those documents, with every digit a token of its
own (a grid cell is one token, never merged with its neighbour) and ``|`` apart.

Deterministic for a given --seed (world, documents, initial weights, batch order).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from engine.sandbox.tokenizer import CHAT_TEMPLATE, EOS, PAD

TASK = "fewshot"
# the plan's values the base policy is taught to write (its prior: no preference among them)
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
EPOCHS = tuple(range(1, 11))
SWITCH_ON = 0.15   # each augmentation switch of a prior plan is on this often


@dataclass
class ArcBuildCfg:
    seed: int = 0
    steps: int = 1250
    skill_steps: int = 650        # the first steps train on the grid-skill documents (copying emerges there),
                                  # the rest alternately on plan and grid-skill documents
    n_pretrain: int = 2000        # pretraining tasks (grid-skill documents: copies)
    n_plan_docs: int = 1000       # self-edit prompt -> random plan documents
    loo_share: float = 0.5        # of the pretraining tasks, those also shown demonstration-left-out
    colour_share: float = 0.7     # of the pretraining tasks, those shown through a colour permutation
    grid_loss: str = "all"        # the grid-skill documents' loss after the first phase: "all" tokens, or "answers" only
    batch: int = 16
    seq_len: int = 512
    lr: float = 3e-3
    warmup: int = 40
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

    return {"data_generation": {s: rng.random() < SWITCH_ON for s in SWITCHES},
            "training": {"strategy": rng.choice(["train_using_all_tokens", "train_using_output_tokens"]),
                         "learning_rate": rng.choice(LEARNING_RATES), "num_train_epochs": rng.choice(EPOCHS)}}


def chat_prompt(prompt: str) -> str:
    """One user turn and the assistant's header, as the engine renders a query (the sandbox's chat template)."""
    return f"<|user|>\n{prompt}{EOS}\n<|assistant|>\n"


def documents(world, seed: int, n_plan_docs: int, loo_share: float,
              colour_share: float = 0.7) -> dict[str, list[tuple[str, str]]]:
    """The curriculum's (prompt, reply) documents by kind (see the module's docstring)."""
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
        skills.append((chat_prompt(L.prompt(task.train, task.test_inputs[0])), L.completion(task.test_outputs[0]) + EOS))
        if rng.random() < loo_share and len(task.train) > 1:
            i = rng.randrange(len(task.train))
            rest = task.train[:i] + task.train[i + 1:]
            skills.append((chat_prompt(L.prompt(rest, task.train[i].input)), L.completion(task.train[i].output) + EOS))
    for _ in range(n_plan_docs):
        task = rng.choice(tasks)
        plans.append((chat_prompt(self_edit_prompt(task, L)), json.dumps(random_plan(rng)) + EOS))
    return {"skills": skills, "plans": plans}


TRAINED_GRID = re.compile(r"out ([0-9|]+)")   # an output grid shown in a prompt (the compact layout)


def encode_masked(tokenizer, prompt: str, reply: str, every: bool = False) -> tuple[list[int], list[int]]:
    """(ids, labels) of a document: the loss on the reply and on the prompt's output grids (each
    follows from its input), -100 on everything else (the inputs are random: nothing to learn);
    ``every``: the loss on every token."""
    text = prompt + reply
    if every:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids, list(ids)
    spans = [m.span(1) for m in TRAINED_GRID.finditer(prompt)] + [(len(prompt), len(text))]
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = [t if any(a <= lo and hi <= b for a, b in spans) and hi > lo else -100
              for t, (lo, hi) in zip(enc["input_ids"], enc["offset_mapping"])]
    return enc["input_ids"], labels


def masked_batches(docs: list[tuple[list[int], list[int]]], batch: int, pad_id: int, rng: random.Random):
    """Endless batches of (input ids, labels) of ``encode_masked`` documents in a seeded order, epoch
    after epoch, padded on the right to the longest of the batch."""
    import torch

    order: list[int] = []
    while True:
        if len(order) < batch:
            more = list(range(len(docs)))
            rng.shuffle(more)
            order += more
        picked, order = order[:batch], order[batch:]
        width = max(len(docs[i][0]) for i in picked)
        ids = torch.full((batch, width), pad_id, dtype=torch.long)
        labels = torch.full((batch, width), -100, dtype=torch.long)
        for row, i in enumerate(picked):
            ids[row, :len(docs[i][0])] = torch.tensor(docs[i][0])
            labels[row, :len(docs[i][1])] = torch.tensor(docs[i][1])
        yield ids, labels


def pretrain_masked(model, docs: list[tuple[list[int], list[int]]], cfg, pad_id: int,
                    show_progress: bool = True, first: tuple[int, int] = (0, 0),
                    later: list[tuple[list[int], list[int]]] | None = None) -> list[float]:
    """AdamW for ``cfg.steps`` steps on ``docs`` (``encode_masked``) with the loss on their labelled tokens.
    ``first = (n, steps)``: the first ``steps`` steps draw from the first ``n`` documents, the rest
    alternately from the others and the first ``n`` (or ``later``, the same documents labelled
    otherwise: every token); each phase warms up and decays on its own."""
    import torch
    import torch.nn.functional as F

    from engine.sandbox.build import Progress, lr_at

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    batches = masked_batches(docs[first[0]:] if first[1] else docs, cfg.batch, pad_id, random.Random(cfg.seed))
    more = masked_batches(later or docs[:first[0]], cfg.batch, pad_id, random.Random(f"{cfg.seed}:more")) if first[1] else None
    early = masked_batches(docs[:first[0]], cfg.batch, pad_id, random.Random(f"{cfg.seed}:first")) if first[1] else None
    phase_one, phase_two = replace(cfg, steps=max(first[1], 1)), replace(cfg, steps=max(cfg.steps - first[1], 1))
    device = next(model.parameters()).device
    bar = Progress(cfg.steps) if show_progress else None
    losses: list[float] = []
    model.train()
    for step in range(cfg.steps):
        for group in opt.param_groups:  # each phase warms up and decays on its own
            group["lr"] = lr_at(step, phase_one) if step < first[1] else lr_at(step - first[1], phase_two)
        if step < first[1]:
            source = early
        else:   # the second phase alternates: a batch of the others, a batch of the first (which stay learnt)
            source = more if first[1] and (step - first[1]) % 2 else batches
        ids, labels = (t.to(device) for t in next(source))
        logits = model(input_ids=ids, attention_mask=ids != pad_id).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if bar and (step % 10 == 0 or step == cfg.steps - 1):
            bar.update(step + 1, sum(losses[-10:]) / len(losses[-10:]))
    if bar:
        bar.close()
    model.eval()
    return losses


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

    from engine.sandbox.arc_world import SANDBOX_WORLD
    from engine.sandbox.arc_world import world as make_world
    from engine.sandbox.build import BuildCfg, build_device, make_model, save_build

    start = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world = make_world(cfg.seed, n_pretrain=cfg.n_pretrain, n_train=0, n_heldout=0, cfg=SANDBOX_WORLD)
    kinds = documents(world, cfg.seed, cfg.n_plan_docs, cfg.loo_share, cfg.colour_share)
    pairs = [d for v in kinds.values() for d in v]
    tokenizer = arc_tokenizer([p + r for p, r in pairs], cfg.vocab_size)
    fits = lambda d: len(d[0]) <= cfg.seq_len   # never cut: a cut grid teaches a wrong shape
    skills = [d for d in (encode_masked(tokenizer, p, r) for p, r in kinds["skills"]) if fits(d)]
    later = [d for d in (encode_masked(tokenizer, p, r, True) for p, r in kinds["skills"]) if fits(d)] \
        if cfg.grid_loss == "all" else None
    plans = [d for d in (encode_masked(tokenizer, p, r) for p, r in kinds["plans"]) if fits(d)]
    too_long = len(pairs) - len(skills) - len(plans)
    docs = skills + plans
    trainer_cfg = BuildCfg(seed=cfg.seed, steps=cfg.steps, batch=cfg.batch, seq_len=cfg.seq_len, lr=cfg.lr,
                           warmup=cfg.warmup, weight_decay=cfg.weight_decay, hidden=cfg.hidden, layers=cfg.layers,
                           heads=cfg.heads, intermediate=cfg.intermediate, max_positions=2 * cfg.seq_len,
                           threads=cfg.threads, device=cfg.device)
    model = make_model(trainer_cfg, tokenizer).to(build_device(cfg.device))
    losses = pretrain_masked(model, docs, trainer_cfg, tokenizer.pad_token_id, show_progress,
                             first=(len(skills), min(cfg.skill_steps, cfg.steps)), later=later)
    return save_build(model, tokenizer, out, losses, start, {
        "task": TASK, "world_seed": cfg.seed, "build": asdict(cfg), "documents": {k: len(v) for k, v in kinds.items()},
        "dropped_too_long": too_long, "tokens": sum(len(ids) for ids, _ in docs)})


def build_main(argv: list[str] | None = None) -> int:
    from engine.sandbox import default_arc_model_dir
    from engine.sandbox.build import build_arguments, run_build

    parser = argparse.ArgumentParser(prog="seal-engine sandbox build --task fewshot",
                                     description="Build the few-shot sandbox's tokenizer and tiny model from scratch.")
    d = ArcBuildCfg()
    build_arguments(parser, d.seed, d.steps, default_arc_model_dir())
    parser.add_argument("--skill-steps", type=int, default=d.skill_steps,
                        help="first steps on grid skills, the rest alternately on plans and grid skills (default %(default)s)")
    parser.add_argument("--tasks", type=int, default=d.n_pretrain, help="pretraining tasks (default %(default)s)")
    parser.add_argument("--plans", type=int, default=d.n_plan_docs, help="plan-writing documents (default %(default)s)")
    parser.add_argument("--grid-loss", choices=("answers", "all"), default=d.grid_loss,
                        help="the grid-skill documents' loss: on output grids and replies, or on all tokens (default %(default)s)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.tasks < 10 or args.plans < 1:
        parser.error("--steps and --plans must be >= 1 and --tasks >= 10")
    cfg = ArcBuildCfg(seed=args.seed, steps=args.steps, n_pretrain=args.tasks, n_plan_docs=args.plans,
                      skill_steps=args.skill_steps, grid_loss=args.grid_loss, threads=args.threads, device=args.device)
    out = args.out or default_arc_model_dir()
    return run_build(lambda: build(cfg, out), out, "the few-shot sandbox model")
