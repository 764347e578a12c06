"""Training examples as token batches for the stacked-LoRA inner loop.

An example is a token sequence of one slot and the first token that carries loss: a
plain sequence trains on every token, a (prompt, completion) pair on its completion only
(``pair_tokens`` finds where the completion starts from the text and the tokenizer's
character offsets, for any model family). A step's examples are packed end to end into
shared rows where that saves tokens (``pack_batch``), else one padded row each
(``pad_batch``); either way a sequence's last token is a label only, never an input.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Piece(NamedTuple):
    """One training example of one slot."""

    slot: int
    ids: list[int]
    loss_from: int = 1   # the first token that is a target; the tokens before it are context only


def pair_tokens(tokenizer, prompt: str, completion: str, *, add_special_tokens: bool) -> tuple[list[int], int]:
    """The ids of ``prompt + completion`` and the index of the completion's first token.

    ``prompt`` is the text before the reply, as the model is asked at answer time (its chat
    template applied). The completion's tokens are those holding any of its characters,
    read from the tokenizer's character offsets: no token id of a model family is assumed.
    Where the prompt's own ids are a prefix of the whole (the usual case: a chat template
    ends its generation prompt with a special token or a line break), that is the same
    boundary; a token spanning it (a prompt ending in a space that the tokenizer joins to
    the completion's first word) counts as the completion's. A tokenizer without offsets
    (a slow one) must tokenize the prompt alone as a prefix of the whole, else ValueError.
    """
    text = prompt + completion
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
        start = next((i for i, (_, end) in enumerate(offsets) if end > len(prompt)), len(ids))
        return ids, start
    ids = list(tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])
    prompt_ids = list(tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"])
    if ids[:len(prompt_ids)] != prompt_ids:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no character offsets and tokenizes the prompt "
                         "differently alone and before its completion, so the completion's tokens cannot be found; "
                         "use the model's fast tokenizer (tokenizer.json)")
    return ids, len(prompt_ids)


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


def pack_batch(pieces: list[Piece | tuple], pad: int, hidden: int = 1024) -> dict[str, torch.Tensor] | None:
    """Training examples of many slots, packed end to end into rows (see ``pack_rows``), with
    positions restarting at every sequence so that the model keeps them apart.

    A sequence of n tokens takes n - 1 places: its last token is only ever a label (no
    later token attends to it and it predicts nothing), so it is never run as an input.
    ``labels`` hold each place's next token (-100 on filler and on a prompt's tokens);
    ``token_slots`` each place's slot (-1 on row-end filler). None when packing would save
    under 5% of the padded batch's places: then one padded row per sequence is cheaper
    (whole-row LoRA routing, no per-token gather)."""
    pieces = [Piece(*p) for p in pieces]
    lengths = [len(p.ids) - 1 for p in pieces]
    rows, width = pack_rows(lengths, hidden)
    if len(rows) * width > 0.95 * len(lengths) * max(lengths):
        return None
    return _place(pieces, rows, width, pad)


def pad_batch(pieces: list[Piece | tuple], pad: int) -> dict[str, torch.Tensor]:
    """One row per sequence, right-padded and masked (for models that cannot keep packed
    sequences apart); as in ``pack_batch``, a sequence's last token is a label only."""
    pieces = [Piece(*p) for p in pieces]
    batch = _place(pieces, [[i] for i in range(len(pieces))], max(len(p.ids) for p in pieces) - 1, pad)
    del batch["position_ids"]
    batch["attention_mask"] = (batch["token_slots"] >= 0).long()
    batch["row_slots"] = torch.tensor([p.slot for p in pieces])
    return batch


def _place(pieces: list[Piece], rows: list[list[int]], width: int, pad: int) -> dict[str, torch.Tensor]:
    """The batch tensors of ``rows`` (example indices per row) at ``width`` places per row."""
    shape = (len(rows), width)
    ids, labels = torch.full(shape, pad, dtype=torch.long), torch.full(shape, -100, dtype=torch.long)
    pos, slots = torch.zeros(shape, dtype=torch.long), torch.full(shape, -1, dtype=torch.long)
    for r, members in enumerate(rows):
        at = n = 0
        for i in members:
            slot, seq, loss_from = pieces[i]
            n = len(seq) - 1
            t = torch.tensor(seq)
            ids[r, at:at + n] = t[:-1]
            # place k predicts token k + 1: a prompt's tokens (before loss_from) are no target
            first = at + max(loss_from, 1) - 1
            labels[r, first:at + n] = t[max(loss_from, 1):]
            pos[r, at:at + n] = torch.arange(n)
            slots[r, at:at + n] = slot
            at += n
        # filler continues the row's last sequence: causal attention keeps it out of every real
        # token's view, it counts in no loss, and a row of one sequence needs no packed mask
        pos[r, at:] = torch.arange(n, n + width - at)
    return {"input_ids": ids, "position_ids": pos, "labels": labels, "token_slots": slots}
