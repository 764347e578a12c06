"""The inner loop: adapt the resident model to a self-edit with a fresh LoRA, then answer.

Jobs (a self-edit's training sequences and the questions to answer afterwards)
are processed in chunks of ``slots``: one stacked-LoRA slot per job, all trained
together by one forward/backward per step, all answered by one batched greedy
generation. The base model is never reloaded; slots are reset in place.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Sequence

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
    questions: list[str]
    seed: int = 0


@dataclass
class AdaptResult:
    answers: list[str]
    final_loss: float | None
    steps: int


class InnerLoop:
    def __init__(self, policy: Policy, cfg, *, slots: int, max_seq_len: int = 512):
        self.policy = policy
        self.cfg = cfg
        self.slots = slots
        self.max_seq_len = max_seq_len
        self.lora = StackedLoRA(policy.model, slots=slots, r=cfg.lora_r, alpha=cfg.lora_alpha,
                                targets=list(cfg.targets), dropout=cfg.lora_dropout)

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
            results.extend(AdaptResult(a, l, s) for a, l, s in zip(answers, losses, steps))
            if save_slot:
                for i in range(len(chunk)):
                    save_slot(start + i, i)
            if on_chunk:
                on_chunk(start + len(chunk), len(jobs))
        self.lora.off()
        return results

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

    def _schedule(self, n: int, seed: int) -> list[list[int]]:
        """The minibatches (sequence indices) of one job, epoch after epoch."""
        if n == 0:
            return []
        bs = self.cfg.batch_size or n
        rng = random.Random(seed)
        steps: list[list[int]] = []
        for _ in range(self.cfg.epochs):
            order = list(range(n))
            if bs < n:
                rng.shuffle(order)
            steps.extend(order[i:i + bs] for i in range(0, n, bs))
        return steps

    def train(self, chunk: list[AdaptJob]) -> tuple[list[float | None], list[int]]:
        dev = self.policy.device
        pad = self.policy.tokenizer.pad_token_id
        encoded = [[self._encode(s) for s in job.sequences] for job in chunk]
        schedules = [self._schedule(len(e), job.seed) for e, job in zip(encoded, chunk)]
        total_steps = max((len(s) for s in schedules), default=0)
        last_loss: list[float | None] = [None] * len(chunk)
        if total_steps == 0:
            return last_loss, [0] * len(chunk)
        opt = SlotAdamW(self.lora.parameters(), self.slots, lr=self.cfg.lr,
                        weight_decay=self.cfg.weight_decay)
        for t in range(total_steps):
            rows, slots = [], []
            active = torch.zeros(self.slots, dtype=torch.bool, device=dev)
            for j, sched in enumerate(schedules):
                if t < len(sched):
                    active[j] = True
                    for idx in sched[t]:
                        rows.append(encoded[j][idx])
                        slots.append(j)
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, : len(r)] = torch.tensor(r)
                mask[i, : len(r)] = 1
            ids, mask = ids.to(dev), mask.to(dev)
            slot_t = torch.tensor(slots, device=dev)
            self.lora.route(slot_t, training=True)
            logits = self.policy.model(input_ids=ids, attention_mask=mask).logits
            # loss on real tokens only: padding never counts (the reference code trains on it)
            tok_loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                       ids[:, 1:].reshape(-1), reduction="none").view(len(rows), -1)
            tmask = mask[:, 1:].float()
            row_sum = (tok_loss * tmask).sum(1)
            slot_sum = torch.zeros(self.slots, device=dev).index_add(0, slot_t, row_sum)
            slot_cnt = torch.zeros(self.slots, device=dev).index_add(0, slot_t, tmask.sum(1))
            per_slot = slot_sum / slot_cnt.clamp(min=1)
            per_slot.sum().backward()
            opt.step(active)
            opt.zero_grad()
            for j in range(len(chunk)):
                if active[j]:
                    last_loss[j] = float(per_slot[j].detach())
        self.lora.off()
        return last_loss, [len(s) for s in schedules]

    # ------------------------------------------------------------ answering
    def _question_text(self, question: str) -> str:
        return render(self.policy.tokenizer, question_prompt(question), self.policy.use_chat)

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


def chunk_count(n_jobs: int, slots: int) -> int:
    return math.ceil(n_jobs / slots) if n_jobs else 0
