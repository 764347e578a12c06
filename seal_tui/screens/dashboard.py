"""The run dashboard: one run, live, from its events.

An event source (a thread worker) posts batches of events; the reducer folds them
into ``RunState``; a throttled sync (at most ~10 per second) redraws only the
panes whose part of the state changed. Live tail, attach and replay differ only
in the source.
"""

from __future__ import annotations

import time
from collections import deque

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from engine.store.facts import LIVE_STATUSES

from ..format import clock_time
from ..imported import is_imported, no_self_edits
from ..launcher import EngineProcess
from ..messages import CandidateChosen, EventsArrived, FollowChanged, Liveness, RunLiveness, SourceFailed
from ..reducer import apply
from ..sources import EventSource, LiveTail, relay
from ..state import RunState
from ..widgets.accuracy_plot import AccuracyView
from ..widgets.candidate_detail import CandidateDetail
from ..widgets.candidates_table import CandidatesTable
from ..widgets.engine_log import EngineLog
from ..widgets.eval_pane import EvalView
from ..widgets.footer import KeyFooter
from ..widgets.pane import Pane
from ..widgets.rewards_pane import RewardsPane
from ..widgets.run_header import RunHeader
from ..widgets.system_pane import SystemPane
from .confirm import ConfirmScreen

PANES = (("candidates", "Candidates"), ("detail", "Detail"), ("rewards", "Rewards"),
         ("accuracy", "Accuracy"), ("system", "System"), ("log", "Log"), ("evals", "Evals"))
ALONE = ("evals",)           # panes that need the whole width: shown one at a time, with the tab strip
PANE_NAMES = tuple(name for name, _ in PANES)
SYNC_INTERVAL_S = 0.1        # the most often panes redraw while events stream in
DETAIL_FOLLOW_S = 0.5        # the most often the detail pane changes while following new rows
NARROW_WIDTH, NARROW_HEIGHT = 110, 32   # below either, one pane at a time with a tab strip
READ_ONLY_OFF = ("pause", "stop", "review")   # what an imported run cannot do: no engine behind it


class DashboardScreen(Screen):
    BINDINGS = [
        Binding("p", "pause", "Pause/resume", id="dashboard.pause", tooltip="Ask the engine to pause, or to resume"),
        Binding("s", "stop", "Stop", id="dashboard.stop", tooltip="Stop the run (asks first)"),
        Binding("tab", "next_pane", "Next pane", id="dashboard.next_pane", tooltip="Move the keys to the next pane"),
        Binding("shift+tab", "prev_pane", "Previous pane", show=False, id="dashboard.prev_pane"),
        Binding("enter", "open_candidate", "Open candidate", id="dashboard.open_candidate",
                tooltip="Show the selected candidate in full"),
        Binding("R", "review", "Review", id="dashboard.review", tooltip="Approve, reject or edit the self-edits awaiting review"),
        Binding("e", "toggle_evals", "Evals", id="dashboard.evals",
                tooltip="Held-out evaluations per round: single passage, multi-passage, forgetting heatmap "
                        "(again: back to the pane before)"),
        Binding("b", "back", "Back", id="dashboard.back", tooltip="Back to the runs (the run keeps going)"),
        Binding("escape", "back", "Back", show=False, id="dashboard.back_escape"),
        Binding("q", "app.quit", "Quit", show=False, id="dashboard.quit",
                tooltip="Quit the console (the run keeps going; seal-tui attach comes back to it)"),
        Binding("question_mark", "app.help", "Help", id="dashboard.help"),
        *(Binding(str(i), f"show_pane('{name}')", f"{title} pane", show=False, id=f"dashboard.pane_{name}")
          for i, (name, title) in enumerate(PANES, 1)),
    ]

    def __init__(self, run_id: str, *, source: EventSource | None = None,
                 process: EngineProcess | None = None) -> None:
        super().__init__(id="dashboard-screen")
        self.run_id = run_id
        self.source = source
        self.process = process
        self.state = RunState(run_id=run_id)
        self.liveness: Liveness | None = None
        self.notice: str | None = None
        self.current_pane = "candidates"
        self._pane_before_alone = "candidates"
        self.selected_id: int | None = None
        self.lag_samples: deque = deque(maxlen=2000)   # seconds from event written to shown
        self._lag_event_id = 0
        self._sync_scheduled = False
        self._last_sync = 0.0
        self._synced: dict[str, int] = {}
        self._process_reported = False
        self._detail_timer = None
        self._detail_shown_at = 0.0
        self._ticker = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield RunHeader(id="run-header")
        yield Static(id="pane-tabs")
        with Container(id="panes"):
            yield Pane(CandidatesTable(id="candidates"), name="candidates", title="Candidates")
            yield Pane(CandidateDetail(id="detail"), name="detail", title="Detail")
            yield Pane(VerticalScroll(RewardsPane(id="rewards"), id="rewards-scroll"), name="rewards",
                       title="Rewards per round")
            yield Pane(AccuracyView(id="accuracy-view"), name="accuracy", title="Accuracy per round")
            yield Pane(SystemPane(id="system"), name="system", title="System")
            yield Pane(EngineLog(id="log"), name="log", title="Engine log")
            yield Pane(EvalView(id="evals-view"), name="evals", title="Held-out evaluations per round")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.source is None:
            self.source = LiveTail(self.app.runs_dir, self.run_id, poll_s=self.app.poll_s)
        self._apply_size(self.app.size.width, self.app.size.height)
        self._show_pane(self.current_pane, focus=True)
        self._sync()
        self._pump()
        self._ticker = self.set_interval(1.0, self._tick)

    def on_screen_suspend(self) -> None:
        # under a dialog (help, confirm) nothing here needs to move: a message to a screen under
        # another one has Textual repaint both, about 3% of a core once a second
        if self._ticker is not None:
            self._ticker.pause()

    def on_screen_resume(self) -> None:
        if self._ticker is not None:
            self._ticker.resume()
            self._tick()

    def on_resize(self, event) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        narrow = width < NARROW_WIDTH or height < NARROW_HEIGHT
        self.set_class(narrow, "-narrow")
        self._render_tabs()

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def _render_tabs(self) -> None:
        parts = []
        for i, (name, title) in enumerate(PANES, 1):
            label = f" {i} {title} "
            parts.append(f"[reverse b]{label}[/]" if name == self.current_pane
                         else f"[@click=screen.show_pane('{name}')]{label}[/]")
        self.query_one("#pane-tabs", Static).update("│".join(parts))

    def _show_pane(self, name: str, focus: bool = True) -> None:
        if name in ALONE and self.current_pane not in ALONE:
            self._pane_before_alone = self.current_pane
        self.current_pane = name
        self.set_class(name in ALONE, "-alone")
        for pane in self.query(Pane):
            pane.set_class(pane.pane_name == name, "-current")
        self._render_tabs()
        if focus:
            self.query_one(f"#{name}-pane", Pane).focus_target.focus()

    def action_show_pane(self, name: str) -> None:
        self._show_pane(name)

    def action_toggle_evals(self) -> None:
        self._show_pane(self._pane_before_alone if self.current_pane == "evals" else "evals")

    def _cycle_pane(self, step: int) -> None:
        """Tab order: every tab when one pane shows at a time; in the grid, the panes it shows."""
        names = [n for n in PANE_NAMES if self.narrow or n not in ALONE or n == self.current_pane]
        self._show_pane(names[(names.index(self.current_pane) + step) % len(names)])

    def action_next_pane(self) -> None:
        self._cycle_pane(1)

    def action_prev_pane(self) -> None:
        self._cycle_pane(-1)

    def on_descendant_focus(self, event) -> None:
        for node in event.widget.ancestors_with_self:
            if isinstance(node, Pane):
                if node.pane_name != self.current_pane:
                    self._show_pane(node.pane_name, focus=False)
                return

    # ------------------------------------------------------------------ events in
    @work(thread=True, exclusive=True, group="event-source", exit_on_error=False)
    def _pump(self) -> None:
        relay(self.source, self.post_message)

    def on_events_arrived(self, message: EventsArrived) -> None:
        if message.run_id != self.run_id:
            return
        imported = is_imported(self.state)
        apply(self.state, message.events)
        self.source.ack()
        if is_imported(self.state) != imported:   # a read-only run: pause, stop and review leave the footer,
            self.refresh_bindings()               # and every pane says what its file holds
            self._synced.clear()
        self._schedule_sync()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in READ_ONLY_OFF and is_imported(self.state):
            return False
        return super().check_action(action, parameters)

    def on_run_liveness(self, message: RunLiveness) -> None:
        changed = message.liveness != self.liveness
        self.liveness = message.liveness
        if changed:
            self._update_notice()
            self._schedule_sync()

    def on_source_failed(self, message: SourceFailed) -> None:
        self.notice = f"cannot read the run store: {message.error}"
        self._schedule_sync()

    def _schedule_sync(self) -> None:
        if self._sync_scheduled:
            return
        self._sync_scheduled = True
        wait = max(0.005, SYNC_INTERVAL_S - (time.monotonic() - self._last_sync))
        self.set_timer(wait, self._sync)

    def _tick(self) -> None:
        """Once a second: elapsed and ETA move on; a spawned engine that died is reported."""
        self._check_process()
        self._sync()

    # ------------------------------------------------------------------ status
    def display_status(self) -> str:
        live = self.liveness
        if live is not None and live.stale:
            return "stale"
        if self.state.events_seen == 0:
            if self.process is not None and self.process.exit_code() is not None:
                return "failed"
            if live is not None and live.exists and live.status:
                return live.status
            return "starting"
        if live is not None and live.status == "failed" and self.state.status in LIVE_STATUSES:
            return "failed"
        return self.state.status

    def now(self) -> float:
        """The time elapsed and ETA count to: the source's (a replay's) or the wall clock."""
        clock = getattr(self.source, "clock", None)
        if clock is not None:
            return clock()
        live = self.liveness
        if live is not None and live.stale:   # a dead engine's run stopped at its last sign of life
            last = max((t for t in (live.heartbeat_at, self.state.last_ts) if t is not None), default=None)
            if last is not None:
                return last
        return self.app.clock()

    def _update_notice(self) -> None:
        live = self.liveness
        if live is not None and live.stale:
            beat = f" at {clock_time(live.heartbeat_at)}" if live.heartbeat_at else ""
            self.notice = f"stale: the engine stopped responding{beat} · to continue: seal-tui resume {self.run_id}"
        elif live is not None and live.status == "failed" and live.error and not self.state.error:
            self.notice = f"error: {live.error}"
        elif not self._process_reported:
            self.notice = None

    def _check_process(self) -> None:
        proc = self.process
        if proc is None or self._process_reported:
            return
        code = proc.exit_code()
        if code is None:
            return
        self._process_reported = True
        log = self.query_one(EngineLog)
        now = self.app.clock()
        if not self.state.is_live and self.state.events_seen:
            if code != 0:   # the engine recorded how it ended; its log already says why
                log.console_line(now, "info", f"engine process {proc.pid} exited with code {code}")
            return
        tail = proc.output_tail()
        last = tail.strip().splitlines()[-1] if tail.strip() else "no output"
        self.notice = f"engine exited with code {code}: {last}  (full output: {proc.output_path})"
        log.console_line(now, "error", f"engine process {proc.pid} exited with code {code}; its last output:")
        log.console_line(now, "error", tail or "(none)")
        self._schedule_sync()

    # ------------------------------------------------------------------ drawing
    def _changed(self, section: str, rev: int) -> bool:
        if self._synced.get(section) == rev:
            return False
        self._synced[section] = rev
        return True

    def _sync(self) -> None:
        self._sync_scheduled = False
        self._last_sync = time.monotonic()
        s = self.state
        self.query_one(RunHeader).show(s, self.display_status(), self.now(), self.notice)
        table = self.query_one(CandidatesTable)
        if self._changed("candidates", s.rev_candidates) or self._changed("dropped", s.candidates_dropped):
            table.sync(s)
            self._candidates_subtitle()
            if self.selected_id is not None and self._detail_timer is None:
                self.query_one(CandidateDetail).show(s, self.selected_id)
        if self._changed("rewards", s.rev_rewards):
            self.query_one(RewardsPane).show(s)
        if self._changed("metrics", s.rev_metrics):
            self.query_one(AccuracyView).show(s)
        if self._changed("telemetry", s.rev_telemetry):
            self.query_one(SystemPane).show(s)
        if self._changed("log", s.rev_log):
            self.query_one(EngineLog).sync(s)
        if self._changed("evals", s.rev_evals):
            self.query_one(EvalView).show(s)
        if s.last_ts is not None and s.is_live and s.last_event_id != self._lag_event_id:
            # only a redraw that shows new events: the once-a-second one (elapsed, ETA) shows no lag
            self._lag_event_id = s.last_event_id
            self.call_after_refresh(self._record_lag, s.last_ts)

    def _record_lag(self, written_ts: float) -> None:
        """How old the newest event was when the frame showing it was drawn (for bench/console.py)."""
        self.lag_samples.append(time.time() - written_ts)

    def _candidates_subtitle(self) -> None:
        table = self.query_one(CandidatesTable)
        pane = self.query_one("#candidates-pane", Pane)
        if not table.row_count and is_imported(self.state) and self.state.events_seen:
            pane.border_subtitle = no_self_edits(self.state.config)
            return
        sub = f"{table.row_count} shown · {table.sort_label}"
        if table.pending:
            sub += f" · ▼ {table.pending} new: f to follow"
        elif table.following:
            sub += " · following"
        pane.border_subtitle = sub

    @on(FollowChanged)
    def _follow_changed(self) -> None:
        self._candidates_subtitle()

    @on(CandidateChosen)
    def _candidate_chosen(self, message: CandidateChosen) -> None:
        if message.candidate_id is None:
            return
        self.selected_id = message.candidate_id
        wait = DETAIL_FOLLOW_S - (time.monotonic() - self._detail_shown_at)
        if self.query_one(CandidatesTable).following and not message.open_detail and wait > 0:
            # following a fast stream: show the newest candidate at most twice a second
            if self._detail_timer is None:
                self._detail_timer = self.set_timer(wait, self._show_selected)
            return
        self._show_selected()
        if message.open_detail:
            self._show_pane("detail")

    def _show_selected(self) -> None:
        self._detail_timer = None
        self._detail_shown_at = time.monotonic()
        if self.selected_id is not None:
            self.query_one(CandidateDetail).show(self.state, self.selected_id)

    # ------------------------------------------------------------------ actions
    def action_open_candidate(self) -> None:
        if self.selected_id is not None:
            self.query_one(CandidateDetail).show(self.state, self.selected_id)
            self._show_pane("detail")

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_review(self) -> None:
        from .review import open_review

        open_review(self.app, self.run_id)

    def action_pause(self) -> None:
        status = self.display_status()
        if status in ("running", "awaiting_review", "created", "starting"):
            self.app.store.send_command(self.run_id, "pause")
            self.notify("Pause requested: the engine pauses after its current step.", title="Pause")
        elif status == "paused":
            self.app.store.send_command(self.run_id, "resume")
            self.notify("Resume requested.", title="Resume")
        elif status == "stale":
            self.notify(f"The run's engine is gone, so nothing can pause it. To continue the run from its "
                        f"last completed phase: seal-tui resume {self.run_id}", severity="warning")
        else:
            self.notify(f"The run is {status.replace('_', ' ')}: nothing to pause or resume.",
                        severity="warning")

    def action_stop(self) -> None:
        status = self.display_status()
        if status not in LIVE_STATUSES and status != "starting":
            self.notify(f"The run is {status.replace('_', ' ')}: nothing to stop.", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.app.store.send_command(self.run_id, "stop")
                self.notify("Stop requested: the engine stops after its current step.", title="Stop")

        self.app.push_screen(ConfirmScreen(
            f"Stop run {self.state.name or self.run_id}?",
            "The engine finishes its current step, records the run as stopped and exits. "
            "Rounds already trained keep their saved policies.", yes_label="Stop"), done)

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "event-source")
