"""The inner loop: adapt the resident model to a self-edit with a fresh LoRA, then answer.

Jobs (a self-edit's training sequences and the questions to answer afterwards)
are processed in chunks of ``slots``: one stacked-LoRA slot per job, all trained
together by one forward/backward per step, all answered by one batched greedy
generation. The base model is never reloaded; slots are reset in place.

A step's sequences (one or more per slot) are packed end to end into shared rows
where that saves tokens, with positions restarting at each sequence so the model
keeps them apart (checked once on the model itself; else one padded row each), and
a sequence's last token is a label only, never an input.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.generation import greedy_shared_prefix
from engine.lora import SlotAdamW, StackedLoRA
from engine.models import Policy
from engine.prompts import question_prompt, render

ANSWER_ROWS = 256  # rows per batched answer generation


@dataclass
class AdaptJob:
    sequences: list[str]
    questions: list[str]            # the queries answered after adaptation (user turns made by query_prompt)
    seed: int = 0                   # the LoRA init and the minibatch order
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (prompt, completion), loss on the completion
    lr: float | None = None         # None: inner.lr
    epochs: int | None = None       # None: inner.epochs


@dataclass
class AdaptResult:
    answers: list[str]
    final_loss: float | None
    steps: int


class InnerLoop:
    def __init__(self, policy: Policy, cfg, *, slots: int, max_seq_len: int = 512,
                 query_prompt: Callable[[str], str] = question_prompt):
        self.policy = policy
        self.query_prompt = query_prompt  # the task's user turn for one query
        self.cfg = cfg
        self.slots = slots
        self.max_seq_len = max_seq_len
        self.lora = StackedLoRA(policy.model, slots=slots, r=cfg.lora_r, alpha=cfg.lora_alpha,
                                targets=list(cfg.targets), dropout=cfg.lora_dropout)
        self._packs: bool | None = None
        self._hidden = int(getattr(policy.model.config, "hidden_size", 0) or 1024)

    # ------------------------------------------------------------ public
    def run(self, jobs: Sequence[AdaptJob], on_chunk: Callable[[int, int], None] | None = None,
            save_slot: Callable[[int, int], None] | None = None) -> list[AdaptResult]:
        """Adapt to each job and answer its questions. ``on_chunk(done, total)`` after each chunk;
        ``save_slot(job_index, slot)`` lets the caller export an adapter before it is reset."""
        results: list[AdaptResult] = []
        for start in range(0, len(jobs), self.slots):
            chunk = list(jobs[start:start + self.slots])
            self.lora.reset([j.seed for j in chunk])
            losses, steps = self.train(chunk)
            answers = self.answer(chunk, adapted=True)
            results.extend(AdaptResult(a, loss, s) for a, loss, s in zip(answers, losses, steps))
            if save_slot:
                for i in range(len(chunk)):
                    save_slot(start + i, i)
            if on_chunk:
                on_chunk(start + len(chunk), len(jobs))
        self.lora.off()
        return results

    def save_adapter(self, slot: int, folder: Path) -> None:
        """Slot ``slot``'s adapter as a PEFT folder (call while it still holds its job's LoRA)."""
        self.lora.save_slot_peft(slot, folder, self.policy.source)

    def merge(self, job: AdaptJob, *, lora_seed: int) -> None:
        """Adapt to ``job`` in slot 0 from a LoRA init of ``lora_seed`` and merge the adapter
        into the base weights (continual self-edits)."""
        self.lora.reset([lora_seed])
        self.train([job])
        self.lora.merge_slot(0)
        self.lora.reset([0])  # slot 0 blank again (B = 0): nothing of the merged adapter stays in it

    @contextmanager
    def weights_restored(self) -> Iterator[None]:
        """Base weights changed inside (by ``merge``) are put back on the way out."""
        saved = self.lora.snapshot_base()
        try:
            yield
        finally:
            self.lora.restore_base(saved)

    def close(self) -> None:
        """Take the LoRA slots off the model for good (another InnerLoop may wrap it next)."""
        self.lora.detach()

    @contextmanager
    def bare_model(self) -> Iterator[None]:
        """The model without the LoRA slots inside: the M-step trains it, save_pretrained saves it."""
        self.lora.detach()
        try:
            yield
        finally:
            self.lora.attach()

    def baseline_answers(self, questions: Sequence[str]) -> list[str]:
        """Answers of the unadapted model (LoRA off)."""
        self.lora.off()
        prompts = [self._question_text(q) for q in questions]
        out: list[str] = []
        for i in range(0, len(prompts), ANSWER_ROWS):
            part = prompts[i:i + ANSWER_ROWS]
            out.extend(greedy_shared_prefix(self.policy, part, [0] * len(part),
                                            max_new_tokens=self.cfg.answer_max_tokens, first_line=True))
        return out

    # ------------------------------------------------------------ training
    def _encode(self, text: str) -> list[int]:
        tok = self.policy.tokenizer
        ids = tok(text, add_special_tokens=True)["input_ids"][: self.max_seq_len - 1]
        return ids + [tok.eos_token_id]

    def _schedule(self, n: int, seed: int, epochs: int | None = None) -> list[list[int]]:
        """The minibatches (sequence indices) of one job, epoch after epoch."""
        if n == 0:
            return []
        bs = self.cfg.batch_size or n
        rng = random.Random(seed)
        steps: list[list[int]] = []
        for _ in range(self.cfg.epochs if epochs is None else epochs):
            order = list(range(n))
            if bs < n:
                rng.shuffle(order)
            steps.extend(order[i:i + bs] for i in range(0, n, bs))
        return steps

    def train(self, chunk: list[AdaptJob]) -> tuple[list[float | None], list[int]]:
        for job in chunk:
            # the few-shot task's self-edits choose these (issue 18); never ignore them silently
            if job.pairs or (job.lr is not None and job.lr != self.cfg.lr):
                raise NotImplementedError("the inner loop trains on plain sequences at inner.lr only: "
                                          "prompt/completion pairs and per-job learning rates are not built yet")
        dev = self.policy.device
        encoded = [[self._encode(s) for s in job.sequences] for job in chunk]
        schedules = [self._schedule(len(e), job.seed, job.epochs) for e, job in zip(encoded, chunk)]
        total_steps = max((len(s) for s in schedules), default=0)
        last_loss: list[float | None] = [None] * len(chunk)
        if total_steps == 0:
            return last_loss, [0] * len(chunk)
        packed = self.packs()
        pad = self.policy.tokenizer.pad_token_id
        opt = SlotAdamW(self.lora.parameters(), self.slots, lr=self.cfg.lr,
                        weight_decay=self.cfg.weight_decay)
        for t in range(total_steps):
            seqs: list[tuple[int, list[int]]] = []
            active = torch.zeros(self.slots, dtype=torch.bool, device=dev)
            for j, sched in enumerate(schedules):
                if t < len(sched):
                    active[j] = True
                    # a one-token sequence has nothing to predict
                    seqs.extend((j, encoded[j][idx]) for idx in sched[t] if len(encoded[j][idx]) > 1)
            if not seqs:
                continue
            batch = (pack_batch(seqs, pad, self._hidden) if packed else None) or pad_batch(seqs, pad)
            batch = {k: v.to(dev) for k, v in batch.items()}
            slots = batch.pop("token_slots")
            labels = batch.pop("labels")
            if "row_slots" in batch:
                self.lora.route(batch.pop("row_slots"), training=True)
            else:
                self.lora.route_tokens(slots.flatten(), training=True)
            logits = self.policy.model(**batch, use_cache=False).logits
            # loss on real tokens only: padding never counts (the reference code trains on it);
            # ignored places come out of cross_entropy as 0
            tok_loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.flatten(),
                                       ignore_index=-100, reduction="none")
            counted = labels.flatten() >= 0
            tok_slot = slots.flatten().clamp(min=0)
            slot_sum = torch.zeros(self.slots, device=dev).index_add(0, tok_slot, tok_loss)
            slot_cnt = torch.zeros(self.slots, device=dev).index_add(0, tok_slot, counted.float())
            per_slot = slot_sum / slot_cnt.clamp(min=1)
            per_slot.sum().backward()
            opt.step(active)
            opt.zero_grad()
            for j in range(len(chunk)):
                if active[j]:
                    last_loss[j] = float(per_slot[j].detach())
        self.lora.off()
        return last_loss, [len(s) for s in schedules]

    def packs(self) -> bool:
        """Whether this model keeps packed sequences apart (checked once on the model itself):
        a sequence's logits must be the same alone and behind another one in a packed row."""
        if self._packs is None:
            a, b = self._encode("one two three"), self._encode("four five")
            dev = self.policy.device
            row = torch.tensor([a + b], device=dev)
            pos = torch.tensor([list(range(len(a))) + list(range(len(b)))], device=dev)
            self.lora.off()
            with torch.no_grad():
                alone = self.policy.model(input_ids=torch.tensor([b], device=dev), use_cache=False).logits[0]
                together = self.policy.model(input_ids=row, position_ids=pos, use_cache=False).logits[0]
            got, alone = together[len(a):].float(), alone.float()
            # float32 agrees to rounding; bf16 / fp16 differ by their precision across shapes, while
            # one sequence seeing another changes logits by far more
            tol = 1e-3 if together.dtype == torch.float32 else 3e-2
            scale = max(1.0, float(alone.abs().max()))
            self._packs = bool(torch.allclose(got, alone, atol=tol * scale, rtol=tol))
        return self._packs

    # ------------------------------------------------------------ answering
    def _question_text(self, question: str) -> str:
        return render(self.policy.tokenizer, self.query_prompt(question), self.policy.use_chat)

    def answer(self, chunk: list[AdaptJob], adapted: bool = True) -> list[list[str]]:
        prompts, slots = [], []
        for j, job in enumerate(chunk):
            for q in job.questions:
                prompts.append(self._question_text(q))
                slots.append(j)
        flat: list[str] = []
        route = self.lora.route if adapted else (lambda rows: self.lora.off())
        for i in range(0, len(prompts), ANSWER_ROWS):
            flat.extend(greedy_shared_prefix(self.policy, prompts[i:i + ANSWER_ROWS], slots[i:i + ANSWER_ROWS],
                                             max_new_tokens=self.cfg.answer_max_tokens, first_line=True,
                                             route=route))
        self.lora.off()
        out, pos = [], 0
        for job in chunk:
            out.append(flat[pos:pos + len(job.questions)])
            pos += len(job.questions)
        return out


def _first_fit(lengths: list[int], width: int) -> list[list[int]]:
    """Sequence indices per row: first fit, longest first, into rows of ``width`` tokens."""
    rows: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for r, room in enumerate(free):
            if room >= lengths[i]:
                rows[r].append(i)
                free[r] -= lengths[i]
                break
        else:
            rows.append([i])
            free.append(width - lengths[i])
    return rows


def pack_rows(lengths: list[int], hidden: int) -> tuple[list[list[int]], int]:
    """Rows of sequence indices and their width, for the cheapest packed batch.

    A batch of R rows of width W costs R*W tokens in every linear layer, plus attention
    over W*W query-key pairs per row, which on a CPU costs about as much as W*W/(2*hidden)
    tokens (measured at hidden 640: masked attention is the slower kernel). Wider rows
    waste less at their ends and pay more attention; try a few widths, keep the cheapest."""
    longest, total = max(lengths), sum(lengths)
    widths = {longest * k for k in range(1, 9)} | {-(-total // r) for r in range(1, 33)}
    best: tuple[float, list[list[int]], int] | None = None
    for w in sorted(x for x in widths if longest <= x <= max(longest, 512)):
        rows = _first_fit(lengths, w)
        cost = len(rows) * (w + w * w / (2 * hidden))
        if best is None or cost < best[0]:
            best = (cost, rows, w)
    return best[1], best[2]


def pack_batch(seqs: list[tuple[int, list[int]]], pad: int, hidden: int = 1024) -> dict[str, torch.Tensor] | None:
    """Training sequences of many slots, packed end to end into rows (see ``pack_rows``), with
    positions restarting at every sequence so that the model keeps them apart.

    A sequence of n tokens takes n - 1 places: its last token is only ever a label (no
    later token attends to it and it predicts nothing), so it is never run as an input.
    ``labels`` hold each place's next token (-100 on filler); ``token_slots`` each place's
    slot (-1 on row-end filler). None when packing would save under 5% of the padded
    batch's places: then one padded row per sequence is cheaper (whole-row LoRA routing,
    no per-token gather)."""
    lengths = [len(ids) - 1 for _, ids in seqs]
    rows, width = pack_rows(lengths, hidden)
    if len(rows) * width > 0.95 * len(lengths) * max(lengths):
        return None
    return _place(seqs, rows, width, pad)


def pad_batch(seqs: list[tuple[int, list[int]]], pad: int) -> dict[str, torch.Tensor]:
    """One row per sequence, right-padded and masked (for models that cannot keep packed
    sequences apart); as in ``pack_batch``, a sequence's last token is a label only."""
    batch = _place(seqs, [[i] for i in range(len(seqs))], max(len(ids) for _, ids in seqs) - 1, pad)
    del batch["position_ids"]
    batch["attention_mask"] = (batch["token_slots"] >= 0).long()
    batch["row_slots"] = torch.tensor([slot for slot, _ in seqs])
    return batch


def _place(seqs: list[tuple[int, list[int]]], rows: list[list[int]], width: int, pad: int) -> dict[str, torch.Tensor]:
    """The batch tensors of ``rows`` (sequence indices per row) at ``width`` places per row."""
    shape = (len(rows), width)
    ids, labels = torch.full(shape, pad, dtype=torch.long), torch.full(shape, -100, dtype=torch.long)
    pos, slots = torch.zeros(shape, dtype=torch.long), torch.full(shape, -1, dtype=torch.long)
    for r, members in enumerate(rows):
        at = n = 0
        for i in members:
            slot, seq = seqs[i]
            n = len(seq) - 1
            t = torch.tensor(seq)
            ids[r, at:at + n] = t[:-1]
            labels[r, at:at + n] = t[1:]
            pos[r, at:at + n] = torch.arange(n)
            slots[r, at:at + n] = slot
            at += n
        # filler continues the row's last sequence: causal attention keeps it out of every real
        # token's view, it counts in no loss, and a row of one sequence needs no packed mask
        pos[r, at:] = torch.arange(n, n + width - at)
    return {"input_ids": ids, "position_ids": pos, "labels": labels, "token_slots": slots}


def chunk_count(n_jobs: int, slots: int) -> int:
    return math.ceil(n_jobs / slots) if n_jobs else 0
