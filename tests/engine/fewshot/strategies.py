"""Hypothesis strategies for ARC grids, and the settings every property test here uses."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

# no example database in the work tree, and no deadline: the machine may be busy with benchmarks
PROPERTY = settings(database=None, deadline=None, max_examples=100)


@st.composite
def grids(draw, max_side: int = 30, colours: tuple[int, int] = (0, 9)):
    """A rectangular grid of random shape (1..max_side a side) and colours."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    cells = draw(st.lists(st.integers(*colours), min_size=h * w, max_size=h * w))  # one draw: 30 row draws are slow
    return tuple(tuple(cells[r * w:(r + 1) * w]) for r in range(h))
