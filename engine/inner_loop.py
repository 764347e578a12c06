"""The inner loop: adapt the resident model to a self-edit with a fresh LoRA, then answer.

Jobs (a self-edit's training data, its learning rate and epochs, and the questions to
answer afterwards) are processed in chunks of ``slots``: one stacked-LoRA slot per job,
all trained together by one forward/backward per step (each slot at its own learning
rate, stepping until its own epochs are done), all answered by one batched greedy
generation. The base model is never reloaded; slots are reset in place.

Training data is plain sequences (the loss on every token) and (prompt, completion)
pairs (the loss on the completion: the prompt is a user turn rendered as the questions
are, so the model is trained in the very format it is asked in). A step's examples are
packed end to end into shared rows where that saves tokens (``engine.batches``), with
positions restarting at each sequence so the model keeps them apart (checked once on the
model itself; else one padded row each).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from engine.batches import Piece, pack_batch, pad_batch, pair_tokens
from engine.generation import AnswerRule, greedy_shared_prefix
from engine.lora import SlotAdamW, StackedLoRA
from engine.models import Policy
from engine.prompts import question_prompt, render

ANSWER_ROWS = 256        # most rows per batched answer generation
ANSWER_TOKENS = 1 << 16  # most prompt + answer tokens per batched answer generation (long grid prompts)


@dataclass
class AdaptJob:
    sequences: list[str]
    questions: list[str]            # the queries answered after adaptation (user turns made by query_prompt)
    seed: int = 0                   # the LoRA init and the minibatch order
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (prompt, completion), loss on the completion
    lr: float | None = None         # None: inner.lr
    epochs: int | None = None       # None: inner.epochs
    prompt_loss: bool = False       # pairs: the loss on the prompt's tokens too


@dataclass
class AdaptResult:
    answers: list[str]
    final_loss: float | None
    steps: int
    dropped: int = 0                # pairs longer than max_seq_len, left out whole (never cut)


class Trained(NamedTuple):
    """Per job of a chunk: its last step's loss, its steps, its pairs left out for length."""

    losses: list[float | None]
    steps: list[int]
    dropped: list[int]


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
            save_slot: Callable[[int, int], None] | None = None, rule: AnswerRule | None = None) -> list[AdaptResult]:
        """Adapt to each job and answer its questions (as ``rule`` says; None: one line of at most
        inner.answer_max_tokens). ``on_chunk(done, total)`` after each chunk; ``save_slot(job_index,
        slot)`` lets the caller export an adapter before it is reset."""
        results: list[AdaptResult] = []
        for start in range(0, len(jobs), self.slots):
            chunk = list(jobs[start:start + self.slots])
            self.lora.reset([j.seed for j in chunk])
            trained = self.train(chunk)
            answers = self.answer(chunk, adapted=True, rule=rule)
            results.extend(AdaptResult(a, loss, s, d) for a, loss, s, d in zip(answers, *trained))
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

    def replica(self) -> InnerLoop:
        """Another inner loop, as this one is set up, on a copy of the model (and of the tokenizer,
        which one thread at a time may use) with slots of its own: it can run beside this one."""
        with self.bare_model():
            model = copy.deepcopy(self.policy.model)
        policy = dataclasses.replace(self.policy, model=model, tokenizer=copy.deepcopy(self.policy.tokenizer))
        return InnerLoop(policy, self.cfg, slots=self.slots, max_seq_len=self.max_seq_len, query_prompt=self.query_prompt)

    def copy_weights_from(self, other: InnerLoop) -> None:
        """This loop's model takes ``other``'s base weights (a replica after an M-step or a merge)."""
        with self.bare_model(), other.bare_model(), torch.no_grad():
            self.policy.model.load_state_dict(other.policy.model.state_dict())

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

    def baseline_answers(self, questions: Sequence[str], rule: AnswerRule | None = None) -> list[str]:
        """Answers of the unadapted model (LoRA off), as ``rule`` says (see ``run``)."""
        self.lora.off()
        return self._generate([self._question_text(q) for q in questions], [0] * len(questions), rule, route=None)

    # ------------------------------------------------------------ training
    def _encode(self, text: str) -> list[int]:
        tok = self.policy.tokenizer
        ids = tok(text, add_special_tokens=True)["input_ids"][: self.max_seq_len - 1]
        return ids + [tok.eos_token_id]

    def _examples(self, job: AdaptJob) -> tuple[list[tuple[list[int], int]], int]:
        """A job's training examples as (ids, first token with loss), sequences then pairs, and
        how many pairs were left out for being longer than max_seq_len."""
        examples = [(self._encode(s), 1) for s in job.sequences]
        dropped = 0
        for prompt, completion in job.pairs:
            ids, start = self._encode_pair(prompt, completion)
            if len(ids) > self.max_seq_len:
                dropped += 1    # a cut grid would teach a wrong shape: the whole pair goes
                continue
            examples.append((ids, 1 if job.prompt_loss else start))
        return examples, dropped

    def _encode_pair(self, prompt: str, completion: str) -> tuple[list[int], int]:
        """The rendered prompt (the user turn as questions are asked), the completion and eos,
        and where the completion's tokens start (``engine.batches.pair_tokens``)."""
        tok, chat = self.policy.tokenizer, self.policy.use_chat
        ids, start = pair_tokens(tok, render(tok, prompt, chat), completion, add_special_tokens=not chat)
        return ids + [tok.eos_token_id], start

    def _schedule(self, n: int, seed: int, epochs: int | None = None) -> list[list[int]]:
        """The minibatches (example indices) of one job, epoch after epoch."""
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

    def train(self, chunk: list[AdaptJob]) -> Trained:
        """Train slot j on ``chunk[j]`` (slots reset by the caller), all slots together: each at
        its job's learning rate, each stepping until its job's epochs are done."""
        dev = self.policy.device
        built = [self._examples(job) for job in chunk]
        examples = [ex for ex, _ in built]
        dropped = [d for _, d in built]
        schedules = [self._schedule(len(e), job.seed, job.epochs) for e, job in zip(examples, chunk)]
        total_steps = max((len(s) for s in schedules), default=0)
        last_loss: list[float | None] = [None] * len(chunk)
        if total_steps == 0:
            return Trained(last_loss, [0] * len(chunk), dropped)
        packed = self.packs()
        pad = self.policy.tokenizer.pad_token_id
        lrs = [self.cfg.lr if job.lr is None else job.lr for job in chunk]
        opt = SlotAdamW(self.lora.parameters(), self.slots, lr=lrs + [self.cfg.lr] * (self.slots - len(chunk)),
                        weight_decay=self.cfg.weight_decay)
        last_step: tuple | None = None
        for t in range(total_steps):
            seqs: list[Piece] = []
            active = torch.zeros(self.slots, dtype=torch.bool, device=dev)
            for j, sched in enumerate(schedules):
                if t < len(sched):
                    active[j] = True
                    # a one-token sequence has nothing to predict
                    seqs.extend(Piece(j, *examples[j][idx]) for idx in sched[t] if len(examples[j][idx][0]) > 1)
            if not seqs:
                continue
            step = tuple((j, tuple(sched[t])) for j, sched in enumerate(schedules) if t < len(sched))
            if step != last_step:  # full-batch steps repeat one batch: built and routed once
                last_step = step
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
            per_slot = slot_sum / slot_cnt.clamp(min=1)       # (slots,): each slot's mean token loss
            per_slot.sum().backward()
            if self.cfg.schedule == "cosine":  # slot j's update t of its own len(schedules[j]) (HF's, no warm-up)
                opt.lrs = [lr * 0.5 * (1 + math.cos(math.pi * t / len(sched))) if t < len(sched) else lr
                           for lr, sched in zip(lrs, schedules)] + opt.lrs[len(chunk):]
            opt.step(active)
            opt.zero_grad()
            for j in range(len(chunk)):
                if active[j]:
                    last_loss[j] = float(per_slot[j].detach())
        self.lora.off()
        return Trained(last_loss, [len(s) for s in schedules], dropped)

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

    def answer(self, chunk: list[AdaptJob], adapted: bool = True, rule: AnswerRule | None = None) -> list[list[str]]:
        """Each job's answers to its questions through its slot (``adapted``) or none, batched
        across slots and questions."""
        prompts, slots = [], []
        for j, job in enumerate(chunk):
            for q in job.questions:
                prompts.append(self._question_text(q))
                slots.append(j)
        route = self.lora.route if adapted else (lambda rows: self.lora.off())
        flat = self._generate(prompts, slots, rule, route=route)
        self.lora.off()
        out, pos = [], 0
        for job in chunk:
            out.append(flat[pos:pos + len(job.questions)])
            pos += len(job.questions)
        return out

    def _generate(self, prompts: list[str], slots: list[int], rule: AnswerRule | None, route) -> list[str]:
        """Greedy answers in as few batched calls as ANSWER_ROWS and ANSWER_TOKENS allow."""
        rule = rule or AnswerRule()
        max_new = rule.max_tokens or self.cfg.answer_max_tokens
        stop = {"first_line": True} if rule.stop is None else {"stop": rule.stop}
        out: list[str] = []
        for a, b in self._answer_calls(prompts, max_new):
            out.extend(greedy_shared_prefix(self.policy, prompts[a:b], slots[a:b], max_new_tokens=max_new,
                                            route=route, **stop))
        return out

    def _answer_calls(self, prompts: list[str], max_new: int) -> list[tuple[int, int]]:
        """Consecutive (start, end) ranges of prompts, each at most ANSWER_ROWS rows of at most
        ANSWER_TOKENS tokens in all (the longest prompt's tokens and the answer, per row)."""
        if not prompts:
            return []
        # a token holds one byte at least: when the prompts' bytes fit the budget, so do their tokens,
        # and the rows alone decide (no tokenizing on the way to every answer of a knowledge run)
        lengths = [len(p.encode()) + 8 for p in prompts]   # + bos/eos and the like
        if min(len(prompts), ANSWER_ROWS) * (max(lengths) + max_new) > ANSWER_TOKENS:
            tok, special = self.policy.tokenizer, not self.policy.use_chat
            lengths = [len(ids) for ids in tok(prompts, add_special_tokens=special)["input_ids"]]
        calls, start, longest = [], 0, 0
        for i, n in enumerate(lengths):
            longest_with = max(longest, n)
            rows = i - start + 1
            if i > start and (rows > ANSWER_ROWS or rows * (longest_with + max_new) > ANSWER_TOKENS):
                calls.append((start, i))
                start, longest_with = i, n
            longest = longest_with
        calls.append((start, len(prompts)))
        return calls


def chunk_count(n_jobs: int, slots: int) -> int:
    return math.ceil(n_jobs / slots) if n_jobs else 0
