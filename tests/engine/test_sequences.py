"""Turning a self-edit into inner-loop training sequences."""

from __future__ import annotations

from engine.tasks.knowledge.sequences import qa_pairs, training_sequences


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
