"""Grids as text, both ways: what a model reads in a prompt and what it writes back.

Two formats:
- ``CHAT``: one row per line, cells separated by spaces (``1 0 2``), as the reference's
  self-edit prompt shows grids to Llama: a chat tokenizer splits it into one token per cell.
- ``COMPACT``: the cells of a row as digits without separators, rows joined by ``|``
  (``102|340``): a whole grid is one whitespace-free word, one token per digit for a small
  grid tokenizer (the sandbox's), half the tokens of ``CHAT``.

Rendering and parsing round-trip exactly. Parsing tolerates a model's extra text around
the grid (a preamble, a ``#`` end marker, numpy-style brackets) but never guesses: when
the first grid-looking block is not rectangular, the answer is no grid (None), not a cut one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.tasks.fewshot.arc import Grid

# characters a chat model puts around rows that are not cells: numpy/python brackets and commas,
# and the reference's "#" end-of-output marker
_DECORATION = str.maketrans({"[": " ", "]": " ", ",": " ", "#": " "})


@dataclass(frozen=True)
class GridFormat:
    """How one grid is written: cells of a row joined by ``cell_sep``, rows by ``row_sep``."""

    name: str
    cell_sep: str
    row_sep: str

    def render(self, grid: Grid | Sequence[Sequence[int]]) -> str:
        if not grid or not grid[0]:
            raise ValueError("an empty grid has no text form")
        return self.row_sep.join(self.cell_sep.join(str(c) for c in row) for row in grid)

    def parse(self, text: str) -> Grid | None:
        """The first grid in ``text``, or None when there is none or it is not rectangular."""
        rows = _rows_by_line(text) if "\n" in self.row_sep else _rows_in_word(text, self.row_sep)
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            return None
        return tuple(rows)


def _rows_by_line(text: str) -> list[tuple[int, ...]]:
    """The first run of consecutive lines of numbers; empty when a number there is not one digit."""
    block: list[list[str]] = []
    for line in text.splitlines():
        cells = line.translate(_DECORATION).split()
        if cells and all(c.isascii() and c.isdigit() for c in cells):
            block.append(cells)
        elif block:
            break  # the grid ended; later digits are something else
    if any(len(c) != 1 for row in block for c in row):
        return []  # "12" is no colour: a malformed grid, not one to read around
    return [tuple(int(c) for c in row) for row in block]


def _rows_in_word(text: str, row_sep: str) -> list[tuple[int, ...]]:
    """The first whitespace-delimited word made of digit runs joined by ``row_sep``."""
    word = re.compile(r"[0-9]+(?:" + re.escape(row_sep) + r"[0-9]+)*")
    for token in text.split():
        token = token.strip("#")
        if token.endswith(row_sep):
            token = token[: -len(row_sep)]  # a trailing separator is the end of the grid, not an empty row
        if word.fullmatch(token):
            return [tuple(int(c) for c in row) for row in token.split(row_sep)]
    return []


CHAT = GridFormat("chat", " ", "\n")
COMPACT = GridFormat("compact", "", "|")
FORMATS = {f.name: f for f in (CHAT, COMPACT)}


def grid_format(name: str) -> GridFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"grid format {name!r}: expected one of {', '.join(FORMATS)}") from None
