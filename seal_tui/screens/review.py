"""Review self-edits by hand: approve, reject or edit what the policy will train on.

Keys as in Prodigy: ``a`` approve, ``x`` reject, ``e`` edit, ``space`` skip,
``backspace`` undo, ``A`` approve every kept one still pending, ``/`` search.
Every decision is a row written through ``Store.decide``. The queue comes from the
run's events (a live tail through the reducer, as on the dashboard); the decisions
are read again when this console decides and when the engine reports a decision
(``review_decided``), so a second console reviewing the same run shows the same
decisions, and the engine goes on as soon as the round's queue is complete.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, OptionList, Static

from ..format import printable
from ..messages import EventsArrived, Liveness, RunLiveness, SourceFailed
from ..reducer import apply
from ..review_data import ReviewSnapshot, matches, review_snapshot
from ..self_edit_check import schema_problem
from ..sources import LiveTail, relay
from ..state import RunState
from ..widgets.review_evidence import ReviewEvidence
from ..widgets.review_queue import ReviewCounts, ReviewQueue
from .review_editor import SelfEditEditor


def open_review(app, run_id: str) -> None:
    """Push the review screen for ``run_id`` (or bring it back if it is already open)."""
    if isinstance(app.screen, ReviewScreen) and app.screen.run_id == run_id:
        return
    app.push_screen(ReviewScreen(run_id))


class ReviewScreen(Screen):
    AUTO_FOCUS = "#review-queue"
    DEFAULT_CSS = """
    ReviewScreen #review-title { height: 1; padding: 0 1; }
    ReviewScreen #review-status { height: 1; padding: 0 1; }
    ReviewScreen #review-body { height: 1fr; }
    ReviewScreen #review-queue-pane { width: 2fr; }
    ReviewScreen #review-evidence-pane { width: 3fr; }
    ReviewScreen #review-search { display: none; }
    ReviewScreen #review-search.-shown { display: block; }
    ReviewScreen #review-actions { height: 1; }
    ReviewScreen #review-actions Button { margin: 0 1 0 0; }
    """
    BINDINGS = [
        Binding("a", "approve", "Approve", id="review.approve", tooltip="The M-step trains on this self-edit as written"),
        Binding("x", "reject", "Reject", id="review.reject", tooltip="The M-step leaves this self-edit out"),
        Binding("e", "edit", "Edit", id="review.edit", tooltip="Edit the self-edit; the M-step trains on your text"),
        Binding("space", "skip", "Skip", id="review.skip", tooltip="Go to the next pending candidate, deciding nothing"),
        Binding("backspace", "undo", "Undo", id="review.undo", tooltip="Undo your last decision"),
        Binding("A", "approve_all", "Approve all kept", id="review.approve_all",
                tooltip="Approve every candidate the filter kept that is still pending"),
        Binding("slash", "search", "Search", id="review.search", tooltip="Show only candidates whose text matches"),
        Binding("b", "back", "Back", id="review.back", tooltip="Back (decisions are saved as you make them)"),
        Binding("escape", "back", "Back", show=False, id="review.back_escape"),
        Binding("question_mark", "app.help", "Help", id="review.help"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__(id="review-screen")
        self.run_id = run_id
        self.snapshot = ReviewSnapshot(run_id)
        self.state = RunState(run_id=run_id)
        self.liveness: Liveness | None = None
        self.decisions: dict[int, dict] = {}
        self.source: LiveTail | None = None
        self.needle = ""
        self.current_id: int | None = None
        self.undo_stack: list[list[tuple[int, int]]] = []   # per action: (candidate id, decision row id)
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(id="review-title")
        yield ReviewCounts(id="review-counts")
        yield Static(id="review-status")
        yield Input(placeholder="search the queue: title, self-edit, passage (Enter keeps it, Esc clears)",
                    id="review-search")
        with Horizontal(id="review-body"):
            with Vertical(id="review-queue-pane", classes="pane") as queue_pane:
                queue_pane.border_title = "Queue"
                yield ReviewQueue(id="review-queue")
            with Vertical(id="review-evidence-pane", classes="pane") as evidence_pane:
                evidence_pane.border_title = "Candidate"
                yield ReviewEvidence(id="review-evidence")
        with Horizontal(id="review-actions"):
            for label, action in (("Approve a", "approve"), ("Reject x", "reject"), ("Edit e", "edit"),
                                  ("Skip ␣", "skip"), ("Undo ⌫", "undo"), ("All kept A", "approve_all"),
                                  ("Back b", "back")):
                yield Button(label, id=f"review-do-{action}", compact=True, name=action)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ReviewQueue).focus()
        self._show()
        self.source = LiveTail(self.app.runs_dir, self.run_id, poll_s=self.app.poll_s)
        self._pump()

    # ------------------------------------------------------------------ loading
    @work(thread=True, exclusive=True, group="review-source", exit_on_error=False)
    def _pump(self) -> None:
        relay(self.source, self.post_message)

    def on_events_arrived(self, message: EventsArrived) -> None:
        if message.run_id != self.run_id:
            return
        before = self.state.review_waiting_id
        apply(self.state, message.events)
        self.source.ack()
        if not self.loaded or any(e.kind == "review_decided" for e in message.events):
            self.decisions = self.app.store.latest_decisions(self.run_id)
        self.loaded = True
        self._rebuild(new_round=self.state.review_waiting_id != before)

    def on_run_liveness(self, message: RunLiveness) -> None:
        if message.run_id != self.run_id or message.liveness == self.liveness:
            return
        self.liveness = message.liveness
        if not message.liveness.exists:
            self.loaded = True
        self._rebuild()

    def on_source_failed(self, message: SourceFailed) -> None:
        self.notify(f"cannot read the run store: {message.error}", severity="error")

    def _rebuild(self, new_round: bool = False) -> None:
        live = self.liveness
        status = None if live is None else ("stale" if live.stale else live.status)
        self.snapshot = review_snapshot(self.state, self.decisions, status=status,
                                        exists=live is None or live.exists)
        if new_round:
            self.undo_stack.clear()
            self.current_id = self._next_pending(None)
        self._show()

    def refresh_now(self) -> None:
        """Read the decisions again at once (after writing one here)."""
        self.decisions = self.app.store.latest_decisions(self.run_id)
        self._rebuild()

    # ------------------------------------------------------------------ drawing
    @property
    def shown_queue(self) -> list[dict]:
        return [c for c in self.snapshot.queue if matches(self.snapshot, c, self.needle)]

    def _show(self) -> None:
        s = self.snapshot
        title = f"[b]✎ Review[/b] · {printable(s.name or self.run_id)}"
        if s.round is not None:
            title += f" · round {s.round}"
        if s.mode:
            title += f" · mode {s.mode}"
        self.query_one("#review-title", Static).update(title)
        self.query_one(ReviewCounts).show(s)
        self.query_one("#review-status", Static).update(self._status_line())
        visible = self.shown_queue
        if self.current_id not in {c["id"] for c in visible}:
            self.current_id = visible[0]["id"] if visible else None
        self.query_one(ReviewQueue).show(s, visible, self.current_id)
        pane = self.query_one("#review-queue-pane")
        pane.border_subtitle = (f"{len(visible)} of {len(s.queue)} match “{self.needle}”" if self.needle
                                else f"{len(s.queue)} in the queue")
        current = next((c for c in visible if c["id"] == self.current_id), None)
        self.query_one(ReviewEvidence).show(s, current, self._empty_text())

    def _status_line(self) -> str:
        s = self.snapshot
        if not self.loaded:
            return "[dim]reading the run store…[/]"
        if not s.exists:
            return f"[b red]no run {self.run_id} in {self.app.runs_dir}[/]"
        if s.waiting_event_id is None:
            return f"[dim]nothing to review: this run ({s.status.replace('_', ' ')}) has not asked for review[/]"
        if s.done is not None:
            d = s.done
            timed = " (the review timed out)" if d.get("timed_out") else ""
            return (f"[b green]round {s.round} reviewed{timed}: {d.get('approved', 0)} approved, "
                    f"{d.get('edited', 0)} edited, {d.get('rejected', 0)} rejected; "
                    f"the engine went on ({s.status.replace('_', ' ')})[/]")
        pending = s.counts()["pending"]
        if pending == 0:
            return "[b green]every candidate decided: the engine picks the decisions up and trains[/]"
        if s.status == "stale":
            return ("[b dark_orange]the engine is not running; decisions made now are kept "
                    "and used when the run is resumed[/]")
        return f"[b magenta]the engine waits for {pending} more decision{'s' * (pending != 1)}[/]"

    def _empty_text(self) -> str:
        if self.snapshot.queue and self.needle:
            return f"No candidate matches “{self.needle}”. Press / to change the search."
        return "Nothing to review." if self.loaded else "Reading the run store…"

    # ------------------------------------------------------------------ moving
    def _next_pending(self, after: int | None) -> int | None:
        """The next undecided candidate after ``after`` (wrapping), else ``after`` itself."""
        visible = self.shown_queue
        ids = [c["id"] for c in visible]
        start = ids.index(after) + 1 if after in ids else 0
        for cid in ids[start:] + ids[:start]:
            if cid not in self.snapshot.decisions:
                return cid
        return after if after in ids else (ids[0] if ids else None)

    @on(OptionList.OptionHighlighted, "#review-queue")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None and int(event.option.id) != self.current_id:
            self.current_id = int(event.option.id)
            self._show()

    @property
    def current(self) -> dict | None:
        return next((c for c in self.snapshot.queue if c["id"] == self.current_id), None)

    # ------------------------------------------------------------------ deciding
    def _can_decide(self) -> bool:
        s = self.snapshot
        if not s.open:
            self.notify("No review is open for this run: decisions would not be used." if s.done is None
                        else f"Round {s.round}'s review is over: the engine already trained on its decisions.",
                        severity="warning")
            return False
        if self.current is None:
            self.notify("No candidate selected.", severity="warning")
            return False
        return True

    def _decide(self, decisions: list[tuple[int, str, str | None]]) -> None:
        store = self.app.store
        done = [(cid, store.decide(self.run_id, cid, decision, edited_text=text))
                for cid, decision, text in decisions]
        self.undo_stack.append(done)
        self.refresh_now()

    def _decide_current(self, decision: str, text: str | None = None) -> None:
        cid = self.current_id
        self._decide([(cid, decision, text)])
        self.current_id = self._next_pending(cid)
        self._show()

    def action_approve(self) -> None:
        if self._can_decide():
            self._decide_current("approve")

    def action_reject(self) -> None:
        if self._can_decide():
            self._decide_current("reject")

    def action_edit(self) -> None:
        if not self._can_decide():
            return
        cand = self.current
        # the text as the model wrote it (the screen shows it with control characters taken out)
        written = (self.app.store.candidates_by_id([cand["id"]]).get(cand["id"]) or cand)["self_edit"]
        decision = self.snapshot.decisions.get(cand["id"])
        text = decision["edited_text"] if decision and decision["decision"] == "edit" else written

        def saved(new_text: str | None) -> None:
            self.query_one(ReviewQueue).focus()
            if new_text is None or self.current_id != cand["id"]:
                return
            if new_text == written:
                self.notify("Unchanged: approved as the model wrote it.")
                self._decide_current("approve")
            else:
                self._decide_current("edit", new_text)

        schema = self.snapshot.self_edit_schema
        # a plan is checked against the task's schema; the model's own text goes as an approval
        check = None if schema is None else (lambda new: None if new == written else schema_problem(new, schema))
        guide = None if schema is None else ("The M-step trains on what you save here: JSON that fits the task's "
                                            "self-edit schema (checked on save); the model's own text stays recorded.")
        self.app.push_screen(SelfEditEditor(text or "", f"Edit self-edit #{cand['id']} · "
                                            f"{printable(cand.get('title') or '')}", check=check, help_text=guide), saved)

    def action_skip(self) -> None:
        if self.current_id is not None:
            self.current_id = self._next_pending(self.current_id)
            self._show()

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify("Nothing to undo: no decision made from this console in this round.")
            return
        if not self.snapshot.open:
            self.notify(f"Round {self.snapshot.round}'s review is over: its decisions can no longer change.",
                        severity="warning")
            return
        last = self.undo_stack.pop()
        latest = self.app.store.latest_decisions(self.run_id)
        undone, kept = [], []
        for cid, row_id in last:
            row = latest.get(cid)
            if row is not None and row["id"] == row_id:
                self.app.store.decide(self.run_id, cid, "undo")
                undone.append(cid)
            elif row is not None:
                kept.append(f"#{cid} ({row['who']} decided since)")
        if kept:
            self.notify("Not undone, decided again elsewhere: " + ", ".join(kept), severity="warning")
        if undone:
            self.current_id = undone[0]
            self.notify(f"Undone: {len(undone)} decision{'s' * (len(undone) != 1)}.")
        self.refresh_now()

    def action_approve_all(self) -> None:
        s = self.snapshot
        if not s.open:
            self._can_decide()
            return
        todo = [c["id"] for c in s.queue if c.get("kept") and c["id"] not in s.decisions]
        if not todo:
            self.notify("No kept candidate is pending.")
            return
        self._decide([(cid, "approve", None) for cid in todo])
        self.notify(f"Approved {len(todo)} kept candidate{'s' * (len(todo) != 1)}.")
        self.current_id = self._next_pending(self.current_id)
        self._show()

    # ------------------------------------------------------------------ searching, mouse, leaving
    def action_search(self) -> None:
        box = self.query_one("#review-search", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#review-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self._show()

    @on(Input.Submitted, "#review-search")
    def _search_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.remove_class("-shown")
        self.query_one(ReviewQueue).focus()

    @on(Button.Pressed, "#review-actions Button")
    async def _button(self, event: Button.Pressed) -> None:
        event.stop()
        await self.run_action(event.button.name)

    def action_back(self) -> None:
        box = self.query_one("#review-search", Input)
        if box.has_focus:
            box.value = ""
            box.remove_class("-shown")
            self.query_one(ReviewQueue).focus()
            return
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "review-source")
