"""Batched generation for self-edits (sampled) and answers (greedy)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from engine.models import Policy
from engine.runtime import STOP_REQUESTED


@dataclass(frozen=True)
class AnswerRule:
    """How long an answer may be and where it ends (a task's ``answer_max_tokens`` and ``answer_stop``)."""

    max_tokens: int | None = None   # None: inner.answer_max_tokens
    stop: str | None = None         # the text that ends an answer (not part of it); None: the first line break


def cut_at(text: str, stop: str) -> str:
    """The answer in ``text``: what comes before ``stop``, stripped."""
    return text.split(stop, 1)[0].strip()


def encode_prompts(policy: Policy, prompts: list[str]) -> dict:
    tok = policy.tokenizer
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=not policy.use_chat)
    return {k: v.to(policy.device) for k, v in enc.items()}


class _StopRequested(StoppingCriteria):
    """Ends a generation at its next token once the engine is asked to stop (SIGTERM)."""

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), STOP_REQUESTED.is_set(), dtype=torch.bool, device=input_ids.device)


@torch.no_grad()
def generate(policy: Policy, prompts: list[str], *, max_new_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0, num_return_sequences: int = 1, first_line: bool = False,
             stop: str | None = None, stoppable: bool = False) -> list[str]:
    """Completions for ``prompts`` (``num_return_sequences`` each, in prompt order): the first line
    of each with ``first_line``, the text before ``stop`` with a stop text.

    ``stoppable``: end early when the engine is asked to stop (the texts are then cut short: the
    caller must checkpoint before it records anything made from them)."""
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
    if stop is not None:
        kwargs.update(stop_strings=[stop], tokenizer=tok)
    if stoppable:
        kwargs.update(stopping_criteria=StoppingCriteriaList([_StopRequested()]))
    out = policy.model.generate(**enc, **kwargs)
    new = out[:, enc["input_ids"].shape[1]:]
    texts = tok.batch_decode(new, skip_special_tokens=True)
    if stop is not None:
        texts = [cut_at(t, stop) for t in texts]
    elif first_line:
        texts = [t.strip().split("\n", 1)[0].strip() for t in texts]
    else:
        texts = [t.strip() for t in texts]
    return texts


_HOLDING: dict[tuple[int, str], torch.Tensor] = {}
MIN_SHARED_PREFIX = 4  # tokens; below this the plain batched generate() is as good


def _ids_holding(tok, char: str) -> torch.Tensor:
    """Ids of the tokens whose text holds ``char`` (a first-line answer ends at a line break's;
    a stop text can only end inside a token holding its last character)."""
    key = (id(tok), char)
    if key not in _HOLDING:
        vocab = tok.get_vocab()
        ids = [i for i in vocab.values() if char in tok.decode([i])]
        _HOLDING[key] = torch.tensor(sorted(ids), dtype=torch.long)
    return _HOLDING[key]


def _common_prefix(seqs: list[list[int]]) -> int:
    first, n = seqs[0], min(len(s) for s in seqs)
    for i in range(n):
        if any(s[i] != first[i] for s in seqs):
            return i
    return n


@torch.no_grad()
def greedy_shared_prefix(policy: Policy, prompts: list[str], groups: list[int], *, max_new_tokens: int,
                         first_line: bool = False, stop: str | None = None, route=None) -> list[str]:
    """Greedy completions of ``prompts``, where ``groups[i]`` says which adapter prompt i goes
    through (equal groups are contiguous) and ``route(groups_of_rows)`` sends batch rows there.

    The token prefix all prompts share (chat template and instruction) is run once per
    group, not once per prompt, and its cache is copied to the group's rows; then the
    prompts' own tokens and the answer are decoded together. A row stops at eos, with
    ``first_line`` at its first line break, with a ``stop`` text where its text first holds
    it (the answer is what comes before); decoding stops when every row has stopped.
    """
    if first_line and stop is not None:
        raise ValueError("an answer ends at its first line break or at a stop text, not both")
    if not prompts:
        return []
    tok = policy.tokenizer
    dev = policy.device
    ids = [tok(p, add_special_tokens=not policy.use_chat)["input_ids"] for p in prompts]
    shared = min(_common_prefix(ids), min(len(s) for s in ids) - 1)
    route = route or (lambda rows: None)
    if shared < MIN_SHARED_PREFIX:
        route(torch.tensor(groups, device=dev))
        return generate(policy, prompts, max_new_tokens=max_new_tokens, first_line=first_line, stop=stop)
    model = policy.model
    order = list(dict.fromkeys(groups))                       # groups in row order
    row_group = torch.tensor([order.index(g) for g in groups], device=dev)
    # 1. the shared prefix, one row per group
    route(torch.tensor(order, device=dev))
    prefix = torch.tensor([ids[0][:shared]] * len(order), device=dev)
    out = model(input_ids=prefix, use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    cache.reorder_cache(row_group)                            # one copy per prompt of its group
    # 2. each prompt's own tokens, left-padded after the prefix
    rest = [s[shared:] for s in ids]
    width = max(len(r) for r in rest)
    n = len(prompts)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    inp = torch.full((n, width), pad, dtype=torch.long)
    mask = torch.ones((n, shared + width), dtype=torch.long)
    pos = torch.zeros((n, width), dtype=torch.long)
    for i, r in enumerate(rest):
        inp[i, width - len(r):] = torch.tensor(r)
        mask[i, shared:shared + width - len(r)] = 0
        pos[i, width - len(r):] = torch.arange(shared, shared + len(r))
    inp, mask, pos = inp.to(dev), mask.to(dev), pos.to(dev)
    route(torch.tensor(groups, device=dev))
    logits = model(input_ids=inp, attention_mask=mask, position_ids=pos, past_key_values=cache,
                   use_cache=True, logits_to_keep=1).logits[:, -1]
    # 3. greedy decoding until every row stops
    stops = torch.tensor([tok.eos_token_id], dtype=torch.long)
    if first_line:
        stops = torch.cat([stops, _ids_holding(tok, "\n")])
    stops = stops.to(dev)
    # a stop text: rows whose new token holds its last character are decoded and looked at
    may_end = _ids_holding(tok, stop[-1]).to(dev) if stop else None
    next_pos = pos[:, -1] + 1
    done = torch.zeros(n, dtype=torch.bool, device=dev)
    tokens: list[torch.Tensor] = []
    for step in range(max_new_tokens):
        nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        tokens.append(nxt)
        if may_end is not None:
            rows = (torch.isin(nxt, may_end) & ~done).nonzero().flatten().tolist()
            if rows:
                so_far = torch.stack(tokens, dim=1)[rows].tolist()
                for i, row in zip(rows, so_far):
                    done[i] = stop in tok.decode(row, skip_special_tokens=True)
        done |= torch.isin(nxt, stops)
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones((n, 1), dtype=mask.dtype, device=dev)], dim=1)
        logits = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                       past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]
        next_pos = next_pos + 1
    new = torch.stack(tokens, dim=1).tolist()
    texts = []
    for row in new:
        keep = []
        for t in row:
            if t == tok.eos_token_id:
                break
            keep.append(t)
        texts.append(tok.decode(keep, skip_special_tokens=True))
    if stop is not None:
        return [cut_at(t, stop) for t in texts]
    if first_line:
        return [t.strip().split("\n", 1)[0].strip() for t in texts]
    return [t.strip() for t in texts]
