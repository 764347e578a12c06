"""Filter (rejection sampling): which scored self-edits of a context the policy learns from."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

from engine.candidate import Candidate


class Verdict(NamedTuple):
    kept: bool
    reason: str


def filter_candidates(cands: Sequence[Candidate], cfg, *, seed: int = 0) -> list[Verdict]:
    """The verdict on each scored candidate of one context, in order.

    ``best``: keep the top-k by reward among those with gain > min_gain and
    reward > min_reward. ``random`` (a control): wherever ``best`` would keep n
    candidates, keep n picked at random among all of the context's instead, so the
    M-step trains on as many self-edits of the same contexts and only the choice
    differs (with no floors, k at random from every context).
    """
    eligible: list[int] = []
    verdicts: dict[int, Verdict] = {}
    for i, c in enumerate(cands):
        if c.gain <= cfg.min_gain:
            verdicts[i] = Verdict(False, f"gain {c.gain:+.2f} <= min_gain {cfg.min_gain:+.2f}")
        elif c.reward <= cfg.min_reward:
            verdicts[i] = Verdict(False, f"reward {c.reward:.2f} <= min_reward {cfg.min_reward:.2f}")
        else:
            eligible.append(i)
    if cfg.rule == "random":
        n = min(cfg.top_k, len(eligible))
        chosen = set(random.Random(seed).sample(range(len(cands)), n))
        why = f"in place of the best {n} (control)" if n else "the reward's rule keeps none here (control)"
        return [Verdict(i in chosen, ("random pick " if i in chosen else "not picked; ") + why)
                for i in range(len(cands))]
    # ties broken by candidate index: the earlier sample wins
    eligible.sort(key=lambda i: (-cands[i].reward, cands[i].cand_idx))
    for rank, i in enumerate(eligible, 1):
        kept = rank <= cfg.top_k
        verdicts[i] = Verdict(kept, f"rank {rank} by reward {cands[i].reward:.2f}" +
                                    (f" (top-{cfg.top_k})" if kept else f" > top-{cfg.top_k}"))
    return [verdicts[i] for i in range(len(cands))]
