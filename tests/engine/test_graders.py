"""The graders: normalisation, exact, contains and token-F1 matching."""

from __future__ import annotations

import pytest

from engine.graders import ContainsGrader, ExactGrader, F1Grader, GradeItem, normalize, token_f1


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
