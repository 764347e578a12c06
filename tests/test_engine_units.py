"""Unit tests of the engine's pure parts: graders, sequence building, filter, config."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, load_config, preset_names, to_toml
from engine.filter import filter_candidates
from engine.graders import ContainsGrader, ExactGrader, F1Grader, GradeItem, normalize, token_f1
from engine.sequences import qa_pairs, training_sequences


def test_normalize_drops_case_punctuation_articles_and_spaces():
    assert normalize("  The Eiffel   Tower! ") == "eiffel tower"
    assert normalize("An apple, a pear.") == "apple pear"


def test_exact_grader_ignores_case_and_articles_but_not_other_words():
    v = ExactGrader().grade([GradeItem("q", "the Denver Broncos", "Denver broncos."),
                             GradeItem("q", "Denver Broncos", "the Broncos")])
    assert [x.correct for x in v] == [True, False]
    assert v[0].reason and v[1].reason


def test_graders_read_past_an_answer_label():
    items = [GradeItem("q", "harp", "Answer: harp"), GradeItem("q", "harp", "answer:Harp."),
             GradeItem("q", "harp", "The answer is harp")]
    assert [v.correct for v in ExactGrader().grade(items)] == [True, True, False]
    assert [v.correct for v in ContainsGrader().grade(items)] == [True, True, True]


def test_contains_grader_needs_whole_words():
    v = ContainsGrader().grade([GradeItem("q", "1889", "It was built in 1889 by Eiffel."),
                                GradeItem("q", "art", "He studied partitions."),
                                GradeItem("q", "", "anything")])
    assert [x.correct for x in v] == [True, False, False]


def test_f1_grader_threshold():
    assert token_f1("Santa Clara California", "Santa Clara") == pytest.approx(0.8)
    v = F1Grader(0.5).grade([GradeItem("q", "Santa Clara California", "in Santa Clara"),
                             GradeItem("q", "Santa Clara California", "Levi's Stadium")])
    assert [x.correct for x in v] == [True, False]
    assert "0.80" in v[0].reason or "0.67" in v[0].reason


def test_lines_become_title_prefixed_sequences_without_bullets():
    seqs = training_sequences("Paris", "1. The tower is tall.\n\n- It opened in 1889.\n", split="lines")
    assert seqs == ["Paris\nThe tower is tall.", "Paris\nIt opened in 1889."]


def test_passage_is_appended_when_asked():
    seqs = training_sequences("Paris", "A line.", split="lines", context="The passage.", append_passage=True)
    assert seqs[-1] == "Paris\nThe passage." and len(seqs) == 2


def test_qa_split_reads_one_and_two_line_pairs():
    text = "Question: Who built it? Answer: Eiffel\nQ: When?\nA: 1889\nSome note."
    assert qa_pairs(text) == [("Who built it?", "Eiffel"), ("When?", "1889")]
    seqs = training_sequences("Tower", text, split="qa")
    assert seqs == ["Tower\nQuestion: Who built it? Answer: Eiffel", "Tower\nQuestion: When? Answer: 1889"]


def _cands(rewards, baseline=0.2):
    return [{"id": 10 + i, "cand_idx": i, "reward": r, "gain": r - baseline} for i, r in enumerate(rewards)]


def test_filter_keeps_top_k_with_positive_gain():
    from engine.config import FilterCfg
    v = filter_candidates(_cands([0.4, 0.8, 0.1, 0.8]), FilterCfg(top_k=1, min_gain=0.0))
    kept = [x["id"] for x in v if x["kept"]]
    assert kept == [11]  # tie on 0.8 goes to the earlier sample
    assert "gain" in v[2]["reason"] and "rank" in v[0]["reason"]


def test_filter_respects_min_reward_and_top_k():
    from engine.config import FilterCfg
    v = filter_candidates(_cands([0.4, 0.6, 0.9]), FilterCfg(top_k=2, min_gain=-1.0, min_reward=0.5))
    assert [x["kept"] for x in v] == [False, True, True]
    assert "min_reward" in v[0]["reason"]


def test_filter_random_control_ignores_reward():
    from engine.config import FilterCfg
    picks = {next(x["id"] for x in filter_candidates(_cands([0, 0, 0, 1, 0]), FilterCfg(rule="random"), seed=s)
                  if x["kept"]) for s in range(20)}
    assert len(picks) > 1


def test_filter_random_control_keeps_as_many_as_the_reward_rule_would():
    """The control differs from best only in which candidates: where the floors leave none,
    it keeps none; where best keeps 2, it keeps 2 picked at random."""
    from engine.config import FilterCfg
    cfg = FilterCfg(rule="random", top_k=2, min_gain=-1.0, min_reward=0.5)
    assert not any(x["kept"] for x in filter_candidates(_cands([0.25, 0.5, 0.0, 0.5]), cfg))
    picks = set()
    for s in range(30):
        v = filter_candidates(_cands([0.25, 1.0, 0.0, 0.75, 0.0]), cfg, seed=s)
        kept = [x["id"] for x in v if x["kept"]]
        assert len(kept) == 2 and all("control" in x["reason"] for x in v)
        picks.update(kept)
    assert picks == {10, 11, 12, 13, 14}  # any candidate, not only those over the floor


def test_every_preset_loads_and_prints_with_descriptions():
    assert {"sandbox", "squad-small", "squad-paper"} <= set(preset_names())
    paper = load_config(preset="squad-paper")
    assert (paper.inner.lora_r, paper.inner.lora_alpha, paper.inner.epochs, paper.inner.lr) == (32, 64.0, 10, 1e-3)
    assert (paper.mstep.lora_r, paper.mstep.lora_alpha, paper.grader.kind) == (64, 128.0, "llm")
    text = to_toml(paper)
    assert "# inner-loop LoRA rank" in text and "lora_r = 32" in text


@pytest.mark.parametrize("override, named", [
    ("inner.lr=abc", "inner.lr = 'abc': expected a number"),
    ("inner.lr=-1", "inner.lr = -1.0: must be >"),
    ("run.review=maybe", "run.review = 'maybe': expected one of auto, kept, all"),
    ("sample.k=0", "sample.k = 0: must be >= 1"),
    ("grader.kind=gpt", "grader.kind = 'gpt': expected one of exact, contains, f1, llm"),
    ("inner.nope=1", "unknown field inner.nope"),
    ("bogus.x=1", "unknown section [bogus]"),
    ("noequals", "expected section.field=value"),
])
def test_bad_config_values_are_named(override, named):
    with pytest.raises(ConfigError) as err:
        load_config(preset="squad-small", overrides=[override])
    assert named in str(err.value)


def test_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[inner]\nlora_r = 'eight'\n")
    with pytest.raises(ConfigError, match="inner.lora_r = 'eight': expected a whole number"):
        load_config(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[inner\n")
    with pytest.raises(ConfigError, match=str(broken)):
        load_config(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_split_seed_fixes_the_held_out_contexts_across_run_seeds():
    """Comparing seeds means evaluating them on the same held-out contexts: data.split_seed
    fixes the split, while -1 (the default) splits by run.seed."""
    from engine.data import load_run_contexts

    titles = lambda cfg, seed: [c["title"] for c in load_run_contexts(cfg.data, seed)[1]]
    fixed = load_config(preset="sandbox")
    assert fixed.data.split_seed == 0
    assert titles(fixed, 0) == titles(fixed, 1)
    by_run = load_config(preset="sandbox", overrides=["data.split_seed=-1"])
    assert titles(by_run, 0) != titles(by_run, 1)
