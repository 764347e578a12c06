"""E-step: the current policy writes K self-edits per context."""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.generation import generate
from engine.models import Policy
from engine.prompts import render


def policy_prompt(policy: Policy, user_text: str) -> str:
    """The text the policy continues: a task's self-edit prompt in the policy's chat template
    (the M-step trains on the same text)."""
    return render(policy.tokenizer, user_text, policy.use_chat)


def sample_self_edits(policy: Policy, prompts: list[str], sample_cfg, *, k: int, seed: int,
                      temperature: float | None = None,
                      check: Callable[[int, str], str | None] | None = None, retries: int = 0,
                      on_batch: Callable[[int, list[list[str]]], None] | None = None) -> list[list[str]]:
    """``k`` self-edits for each self-edit prompt (a user turn), generated
    ``sample_cfg.batch_size`` prompts at a time.

    ``check(prompt_index, text)`` says why the task cannot use a self-edit (None: it can);
    an invalid one is sampled again, up to ``retries`` times. ``on_batch(first_prompt_index,
    self_edits_of_batch)`` lets the caller record them as they come; a stop request (SIGTERM) cuts a
    batch short, so ``on_batch`` must checkpoint before it records.
    """
    temp = sample_cfg.temperature if temperature is None else temperature
    torch.manual_seed(seed)
    per_batch = max(1, sample_cfg.batch_size // k) if temp > 0 else sample_cfg.batch_size
    out: list[list[str]] = []
    for start in range(0, len(prompts), per_batch):
        batch = [policy_prompt(policy, p) for p in prompts[start:start + per_batch]]
        n = k if temp > 0 else 1
        texts = generate(policy, batch, max_new_tokens=sample_cfg.max_new_tokens,
                         temperature=temp, top_p=sample_cfg.top_p, num_return_sequences=n, stoppable=True)
        grouped = [texts[i * n:(i + 1) * n] for i in range(len(batch))]
        if n < k:  # greedy: every sample would be the same
            grouped = [g * k for g in grouped]
        if check is not None:
            for b, group in enumerate(grouped):
                for j, text in enumerate(group):
                    for _ in range(retries):  # an invalid sample is drawn again, a bounded number of times
                        if check(start + b, text) is None:
                            break
                        text = generate(policy, batch[b:b + 1], max_new_tokens=sample_cfg.max_new_tokens,
                                        temperature=temp, top_p=sample_cfg.top_p, num_return_sequences=1,
                                        stoppable=True)[0]
                    group[j] = text
        out.extend(grouped)
        if on_batch:
            on_batch(start, grouped)
    return out

