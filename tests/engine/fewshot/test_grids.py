"""Grid text formats: what the model reads must parse back to the same grid, and a model's
answer is read as the grid it wrote or as no grid, never as a cut one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.tasks.fewshot.grids import CHAT, COMPACT, grid_format
from tests.engine.fewshot.strategies import PROPERTY, grids

FORMATS = st.sampled_from([CHAT, COMPACT])


@PROPERTY
@given(grids(), FORMATS)
def test_every_grid_round_trips_through_both_formats(g, fmt):
    assert fmt.parse(fmt.render(g)) == g


@PROPERTY
@given(grids(max_side=8), st.sampled_from(["Sure! The output is:\n", "", "Output:\n"]),
       st.sampled_from(["", "\n#", "\nThat is the answer.", "#\n\nInput:\n1 2"]))
def test_chat_answers_are_read_through_the_models_extra_text(g, before, after):
    assert CHAT.parse(before + CHAT.render(g) + after) == g


def test_chat_format_is_rows_of_digits_one_row_a_line():
    assert CHAT.render(((1, 0, 2), (3, 4, 5))) == "1 0 2\n3 4 5"
    assert COMPACT.render(((1, 0, 2), (3, 4, 5))) == "102|345"


def test_chat_parse_reads_numpy_style_brackets_and_the_references_end_marker():
    assert CHAT.parse("[[1 2 3]\n [4 5 6]]#") == ((1, 2, 3), (4, 5, 6))
    assert CHAT.parse("[1, 2]\n[3, 4]") == ((1, 2), (3, 4))


def test_a_ragged_or_missing_grid_is_no_grid():
    assert CHAT.parse("1 2 3\n4 5\n") is None                  # cut short: not rectangular
    assert CHAT.parse("I cannot solve this.") is None
    assert CHAT.parse("") is None
    assert CHAT.parse("12 3\n4 5") is None                     # 12 is not a colour
    assert COMPACT.parse("out 102|34") is None
    assert COMPACT.parse("no digits here") is None


def test_compact_answers_are_read_through_extra_words_and_a_trailing_separator():
    assert COMPACT.parse("out 102|345| and more") == ((1, 0, 2), (3, 4, 5))
    assert COMPACT.parse("102|345#") == ((1, 0, 2), (3, 4, 5))


def test_an_empty_grid_has_no_text_and_formats_are_named():
    with pytest.raises(ValueError):
        CHAT.render(())
    assert grid_format("compact") is COMPACT
    with pytest.raises(ValueError, match="chat, compact"):
        grid_format("words")


@PROPERTY
@given(st.text(), FORMATS)
def test_parsing_any_text_gives_a_rectangular_grid_or_none_and_never_raises(text, fmt):
    g = fmt.parse(text)
    assert g is None or (g and all(len(r) == len(g[0]) and all(0 <= c <= 9 for c in r) for r in g))
