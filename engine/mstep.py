"""M-step: supervised fine-tuning of the policy on (self-edit prompt -> kept self-edit).

Loss on the completion only. ``lora`` trains a peft LoRA and merges it into the
policy; ``full`` trains every weight (small models may need it).

Data-parallel (``mstep.workers`` > 1, launched by ``engine.mstep_parallel``): every process
holds the whole policy and walks the same batches; each computes its share of a batch (every
``world``-th example), its loss is its tokens' sum over the whole batch's token count, and the
gradients are summed across processes, so each step is the one-process step up to rounding.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import torch
import torch.nn.functional as F

from engine.models import Policy


def encode_example(policy: Policy, prompt: str, completion: str, max_len: int) -> tuple[list[int], list[int]] | None:
    """Token ids and labels (prompt masked); None when the prompt leaves no room for the completion."""
    tok = policy.tokenizer
    p_ids = tok(prompt, add_special_tokens=not policy.use_chat)["input_ids"]
    c_ids = tok(completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    if len(p_ids) >= max_len:
        return None
    ids = (p_ids + c_ids)[:max_len]
    labels = ([-100] * len(p_ids) + c_ids)[:max_len]
    return ids, labels


def _batches(n: int, bs: int, epochs: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(epochs):
        order = list(range(n))
        rng.shuffle(order)
        out.extend(order[i:i + bs] for i in range(0, n, bs))
    return out


def _shared_step(train_model, params: list[torch.nn.Parameter], ids: torch.Tensor, labels: torch.Tensor,
                 mask: torch.Tensor) -> float:
    """This process's share of one batch (rows rank, rank + world, ...): backward of its tokens'
    loss over the whole batch's token count, gradients and loss summed across processes; the
    batch's mean token loss."""
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    counted = (labels[:, 1:] >= 0).sum()                    # the whole batch's tokens with a loss
    rows = slice(rank, None, world)
    part = torch.zeros((), device=ids.device)
    if ids[rows].shape[0]:
        logits = train_model(input_ids=ids[rows], attention_mask=mask[rows], use_cache=False).logits
        tok_sum = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                  labels[rows, 1:].reshape(-1), ignore_index=-100, reduction="sum")
        loss = tok_sum / counted.clamp(min=1)
        loss.backward()
        part = loss.detach()
    _all_reduce_grads(params)
    dist.all_reduce(part)
    return float(part)


def _peft_targets(targets: list[str]):
    return "all-linear" if "all-linear" in targets else list(targets)


def _all_reduce_grads(params: list[torch.nn.Parameter], bucket: int = 1 << 25) -> None:
    """Sum every parameter's gradient across the processes, a few flat buckets at a time."""
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    start = 0
    while start < len(params):
        end, size = start, 0
        while end < len(params) and (size == 0 or size + params[end].numel() <= bucket):
            size += params[end].numel()
            end += 1
        group = params[start:end]
        flat = torch.cat([p.grad.reshape(-1) for p in group])   # (sum of the group's numels,)
        dist.all_reduce(flat)
        pos = 0
        for p in group:
            p.grad.copy_(flat[pos:pos + p.numel()].view_as(p.grad))
            pos += p.numel()
        start = end


def train_policy(policy: Policy, examples: list[tuple[str, str]], cfg, *, max_len: int, seed: int,
                 on_step: Callable[[int, int, float, int], None] | None = None,
                 data_parallel: bool = False) -> float:
    """Fine-tune ``policy.model`` in place on (prompt, completion) pairs; returns the last loss.

    ``on_step(step, total, loss, epoch)`` is called about 100 times over the run and at the end.
    ``data_parallel``: one of the processes of torch.distributed's default group (see the module).
    """
    torch.manual_seed(seed)
    encoded = [e for e in (encode_example(policy, p, c, max_len) for p, c in examples) if e is not None]
    if not encoded:
        raise ValueError(f"every M-step prompt is longer than model.max_seq_len = {max_len} tokens; "
                         "raise model.max_seq_len")
    batches = _batches(len(encoded), cfg.batch_size, cfg.epochs, seed)
    steps_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    model = policy.model
    peft_model = None
    if cfg.mode == "lora":
        from peft import LoraConfig, get_peft_model
        peft_model = get_peft_model(model, LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
            target_modules=_peft_targets(cfg.targets), task_type="CAUSAL_LM"))
        train_model = peft_model
        params = [p for p in peft_model.parameters() if p.requires_grad]
    else:
        train_model = model
        params = list(model.parameters())
        for p in params:
            p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    pad = policy.tokenizer.pad_token_id
    dev = policy.device
    train_model.train()
    last = float("nan")
    every = max(1, len(batches) // 100)  # by step count, not time: the same events on any machine
    try:
        for step, batch in enumerate(batches, 1):
            width = max(len(encoded[i][0]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                x, y = encoded[i]
                ids[r, : len(x)] = torch.tensor(x)
                labels[r, : len(y)] = torch.tensor(y)
                mask[r, : len(x)] = 1
            ids, labels, mask = ids.to(dev), labels.to(dev), mask.to(dev)
            if data_parallel:
                last = _shared_step(train_model, params, ids, labels, mask)
            else:
                logits = train_model(input_ids=ids, attention_mask=mask, use_cache=False).logits
                loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                       labels[:, 1:].reshape(-1), ignore_index=-100)
                loss.backward()
                last = float(loss.detach())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if on_step and (step % every == 0 or step == len(batches)):
                on_step(step, len(batches), last, (step - 1) // steps_per_epoch + 1)
    finally:
        train_model.eval()
        if peft_model is not None:
            merged = peft_model.merge_and_unload()
            assert merged is model
        for p in model.parameters():
            p.requires_grad_(False)
        if hasattr(model, "peft_config"):
            del model.peft_config
    return last
