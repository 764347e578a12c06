"""The candidates table: self-edits streaming in, sortable, following the newest.

It follows new rows (cursor on the newest) until the user moves away or sorts;
then new rows wait as pending, counted in the pane's subtitle, until ``f`` or
End resumes following.
"""

from __future__ import annotations

import math

from textual import events
from textual.binding import Binding

from ..format import first_line, signed
from ..messages import CandidateChosen, FollowChanged
from ..state import Candidate, RunState
from .line_table import CellValue, LineTable

SORTS = {  # name: (column, reverse, label)
    "arrival": ("round", False, "arrival"),
    "reward": ("reward", True, "reward ↓"),
    "gain": ("gain", True, "gain ↓"),
    "context": ("context", False, "context"),
}
SORT_CYCLE = ("arrival", "reward", "gain", "context")
COLUMN_SORT = {"round": "arrival", "reward": "reward", "gain": "gain", "context": "context", "cand": "context"}


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


def self_edit_value(c: Candidate) -> CellValue:
    """The task's one-line reading of the self-edit (few-shot: the plan) where it has one, else
    its first line; a self-edit the task could not use says so first."""
    text = c.summary or first_line(c.self_edit, 300)
    if c.invalid:
        return ("invalid · " + text, c.seq, "red")
    return (text, c.seq, "")


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
        (signed(c.gain), _num(c.gain),
         "green" if gain > 0 else ("red" if gain < 0 else "dim")),
        kept_value(c),
        self_edit_value(c),
    )


class CandidatesTable(LineTable):
    COLUMNS = (("round", "Rnd", 3, True), ("context", "Ctx", 4, True), ("cand", "#", 3, True),
               ("reward", "Reward", 6, True), ("gain", "Gain", 6, True), ("kept", "Kept", 10, False),
               ("self_edit", "Self-edit (first line)", None, False))
    PLAN_HEADER = "Self-edit (plan)"      # a task that reads its self-edits as plans (few-shot)
    BINDINGS = [
        Binding("enter", "select", "Open", id="candidates.open", tooltip="Show the candidate in full"),
        Binding("f", "follow", "Follow", id="candidates.follow", tooltip="Jump to the newest candidate and follow new ones"),
        Binding("o", "cycle_sort", "Sort", id="candidates.sort", tooltip="Sort by arrival, reward, gain or context"),
        Binding("end", "follow", "Follow", show=False, id="candidates.end"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.following = True
        self.sort_name = "arrival"
        self._pending: dict[int, tuple] = {}      # rows that arrived while not following
        self._last_seq = -1
        self._synced_rev = 0
        self._dropped = 0

    @property
    def pin_cursor(self) -> bool:
        return self.following

    @property
    def sort_label(self) -> str:
        return SORTS[self.sort_name][2]

    @property
    def pending(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ syncing with the state
    def sync(self, state: RunState) -> None:
        """Add new candidates (or count them as pending) and redraw changed ones."""
        if state.rev_candidates <= self._synced_rev and state.candidates_dropped == self._dropped:
            return
        self._name_self_edits(self.PLAN_HEADER if state.is_fewshot else type(self).COLUMNS[-1][1])
        if state.candidates_dropped != self._dropped:
            self._dropped = state.candidates_dropped
            self.remove_rows([cid for cid in self._order if cid not in state.candidates])
            self._pending = {c: v for c, v in self._pending.items() if c in state.candidates}
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
        self._synced_rev = state.rev_candidates
        for cid in changed:
            if cid in self._values and cid in state.candidates:
                self.update_row(cid, row_values(state.candidates[cid]))
            elif cid in self._pending and cid in state.candidates:
                self._pending[cid] = row_values(state.candidates[cid])
        if self.following:
            self.append_rows((c.id, row_values(c)) for c in fresh)
            self._to_newest()
        else:
            for cand in fresh:   # kept aside, drawn once the user follows again
                self._pending[cand.id] = row_values(cand)
            if fresh:
                self.post_message(FollowChanged(False, len(self._pending)))

    def _name_self_edits(self, header: str) -> None:
        if self.COLUMNS[-1][1] != header:
            self.COLUMNS = (*self.COLUMNS[:-1], (*self.COLUMNS[-1][:1], header, *self.COLUMNS[-1][2:]))
            self._strips.clear()
            self.refresh()

    def _to_newest(self) -> None:
        if self._order:
            self.move_to(len(self._order) - 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        super().watch_cursor_row(old, new)
        self.post_message(CandidateChosen(self.cursor_id))

    def user_moved(self, row: int) -> None:
        at_end = row >= len(self._order) - 1 and self.sort_name == "arrival"
        if at_end and not self.following:
            self.set_following(True)
        elif not at_end and self.following:
            self.set_following(False)

    def action_select(self) -> None:
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
            pending, self._pending = self._pending, {}
            self.append_rows(pending.items())
            self.following = True
            self._to_newest()
        else:
            self.following = False
        self.post_message(FollowChanged(self.following, len(self._pending)))

    # ------------------------------------------------------------------ sorting
    def action_cycle_sort(self) -> None:
        self.sort_by(SORT_CYCLE[(SORT_CYCLE.index(self.sort_name) + 1) % len(SORT_CYCLE)])

    def sort_by(self, name: str) -> None:
        self.sort_name = name
        self._apply_sort()
        if name == "arrival":
            self.set_following(True)
            return
        self.following = False
        self.move_to(0)
        self.post_message(FollowChanged(False, len(self._pending)))

    def _apply_sort(self) -> None:
        column, reverse, _ = SORTS[self.sort_name]
        self.sort_rows(column, reverse)
        self.set_header_marks({column: "↓" if reverse else "↑"} if self.sort_name != "arrival" else {})

    def header_clicked(self, column: str) -> None:
        if column in COLUMN_SORT:
            self.sort_by(COLUMN_SORT[column])

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.following:
            self.set_following(False)
