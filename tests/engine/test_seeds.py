"""The seeds of a run: the historic formulas, number for number. A changed formula re-draws
every run, and the sandbox's published figures (0.383 / 0.459 / 0.508 / 0.571) move."""

from __future__ import annotations

from engine import seeds


def test_the_run_seeds_keep_their_historic_values():
    assert seeds.torch_global(3) == 3
    assert (seeds.data_split(3, -1), seeds.data_split(3, 0)) == (3, 0)  # data.split_seed = -1: the run's seed
    assert seeds.round_contexts(3, 2) == 3 * 1009 + 2
    assert seeds.e_step(3, 2) == 3 * 104729 + 2
    assert seeds.filter_pick(3, 2, 5) == 3 * 31 + 2 * 7 + 5
    assert seeds.m_step(3, 2) == 3 * 17 + 2
    assert seeds.candidate_lora(0, 1, 2, 3) == 39396721232292046
    assert seeds.candidate_lora(7, 3, 120, 4) == 27201550585268735
    assert seeds.candidate_lora(0, 1, 2, 3, rep=2) - seeds.candidate_lora(0, 1, 2, 3) == 2 * 7_919_000


def test_a_candidates_lora_seed_depends_on_where_it_stands_not_on_the_store():
    """Round, context and sample name a candidate; the same config and seed score it the same
    whatever else the store holds (its row id is no input)."""
    here = {seeds.candidate_lora(0, r, c, k) for r in (1, 2) for c in (0, 1, 2) for k in range(5)}
    assert len(here) == 30
    assert seeds.candidate_lora(1, 1, 0, 0) != seeds.candidate_lora(0, 1, 0, 0)


def test_the_heldout_evaluation_depends_on_eval_seed_only():
    base = 2 * 7919
    assert seeds.heldout_sampling(2) == base
    assert [seeds.heldout_adapter(2, i, c) for i in (0, 1) for c in ("passage", "self_edit")] == \
        [base, base + 1, base + 2, base + 3]
    assert (seeds.multi_passage_adapter(2, "passage"), seeds.multi_passage_adapter(2, "self_edit")) == (base, base + 1)
    assert seeds.forgetting_order(2) == base
    assert seeds.forgetting_lora(2, 1, 3) == base + 101 + 3
    assert seeds.forgetting_schedule(2, 3) == base + 3
