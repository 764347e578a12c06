"""Batched generation for self-edits (sampled) and answers (greedy)."""

from __future__ import annotations

import torch

from engine.models import Policy


def encode_prompts(policy: Policy, prompts: list[str]) -> dict:
    tok = policy.tokenizer
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=not policy.use_chat)
    return {k: v.to(policy.device) for k, v in enc.items()}


@torch.no_grad()
def generate(policy: Policy, prompts: list[str], *, max_new_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0, num_return_sequences: int = 1, first_line: bool = False) -> list[str]:
    """Completions for ``prompts`` (``num_return_sequences`` each, in prompt order)."""
    if not prompts:
        return []
    tok = policy.tokenizer
    enc = encode_prompts(policy, prompts)
    sample = temperature > 0
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=sample,
                  num_return_sequences=num_return_sequences,
                  pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    if sample:
        kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    out = policy.model.generate(**enc, **kwargs)
    new = out[:, enc["input_ids"].shape[1]:]
    texts = tok.batch_decode(new, skip_special_tokens=True)
    if first_line:
        texts = [t.strip().split("\n", 1)[0].strip() for t in texts]
    else:
        texts = [t.strip() for t in texts]
    return texts
