"""Every random draw of a run, named by what it seeds.

A run's randomness comes from two numbers: ``run.seed`` (what the run learns from:
the contexts of each round, the sampled self-edits, the inner loop's LoRA inits, the
filter's random control, the M-step) and ``eval.seed`` (the held-out evaluation, one
instrument for every round and run seed, so held-out accuracies differ only by the
policy). Each function below is the seed of one draw; a new draw gets a new function
here, never a formula at its call site.

The formulas are the historic ones, each written where its draw used to happen; they
are kept number for number so that a config and seed give the same run as before
(seed 0 of the ``sandbox`` preset: held-out 0.383 / 0.459 / 0.508 / 0.571 for the
base policy and rounds 1-3). The primes only keep the draws of different rounds and
contexts apart.
"""

from __future__ import annotations

import hashlib

# seeds of a candidate's repeated inner-loop runs (inner.reward_repeats) are this far apart
REPEAT_SEED_STRIDE = 7_919_000


# ---------------------------------------------------------------- the run (run.seed)
def torch_global(run_seed: int) -> int:
    """``torch.manual_seed`` when a run starts: any torch draw not seeded below."""
    return run_seed


def data_split(run_seed: int, split_seed: int) -> int:
    """The training / held-out split of the contexts (``data.split_seed``, -1: the run's seed)."""
    return run_seed if split_seed < 0 else split_seed


def round_contexts(run_seed: int, round_: int) -> int:
    """Which training contexts of the pool a ReSTEM round samples self-edits for."""
    return run_seed * 1009 + round_


def e_step(run_seed: int, round_: int) -> int:
    """The E-step's sampling of K self-edits per context (torch's generator)."""
    return run_seed * 104729 + round_


def candidate_lora(run_seed: int, round_: int, context_idx: int, cand_idx: int, rep: int = 0) -> int:
    """The LoRA init (and minibatch order) of one inner-loop run of one candidate.

    Made from where the candidate stands in its run (round, context, sample) and never
    from its row id in the store: the same config and run.seed give the same rewards
    whatever else the store holds (6dfec00)."""
    key = f"{run_seed}/{round_}/{context_idx}/{cand_idx}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=7).digest(), "big") + rep * REPEAT_SEED_STRIDE


def filter_pick(run_seed: int, round_: int, context_idx: int) -> int:
    """The random-filter control's pick among one context's candidates (``filter.rule = random``)."""
    return run_seed * 31 + round_ * 7 + context_idx


def m_step(run_seed: int, round_: int) -> int:
    """The M-step: its LoRA init (torch's generator) and the order of its minibatches."""
    return run_seed * 17 + round_


# ---------------------------------------------------------------- the held-out evaluation (eval.seed)
def heldout_sampling(eval_seed: int) -> int:
    """The policy's self-edit for each held-out context (used only when eval.temperature > 0)."""
    return eval_seed * 7919


def heldout_adapter(eval_seed: int, context_i: int, condition: str) -> int:
    """The LoRA of held-out context ``context_i`` (its place in the held-out list) under
    ``condition``: "passage" (the task's adaptation without a self-edit) or "self_edit"."""
    return heldout_sampling(eval_seed) + 2 * context_i + (condition == "self_edit")


def multi_passage_adapter(eval_seed: int, condition: str) -> int:
    """The one LoRA of the multi-passage evaluation: "passage" or "self_edit"."""
    return heldout_sampling(eval_seed) + (condition == "self_edit")


def forgetting_order(eval_seed: int) -> int:
    """Which held-out contexts each forgetting sequence applies, in which order."""
    return heldout_sampling(eval_seed)


def forgetting_lora(eval_seed: int, sequence: int, step: int) -> int:
    """The LoRA init of edit ``step`` (1..k) of forgetting sequence ``sequence``."""
    return heldout_sampling(eval_seed) + 101 * sequence + step


def forgetting_schedule(eval_seed: int, step: int) -> int:
    """The minibatch order of edit ``step`` (1..k) of every forgetting sequence."""
    return heldout_sampling(eval_seed) + step


def heldout_self_edit_adapter(eval_seed: int, context_i: int, j: int) -> int:
    """The LoRA of the ``j``-th self-edit of held-out context ``context_i`` (a task samples several
    per context, ``Task.heldout_self_edits``); the first is ``heldout_adapter``'s "self_edit" seed."""
    if j == 0:
        return heldout_adapter(eval_seed, context_i, "self_edit")
    key = f"{eval_seed}/heldout/{context_i}/{j}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=7).digest(), "big")


# ---------------------------------------------------------------- the few-shot task (per ARC task)
# ``seed`` is run.seed for a training task and eval.seed for a held-out one: a held-out task is
# the same instrument in every round and run
def ttt_data(seed: int, task_id: str) -> int:
    """Test-time training data of one ARC task: the translation's shift, colour permutations,
    demonstration orders and which examples the cap keeps (the same for every plan's check and
    adaptation of the task, so the step budget counts the data that is trained on)."""
    key = f"{seed}/ttt/{task_id}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=7).digest(), "big")


def eval_views(seed: int, task_id: str) -> int:
    """One ARC task's evaluation prompts: the random orders of its demonstrations and which
    variant each view is applied to (the same for the unadapted and every adapted model)."""
    key = f"{seed}/views/{task_id}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=7).digest(), "big")
