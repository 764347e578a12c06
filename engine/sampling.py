"""E-step: the current policy writes K self-edits per context."""

from __future__ import annotations

from typing import Callable

import torch

from engine.generation import generate
from engine.models import Policy
from engine.prompts import render, self_edit_prompt


def self_edit_prompt_text(policy: Policy, ctx: dict, sample_cfg) -> str:
    return render(policy.tokenizer,
                  self_edit_prompt(ctx["title"], ctx["context"], sample_cfg.prompt_style, sample_cfg.template),
                  policy.use_chat)


def sample_self_edits(policy: Policy, contexts: list[dict], sample_cfg, *, k: int, seed: int,
                      temperature: float | None = None,
                      on_batch: Callable[[int, list[list[str]]], None] | None = None) -> list[list[str]]:
    """``k`` self-edits for each context, generated ``sample_cfg.batch_size`` prompts at a time.

    ``on_batch(first_context_index, self_edits_of_batch)`` lets the caller record
    them as they come.
    """
    temp = sample_cfg.temperature if temperature is None else temperature
    torch.manual_seed(seed)
    per_batch = max(1, sample_cfg.batch_size // k) if temp > 0 else sample_cfg.batch_size
    out: list[list[str]] = []
    for start in range(0, len(contexts), per_batch):
        batch = contexts[start:start + per_batch]
        prompts = [self_edit_prompt_text(policy, c, sample_cfg) for c in batch]
        n = k if temp > 0 else 1
        texts = generate(policy, prompts, max_new_tokens=sample_cfg.max_new_tokens,
                         temperature=temp, top_p=sample_cfg.top_p, num_return_sequences=n)
        grouped = [texts[i * n:(i + 1) * n] for i in range(len(batch))]
        if n < k:  # greedy: every sample would be the same
            grouped = [g * k for g in grouped]
        out.extend(grouped)
        if on_batch:
            on_batch(start, grouped)
    return out
