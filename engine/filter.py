"""Filter (rejection sampling): which scored self-edits of a context the policy learns from."""

from __future__ import annotations

import random


def filter_candidates(cands: list[dict], cfg, *, seed: int = 0) -> list[dict]:
    """Verdicts ``{id, kept, reason}`` for the scored candidates of one context.

    ``best``: keep the top-k by reward among those with gain > min_gain and
    reward > min_reward. ``random`` (a control): wherever ``best`` would keep n
    candidates, keep n picked at random among all of the context's instead, so the
    M-step trains on as many self-edits of the same contexts and only the choice
    differs (with no floors, k at random from every context).
    """
    eligible = []
    verdicts: dict[int, dict] = {}
    for c in cands:
        if c["gain"] <= cfg.min_gain:
            verdicts[c["id"]] = {"id": c["id"], "kept": False,
                                 "reason": f"gain {c['gain']:+.2f} <= min_gain {cfg.min_gain:+.2f}"}
        elif c["reward"] <= cfg.min_reward:
            verdicts[c["id"]] = {"id": c["id"], "kept": False,
                                 "reason": f"reward {c['reward']:.2f} <= min_reward {cfg.min_reward:.2f}"}
        else:
            eligible.append(c)
    if cfg.rule == "random":
        n = min(cfg.top_k, len(eligible))
        chosen = {c["id"] for c in random.Random(seed).sample(cands, n)}
        why = f"in place of the best {n} (control)" if n else "the reward's rule keeps none here (control)"
        return [{"id": c["id"], "kept": c["id"] in chosen,
                 "reason": ("random pick " if c["id"] in chosen else "not picked; ") + why} for c in cands]
    # ties broken by candidate index: the earlier sample wins
    eligible.sort(key=lambda c: (-c["reward"], c["cand_idx"]))
    for rank, c in enumerate(eligible, 1):
        kept = rank <= cfg.top_k
        verdicts[c["id"]] = {"id": c["id"], "kept": kept,
                             "reason": f"rank {rank} by reward {c['reward']:.2f}" +
                                       (f" (top-{cfg.top_k})" if kept else f" > top-{cfg.top_k}")}
    return [verdicts[c["id"]] for c in cands]
