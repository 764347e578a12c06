"""A table drawn line by line (Textual's line API), for lists that grow while you watch.

Each row is a tuple of (text, sort key, style) per column and is rendered to a
``Strip`` only when it scrolls into view, then cached until that row changes; a
table of thousands of rows costs about what the visible rows cost. Subclasses
say what the rows are (``COLUMNS``) and keep them up to date with ``set_rows``,
``append_rows`` and ``update_row``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from functools import lru_cache

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Column = tuple          # (key, header, width or None for the rest, right-aligned?)
CellValue = tuple       # (text, sort key, style)
parse_style = lru_cache(maxsize=128)(Style.parse)


class LineTable(ScrollView, can_focus=True):
    COLUMNS: tuple[Column, ...] = ()
    MIN_FLEX = 8

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home", "top", "First", show=False, id="table.home"),
        Binding("end", "bottom", "Last", show=False, id="table.end"),
    ]
    COMPONENT_CLASSES = {"line-table--header", "line-table--even", "line-table--cursor"}
    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        & > .line-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .line-table--even { background: $surface-lighten-1 50%; }
        & > .line-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .line-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class Highlighted(Message):
        """The cursor moved onto a row (``row_id`` None: the table is empty)."""

        def __init__(self, table: LineTable, row_id: Hashable | None) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

        @property
        def control(self) -> LineTable:
            return self.table

    class Selected(Highlighted):
        """Enter or a double click on a row."""

    cursor_row: reactive[int] = reactive(-1, always_update=True, repaint=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._order: list[Hashable] = []
        self._values: dict[Hashable, tuple] = {}
        self._versions: dict[Hashable, int] = {}
        self._strips: dict[tuple, Strip] = {}
        self._header_marks: dict[str, str] = {}
        self._moving = False

    # ------------------------------------------------------------------ rows
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def row_ids(self) -> list:
        return list(self._order)

    @property
    def cursor_id(self) -> Hashable | None:
        return self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None

    def row_text(self, row_id: Hashable) -> list[str]:
        return [v[0] for v in self._values[row_id]]

    def set_rows(self, rows: Iterable[tuple[Hashable, tuple]]) -> None:
        """Show exactly ``rows`` (id, values) in this order, keeping the cursor on its row."""
        current = self.cursor_id
        rows = list(rows)
        self._order = [rid for rid, _ in rows]
        for rid, values in rows:
            self.update_row(rid, values)
        for rid in set(self._values) - set(self._order):
            del self._values[rid]
            self._versions.pop(rid, None)
        self._resized()
        self.move_to(self._order.index(current) if current in self._values else 0)

    def append_rows(self, rows: Iterable[tuple[Hashable, tuple]]) -> None:
        for rid, values in rows:
            if rid not in self._values:
                self._order.append(rid)
            self.update_row(rid, values)
        self._resized()

    def update_row(self, row_id: Hashable, values: tuple) -> None:
        if self._values.get(row_id) != values:
            self._values[row_id] = values
            self._versions[row_id] = self._versions.get(row_id, -1) + 1
            self.refresh()

    def remove_rows(self, row_ids: Iterable[Hashable]) -> None:
        gone = set(row_ids)
        current = self.cursor_id
        self._order = [rid for rid in self._order if rid not in gone]
        for rid in gone:
            self._values.pop(rid, None)
            self._versions.pop(rid, None)
        self._resized()
        self.move_to(self._order.index(current) if current in self._values else len(self._order) - 1)

    def sort_rows(self, column: str, reverse: bool = False) -> None:
        i = [c[0] for c in self.COLUMNS].index(column)
        current = self.cursor_id
        self._order.sort(key=lambda rid: self._values[rid][i][1], reverse=reverse)
        self._strips.clear()
        self.refresh()
        if current is not None:
            self.move_to(self._order.index(current))

    def _resized(self) -> None:
        # rows are cut to the width when drawn: the height alone scrolls, and a resize changes nothing here
        self.virtual_size = Size(0, len(self._order) + 1)
        if len(self._strips) > 4 * max(100, len(self._order)):
            self._strips.clear()
        self.refresh()

    # ------------------------------------------------------------------ cursor
    def move_to(self, row: int) -> None:
        """Move the cursor for the program (``user_moved`` is not called)."""
        self._moving = True
        try:
            self.cursor_row = max(-1, min(row, len(self._order) - 1))
        finally:
            self._moving = False

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.call_after_refresh(self._scroll_to_cursor)   # once a new virtual size is laid out
        self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_id))
        if not self._moving:
            self.user_moved(new)

    def user_moved(self, row: int) -> None:
        """The user moved the cursor (keys or mouse); subclasses react."""

    def on_resize(self) -> None:
        self._resized()
        self._scroll_to_cursor()

    def _cursor_in_view(self) -> bool:
        rows_shown = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        return self.cursor_row < 0 or top <= self.cursor_row < top + rows_shown

    def _scroll_to_cursor(self) -> None:
        rows_shown = max(1, self.scrollable_content_region.height - 1)
        top, row = int(self.scroll_y), self.cursor_row
        if row < 0:
            return
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + rows_shown:
            self.scroll_to(y=row - rows_shown + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        if self._order:
            self.cursor_row = max(0, min(len(self._order) - 1, self.cursor_row + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 2))

    def action_top(self) -> None:
        if self._order:
            self.cursor_row = 0

    def action_bottom(self) -> None:
        if self._order:
            self.cursor_row = len(self._order) - 1

    def action_select(self) -> None:
        if self.cursor_id is not None:
            self.post_message(self.Selected(self, self.cursor_id))

    # ------------------------------------------------------------------ mouse
    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.header_clicked(column)
            return
        row = int(self.scroll_y) + event.y - 1
        if 0 <= row < len(self._order):
            self.cursor_row = row
            if event.chain >= 2:
                self.action_select()

    def header_clicked(self, column: str) -> None:
        """A click on a column's header; subclasses sort."""

    def _column_at(self, x: int) -> str | None:
        edge = 0
        for (key, *_rest), width in zip(self.COLUMNS, self._widths(self.scrollable_content_region.width)):
            edge += width + 2
            if x < edge:
                return key
        return None

    # ------------------------------------------------------------------ drawing
    def _widths(self, width: int) -> list[int]:
        fixed = sum((w or 0) + 2 for _, _, w, _ in self.COLUMNS)
        return [w if w is not None else max(self.MIN_FLEX, width - fixed - 2) for _, _, w, _ in self.COLUMNS]


    def set_header_marks(self, marks: dict[str, str]) -> None:
        """Text after column headers, e.g. {"reward": "↓"} for the sorted one."""
        self._header_marks = marks
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    @property
    def pin_cursor(self) -> bool:
        """Keep the cursor's row on screen whatever the layout does (e.g. while following)."""
        return False

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            if self.pin_cursor and not self._cursor_in_view():
                self.call_later(self._scroll_to_cursor)   # the layout changed under the cursor
            return self._header(width)
        row = int(self.scroll_y) + y - 1
        if row >= len(self._order):
            return Strip.blank(width, self.rich_style)
        rid = self._order[row]
        cursor = row == self.cursor_row
        key = (rid, self._versions.get(rid, 0), width, cursor, row % 2, cursor and self.has_focus)
        strip = self._strips.get(key)
        if strip is None:
            if cursor:
                under, over = self.rich_style, self.get_component_rich_style("line-table--cursor")
            else:
                under = self.rich_style + (self.get_component_rich_style("line-table--even")
                                           if row % 2 else Style())
                over = None
            strip = self._strips[key] = self._cells(self._values[rid], width, under, over)
        return strip

    def _header(self, width: int) -> Strip:
        key = ("header", width, tuple(sorted(self._header_marks.items())))
        strip = self._strips.get(key)
        if strip is None:
            labels = [(label + (f" {self._header_marks[k]}" if k in self._header_marks else ""), "", "")
                      for k, label, _, _ in self.COLUMNS]
            strip = self._strips[key] = self._cells(
                labels, width, self.get_component_rich_style("line-table--header"), None)
        return strip

    def _cells(self, values, width: int, under: Style, over: Style | None) -> Strip:
        segments = []
        for (_, _, _, right), w, (text, _, style) in zip(self.COLUMNS, self._widths(width), values):
            if cell_len(text) > w:
                text = set_cell_size(text, w - 1) + "…"
            text = " " * (w - cell_len(text)) + text if right else set_cell_size(text, w)
            cell_style = under + parse_style(style) if style else under
            if over is not None:
                cell_style += over
            segments.append(Segment(f" {text} ", cell_style))
        return Strip(segments).crop_extend(0, width, under + over if over is not None else under)
