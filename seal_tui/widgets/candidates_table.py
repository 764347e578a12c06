"""The candidates table: self-edits streaming in, sortable, following the newest.

A line-API widget (like Toolong's log view): each row is rendered on demand from
a small tuple of values and cached until that candidate changes, so a stream of
thousands of rows costs little more than the rows on screen. It follows new
rows (cursor on the newest) until the user moves away or sorts; then new rows
wait as pending, counted in the pane's subtitle, until ``f`` or End resumes.
"""

from __future__ import annotations

import math
from functools import lru_cache

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..format import first_line
from ..messages import CandidateChosen, FollowChanged
from ..state import Candidate, RunState

# (key, header, width (None: the rest), right-aligned?)
COLUMNS = (("round", "Rnd", 3, True), ("context", "Ctx", 4, True), ("cand", "#", 3, True),
           ("reward", "Reward", 6, True), ("gain", "Gain", 6, True), ("kept", "Kept", 10, False),
           ("self_edit", "Self-edit (first line)", None, False))
COLUMN_INDEX = {key: i for i, (key, *_rest) in enumerate(COLUMNS)}

SORTS = {  # name: (column, reverse, label)
    "arrival": ("round", False, "arrival"),
    "reward": ("reward", True, "reward ↓"),
    "gain": ("gain", True, "gain ↓"),
    "context": ("context", False, "context"),
}
SORT_CYCLE = ("arrival", "reward", "gain", "context")
COLUMN_SORT = {"round": "arrival", "reward": "reward", "gain": "gain", "context": "context", "cand": "context"}

CellValue = tuple  # (text, sort_key, style)
parse_style = lru_cache(maxsize=64)(Style.parse)


def _num(value: float | None) -> float:
    return -math.inf if value is None else value


def kept_value(c: Candidate) -> CellValue:
    if c.review in ("approved", "edited"):
        return ("✓ " + c.review, 3, "bold green")
    if c.review == "rejected":
        return ("✗ rejected", -1, "red")
    if c.review == "pending":
        return ("✎ review", 2, "magenta")
    if c.kept is None:
        return ("…" if c.reward is None else "·", 0, "dim")
    return ("✓ kept", 1, "green") if c.kept else ("✗", -1, "dim")


def row_values(c: Candidate) -> tuple[CellValue, ...]:
    """What a row shows, one (text, sort key, style) per column."""
    gain = c.gain or 0
    place = (c.round, c.context_idx, c.cand_idx)
    return (
        (str(c.round), c.seq, ""),
        (str(c.context_idx), place, ""),
        (str(c.cand_idx), place, ""),
        ("…" if c.reward is None else f"{c.reward:.2f}", _num(c.reward),
         "dim" if c.reward is None else ("bold green" if gain > 0 else "")),
        ("" if c.gain is None else f"{c.gain:+.2f}", _num(c.gain),
         "green" if gain > 0 else ("red" if gain < 0 else "dim")),
        kept_value(c),
        (first_line(c.self_edit, 300), c.seq, ""),
    )


class CandidatesTable(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("enter", "open", "Open", id="candidates.open", tooltip="Show the candidate in full"),
        Binding("f", "follow", "Follow", id="candidates.follow", tooltip="Jump to the newest candidate and follow new ones"),
        Binding("o", "cycle_sort", "Sort", id="candidates.sort", tooltip="Sort by arrival, reward, gain or context"),
        Binding("end", "follow", "Follow", show=False, id="candidates.end"),
        Binding("up", "cursor(-1)", "Up", show=False, id="candidates.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="candidates.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="candidates.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="candidates.page_down"),
        Binding("home", "top", "First", show=False, id="candidates.home"),
    ]
    COMPONENT_CLASSES = {"candidates--header", "candidates--even", "candidates--cursor"}
    DEFAULT_CSS = """
    CandidatesTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        & > .candidates--header { text-style: bold; background: $panel; color: $foreground; }
        & > .candidates--even { background: $surface-lighten-1 50%; }
        & > .candidates--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .candidates--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    cursor_row: reactive[int] = reactive(-1, always_update=True, repaint=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.following = True
        self.sort_name = "arrival"
        self._order: list[int] = []            # candidate ids in display order
        self._values: dict[int, tuple] = {}
        self._versions: dict[int, int] = {}
        self._pending: list[int] = []
        self._strips: dict[tuple, Strip] = {}
        self._last_seq = -1
        self._synced_rev = 0
        self._dropped = 0
        self._state: RunState | None = None
        self._moving = False                    # the cursor is being moved by the table itself

    # ------------------------------------------------------------------ public view
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def row_ids(self) -> list[int]:
        return list(self._order)

    @property
    def cursor_id(self) -> int | None:
        return self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None

    def row_text(self, candidate_id: int) -> list[str]:
        return [v[0] for v in self._values[candidate_id]]

    @property
    def sort_label(self) -> str:
        return SORTS[self.sort_name][2]

    @property
    def pending(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ syncing with the state
    def sync(self, state: RunState) -> None:
        """Add new candidates (or count them as pending) and redraw changed ones."""
        self._state = state
        if state.rev_candidates <= self._synced_rev and state.candidates_dropped == self._dropped:
            return
        if state.candidates_dropped != self._dropped:
            self._dropped = state.candidates_dropped
            keep = [cid for cid in self._order if cid in state.candidates]
            for cid in set(self._order) - set(keep):
                self._values.pop(cid, None)
                self._versions.pop(cid, None)
            current = self.cursor_id
            self._order = keep
            self._pending = [c for c in self._pending if c in state.candidates]
            self._set_cursor(self._order.index(current) if current in self._order else len(keep) - 1)
        fresh: list[Candidate] = []
        for cand in reversed(state.candidates.values()):
            if cand.seq <= self._last_seq:
                break
            fresh.append(cand)
        fresh.reverse()
        if fresh:
            self._last_seq = fresh[-1].seq
        changed = state.changed_candidates(self._synced_rev)
        if changed is None:
            changed = {c.id for c in state.candidates.values() if c.rev > self._synced_rev}
        for cid in changed:
            cand = state.candidates.get(cid)
            if cand is not None and cid in self._values:
                values = row_values(cand)
                if values != self._values[cid]:
                    self._values[cid] = values
                    self._versions[cid] += 1
        self._synced_rev = state.rev_candidates
        for cand in fresh:
            self._values[cand.id] = row_values(cand)
            self._versions[cand.id] = 0
        if self.following:
            self._order.extend(c.id for c in fresh)
            self._resize()
            self._cursor_to_newest()
        else:
            self._pending.extend(c.id for c in fresh)
            self._resize()
            if fresh:
                self.post_message(FollowChanged(False, len(self._pending)))
        self.refresh()

    def _resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)
        if len(self._strips) > 4 * max(100, len(self._order)):
            self._strips.clear()

    # ------------------------------------------------------------------ cursor
    def _set_cursor(self, row: int) -> None:
        self._moving = True
        try:
            self.cursor_row = max(-1, min(row, len(self._order) - 1))
        finally:
            self._moving = False

    def _cursor_to_newest(self) -> None:
        if self._order:
            self._set_cursor(len(self._order) - 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.call_after_refresh(self._scroll_to_cursor)   # once a new virtual size is laid out
        self.refresh()
        self.post_message(CandidateChosen(self.cursor_id))
        if self._moving:
            return
        at_end = new >= len(self._order) - 1 and self.sort_name == "arrival"
        if at_end and not self.following:
            self.set_following(True)
        elif not at_end and self.following:
            self.set_following(False)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        rows_shown = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        row = self.cursor_row
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

    def action_open(self) -> None:
        if self.cursor_id is not None:
            self.post_message(CandidateChosen(self.cursor_id, open_detail=True))

    # ------------------------------------------------------------------ following
    def action_follow(self) -> None:
        self.set_following(True)

    def set_following(self, on: bool) -> None:
        if on:
            if self.sort_name != "arrival":
                self.sort_name = "arrival"
                self._apply_sort()
            self._order.extend(c for c in self._pending if c in self._values)
            self._pending.clear()
            self.following = True
            self._resize()
            self._cursor_to_newest()
        else:
            self.following = False
        self.refresh()
        self.post_message(FollowChanged(self.following, len(self._pending)))

    # ------------------------------------------------------------------ sorting
    def action_cycle_sort(self) -> None:
        self.sort_by(SORT_CYCLE[(SORT_CYCLE.index(self.sort_name) + 1) % len(SORT_CYCLE)])

    def sort_by(self, name: str) -> None:
        self.sort_name = name
        if name == "arrival":
            self._apply_sort()
            self.set_following(True)
            return
        self.following = False
        self._apply_sort()
        self._set_cursor(0)
        self.refresh()
        self.post_message(FollowChanged(False, len(self._pending)))

    def _apply_sort(self) -> None:
        column, reverse, _ = SORTS[self.sort_name]
        i = COLUMN_INDEX[column]
        self._order.sort(key=lambda cid: self._values[cid][i][1], reverse=reverse)

    # ------------------------------------------------------------------ mouse
    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column and column in COLUMN_SORT:
                self.sort_by(COLUMN_SORT[column])
            return
        row = int(self.scroll_y) + event.y - 1
        if 0 <= row < len(self._order):
            self.cursor_row = row
            if event.chain >= 2:
                self.action_open()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.following:
            self.set_following(False)

    def _column_at(self, x: int) -> str | None:
        edge = 0
        for (key, *_rest), width in zip(COLUMNS, self._widths(self.size.width)):
            edge += width + 2
            if x < edge:
                return key
        return None

    # ------------------------------------------------------------------ drawing
    def _widths(self, width: int) -> list[int]:
        fixed = sum((w or 0) + 2 for _, _, w, _ in COLUMNS)
        return [w if w is not None else max(8, width - fixed - 2) for _, _, w, _ in COLUMNS]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header(width)
        row = int(self.scroll_y) + y - 1
        if row >= len(self._order):
            return Strip.blank(width, self.rich_style)
        cid = self._order[row]
        cursor = row == self.cursor_row
        key = (cid, self._versions.get(cid, 0), width, cursor, row % 2, cursor and self.has_focus)
        strip = self._strips.get(key)
        if strip is None:
            if cursor:
                over = self.get_component_rich_style("candidates--cursor")
                under = self.rich_style
            else:
                over = None
                under = self.rich_style + (self.get_component_rich_style("candidates--even")
                                           if row % 2 else Style())
            strip = self._strips[key] = self._cells(self._values[cid], width, under, over)
        return strip

    def _header(self, width: int) -> Strip:
        key = ("header", width, self.sort_name)
        strip = self._strips.get(key)
        if strip is None:
            style = self.get_component_rich_style("candidates--header")
            column, reverse, _ = SORTS[self.sort_name]
            labels = [(label + (" ↓" if key_ == column and self.sort_name != "arrival" else ""), "", "")
                      for key_, label, _, _ in COLUMNS]
            strip = self._strips[key] = self._cells(labels, width, style, None)
        return strip

    def _cells(self, values, width: int, under: Style, over: Style | None) -> Strip:
        segments = []
        for (_, _, _, right), w, (text, _, style) in zip(COLUMNS, self._widths(width), values):
            if cell_len(text) > w:
                text = set_cell_size(text, w - 1) + "…"
            text = text.rjust(w) if right else set_cell_size(text, w)
            cell_style = under + parse_style(style) if style else under
            if over is not None:
                cell_style += over
            segments.append(Segment(f" {text} ", cell_style))
        return Strip(segments).crop_extend(0, width, under)
