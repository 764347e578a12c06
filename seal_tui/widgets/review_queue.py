"""The review queue: one line per candidate awaiting a decision, and the counts above it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from engine.store.facts import REVIEW_STATES

from ..format import num, printable, signed
from ..review_data import ReviewSnapshot

STATE_MARK = {"pending": ("·", "dim"), "approved": ("✓", "bold green"),
              "edited": ("✎", "bold cyan"), "rejected": ("✗", "bold red")}


def queue_line(snapshot: ReviewSnapshot, cand: dict) -> Text:
    state = snapshot.state_of(cand["id"])
    mark, style = STATE_MARK[state]
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{mark} {state:<8} ", style=style)
    line.append(f"{num(cand.get('reward')):>5} ", style="bold")
    gain = cand.get("gain") or 0
    line.append(f"{signed(cand.get('gain')):>6} ", style="green" if gain > 0 else "red" if gain < 0 else "dim")
    line.append(f"#{cand['id']} ", style="dim")
    if not cand.get("kept"):
        line.append("dropped ", style="dim italic")
    line.append(printable(cand.get("title") or f"context {cand['context_idx']}").replace("\n", " "))
    if cand.get("summary"):   # the task's reading of the self-edit (few-shot: the plan)
        line.append(f" · {printable(cand['summary'])}", style="cyan")
    return line


class ReviewQueue(OptionList):
    """The queue (↑/↓ or a click picks the candidate shown on the right)."""

    DEFAULT_CSS = """
    ReviewQueue, ReviewQueue:focus { border: none; height: 1fr; padding: 0; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show(self, snapshot: ReviewSnapshot, visible: list[dict], current: int | None) -> None:
        ids = [str(c["id"]) for c in visible]
        if ids != [o.id for o in self.options]:
            self.set_options([Option(queue_line(snapshot, c), id=str(c["id"])) for c in visible])
        else:
            for c in visible:
                self.replace_option_prompt(str(c["id"]), queue_line(snapshot, c))
        if current is not None and str(current) in ids:
            index = ids.index(str(current))
            if self.highlighted != index:
                self.highlighted = index
        elif ids and self.highlighted is None:
            self.highlighted = 0

    @property
    def current_id(self) -> int | None:
        option = self.highlighted_option
        return int(option.id) if option is not None and option.id else None


class ReviewCounts(Horizontal):
    """pending / approved / rejected / edited, and how far the round's review has come."""

    DEFAULT_CSS = """
    ReviewCounts { height: 1; padding: 0 1; }
    ReviewCounts #review-counts-text { width: auto; max-width: 100%; }
    ReviewCounts ProgressBar { width: 1fr; padding-left: 1; }
    ReviewCounts ProgressBar Bar { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="review-counts-text")
        yield ProgressBar(total=1, show_eta=False, id="review-progress")

    def show(self, snapshot: ReviewSnapshot) -> None:
        counts = snapshot.counts()
        total = len(snapshot.queue)
        self.query_one(ProgressBar).update(total=max(1, total), progress=total - counts["pending"])
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{total - counts['pending']}/{total} decided", style="bold")
        for state in REVIEW_STATES:
            mark, style = STATE_MARK[state]
            text.append(f"  {mark} {state} {counts[state]}", style=style if counts[state] else "dim")
        self.query_one("#review-counts-text", Static).update(text)
