"""The filter: which candidates the M-step trains on, and the random control."""

from __future__ import annotations

from engine.candidate import Candidate
from engine.config import FilterCfg
from engine.filter import filter_candidates


def _cands(rewards, baseline=0.2):
    return [Candidate(1, 0, i, {}, f"self-edit {i}", id=10 + i, scored=True, reward=r, baseline=baseline,
                      gain=r - baseline) for i, r in enumerate(rewards)]


def _kept(cands, verdicts):
    return [c.id for c, v in zip(cands, verdicts) if v.kept]


def test_filter_keeps_top_k_with_positive_gain():
    cands = _cands([0.4, 0.8, 0.1, 0.8])
    v = filter_candidates(cands, FilterCfg(top_k=1, min_gain=0.0))
    assert _kept(cands, v) == [11]  # tie on 0.8 goes to the earlier sample
    assert "gain" in v[2].reason and "rank" in v[0].reason


def test_filter_respects_min_reward_and_top_k():
    v = filter_candidates(_cands([0.4, 0.6, 0.9]), FilterCfg(top_k=2, min_gain=-1.0, min_reward=0.5))
    assert [x.kept for x in v] == [False, True, True]
    assert "min_reward" in v[0].reason


def test_filter_random_control_ignores_reward():
    cands = _cands([0, 0, 0, 1, 0])
    picks = {_kept(cands, filter_candidates(cands, FilterCfg(rule="random"), seed=s))[0] for s in range(20)}
    assert len(picks) > 1


def test_filter_random_control_keeps_as_many_as_the_reward_rule_would():
    """The control differs from best only in which candidates: where the floors leave none,
    it keeps none; where best keeps 2, it keeps 2 picked at random."""
    cfg = FilterCfg(rule="random", top_k=2, min_gain=-1.0, min_reward=0.5)
    assert not any(x.kept for x in filter_candidates(_cands([0.25, 0.5, 0.0, 0.5]), cfg))
    picks = set()
    cands = _cands([0.25, 1.0, 0.0, 0.75, 0.0])
    for s in range(30):
        v = filter_candidates(cands, cfg, seed=s)
        kept = _kept(cands, v)
        assert len(kept) == 2 and all("control" in x.reason for x in v)
        picks.update(kept)
    assert picks == {10, 11, 12, 13, 14}  # any candidate, not only those over the floor
