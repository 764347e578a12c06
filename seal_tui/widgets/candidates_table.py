"""The candidates table: self-edits streaming in, sortable, following the newest.

It follows new rows (cursor on the newest) until the user moves away or sorts;
then new rows wait as pending, counted in the pane's subtitle, until ``f``
(or End, or moving back to the last row) resumes following.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from ..format import first_line
from ..messages import CandidateChosen, FollowChanged
from ..state import Candidate, RunState


class Cell(Text):
    """A table cell that sorts by a value of its own rather than by its text."""

    def __init__(self, text: str, sort_key, style: str = "", justify=None) -> None:
        super().__init__(text, style=style, justify=justify)
        self.sort_key = sort_key


SORTS = {
    # name: (column, reverse, label)
    "arrival": ("round", False, "arrival"),
    "reward": ("reward", True, "reward ↓"),
    "gain": ("gain", True, "gain ↓"),
    "context": ("context", False, "context"),
}
SORT_CYCLE = ("arrival", "reward", "gain", "context")
COLUMN_SORT = {"round": "arrival", "reward": "reward", "gain": "gain", "context": "context",
               "cand": "context"}


def _num(value: float | None) -> float:
    return -math.inf if value is None else value


def kept_cell(c: Candidate) -> Cell:
    if c.review in ("approved", "edited"):
        return Cell("✓ " + c.review, 3, "bold green")
    if c.review == "rejected":
        return Cell("✗ rejected", -1, "red")
    if c.review == "pending":
        return Cell("✎ review", 2, "magenta")
    if c.kept is None:
        return Cell("…" if c.reward is None else "·", 0, "dim")
    return Cell("✓ kept", 1, "green") if c.kept else Cell("✗", -1, "dim")


def row_cells(c: Candidate) -> list[Cell]:
    reward = "…" if c.reward is None else f"{c.reward:.2f}"
    reward_style = "dim" if c.reward is None else ("bold green" if (c.gain or 0) > 0 else "")
    gain_style = "green" if (c.gain or 0) > 0 else ("red" if (c.gain or 0) < 0 else "dim")
    return [
        Cell(str(c.round), c.seq, justify="right"),
        Cell(str(c.context_idx), (c.round, c.context_idx, c.cand_idx), justify="right"),
        Cell(str(c.cand_idx), (c.round, c.context_idx, c.cand_idx), justify="right"),
        Cell(reward, _num(c.reward), reward_style, justify="right"),
        Cell("" if c.gain is None else f"{c.gain:+.2f}", _num(c.gain), gain_style, justify="right"),
        kept_cell(c),
        Cell(first_line(c.self_edit, 200), c.seq),
    ]


class CandidatesTable(DataTable):
    BINDINGS = [
        Binding("enter", "select_cursor", "Open", id="candidates.open", tooltip="Show the candidate in full"),
        Binding("f", "follow", "Follow", id="candidates.follow", tooltip="Jump to the newest candidate and follow new ones"),
        Binding("o", "cycle_sort", "Sort", id="candidates.sort", tooltip="Sort by arrival, reward, gain or context"),
        Binding("end", "follow", "Follow", show=False, id="candidates.end"),
    ]

    COLUMNS = (("round", "Rnd", 3), ("context", "Ctx", 4), ("cand", "#", 3),
               ("reward", "Reward", 6), ("gain", "Gain", 6), ("kept", "Kept", 10),
               ("self_edit", "Self-edit (first line)", None))

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.following = True
        self.sort_name = "arrival"
        self._last_seq = -1
        self._synced_rev = 0
        self._dropped = 0
        self._pending: list[int] = []
        self._shown: set[int] = set()
        self._auto_key: str | None = None
        self._state: RunState | None = None

    def on_mount(self) -> None:
        for key, label, width in self.COLUMNS:
            self.add_column(label, key=key, width=width or 20)

    def on_resize(self) -> None:
        """The self-edit column takes the width the fixed columns leave."""
        fixed = sum((w or 0) + 2 * self.cell_padding for _, _, w in self.COLUMNS)
        width = max(10, self.size.width - fixed - 2 * self.cell_padding - 1)
        column = self.columns.get("self_edit")
        if column is not None and column.width != width:
            column.width = width
            column.auto_width = False
            self._require_update_dimensions = True
            self.refresh()

    # ------------------------------------------------------------------ syncing with the state
    def sync(self, state: RunState) -> None:
        """Add new candidates (or count them as pending) and update changed ones."""
        self._state = state
        if state.rev_candidates <= self._synced_rev and state.candidates_dropped == self._dropped:
            return
        if state.candidates_dropped != self._dropped:
            self._dropped = state.candidates_dropped
            for cid in [c for c in self._shown if c not in state.candidates]:
                self._shown.discard(cid)
                self.remove_row(str(cid))
            self._pending = [c for c in self._pending if c in state.candidates]
        fresh: list[Candidate] = []
        for cand in reversed(state.candidates.values()):
            if cand.seq <= self._last_seq:
                break
            fresh.append(cand)
        fresh.reverse()
        if fresh:
            self._last_seq = fresh[-1].seq
        fresh_ids = {c.id for c in fresh}
        for cand in state.candidates.values():
            if cand.rev > self._synced_rev and cand.id in self._shown and cand.id not in fresh_ids:
                for (key, _, _), cell in zip(self.COLUMNS, row_cells(cand)):
                    self.update_cell(str(cand.id), key, cell)
        self._synced_rev = state.rev_candidates
        if self.following:
            self._add_rows(fresh)
            self._cursor_to_newest()
        else:
            self._pending.extend(c.id for c in fresh)
            if fresh:
                self.post_message(FollowChanged(False, len(self._pending)))

    def _add_rows(self, cands: list[Candidate]) -> None:
        for cand in cands:
            if cand.id in self._shown:
                continue
            self._shown.add(cand.id)
            self.add_row(*row_cells(cand), key=str(cand.id))

    def _cursor_to_newest(self) -> None:
        if self.row_count:
            last = self.row_count - 1
            self._auto_key = self.coordinate_to_cell_key((last, 0)).row_key.value
            self.move_cursor(row=last, animate=False)

    # ------------------------------------------------------------------ following
    def action_follow(self) -> None:
        self.set_following(True)

    def set_following(self, on: bool) -> None:
        if on:
            if self.sort_name != "arrival":
                self.sort_name = "arrival"
                self._apply_sort()
            if self._state is not None:
                self._add_rows([self._state.candidates[c] for c in self._pending
                                if c in self._state.candidates])
            self._pending.clear()
            self.following = True
            self._cursor_to_newest()
        else:
            self.following = False
        self.post_message(FollowChanged(self.following, len(self._pending)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is not self:
            return
        key = event.row_key.value if event.row_key is not None else None
        self.post_message(CandidateChosen(int(key) if key is not None else None))
        if key is not None and key == self._auto_key:
            return
        self._auto_key = None
        at_end = event.cursor_row >= self.row_count - 1 and self.sort_name == "arrival"
        if at_end and not self.following:
            self.set_following(True)
        elif not at_end and self.following:
            self.set_following(False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is not self or event.row_key is None:
            return
        event.stop()
        self.post_message(CandidateChosen(int(event.row_key.value), open_detail=True))

    def on_mouse_scroll_up(self, event) -> None:
        if self.following:
            self.set_following(False)

    # ------------------------------------------------------------------ sorting
    def action_cycle_sort(self) -> None:
        nxt = SORT_CYCLE[(SORT_CYCLE.index(self.sort_name) + 1) % len(SORT_CYCLE)]
        self.sort_by(nxt)

    def sort_by(self, name: str) -> None:
        self.sort_name = name
        if name == "arrival":
            self.set_following(True)
            self._apply_sort()
            return
        self.following = False
        self._apply_sort()
        self.move_cursor(row=0)
        self.post_message(FollowChanged(False, len(self._pending)))

    def _apply_sort(self) -> None:
        column, reverse, _ = SORTS[self.sort_name]
        self.sort(column, key=lambda cell: cell.sort_key, reverse=reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        name = COLUMN_SORT.get(str(event.column_key.value))
        if name:
            self.sort_by(name)

    @property
    def sort_label(self) -> str:
        return SORTS[self.sort_name][2]

    @property
    def pending(self) -> int:
        return len(self._pending)
