"""The home screen: every run in the store, newest first."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from engine.store.facts import LIVE_STATUSES

from ..messages import RunsLoaded
from ..run_colors import run_colors
from ..widgets.footer import KeyFooter
from ..widgets.runs_table import RunsTable

REFRESH_S = 2.0
MAX_COMPARE = 5


class RunsScreen(Screen):
    AUTO_FOCUS = "#runs-table"   # not the hidden filter box: the footer is built once, with the table's keys
    BINDINGS = [
        Binding("enter", "open_run", "Open", id="runs.open", tooltip="Open the selected run's dashboard"),
        Binding("n", "new_run", "New run", id="runs.new", tooltip="Start a run from a preset or a TOML file"),
        Binding("slash", "filter", "Filter", id="runs.filter", tooltip="Show only runs whose name, status, preset or model match"),
        Binding("R", "review", "Review", id="runs.review",
                tooltip="Review the self-edits of the selected run, or of the first run awaiting review"),
        Binding("d", "delete_run", "Delete", id="runs.delete", tooltip="Delete the selected run (not while it runs)"),
        Binding("question_mark", "app.help", "Help", id="runs.help"),
        Binding("q", "app.quit", "Quit", id="runs.quit", tooltip="Quit the console (runs keep running)"),
        # after Quit: at 80 columns the footer keeps the keys above; these are in ? and the palette
        Binding("r", "replay", "Replay", id="runs.replay",
                tooltip="Play the run's recorded events in its dashboard (pause, speed, step, seek)"),
        Binding("space", "toggle_select", "Select", id="runs.select",
                tooltip=f"Select or unselect the run for Compare (2 to {MAX_COMPARE})"),
        Binding("c", "compare", "Compare", id="runs.compare",
                tooltip="Compare the selected runs: accuracy and reward curves, configs side by side"),
    ]

    def __init__(self) -> None:
        super().__init__(id="runs-screen")
        self.runs: list[dict] = []
        self.needle = ""
        self.selected: list[str] = []      # run ids marked for Compare, in the order marked
        self._resumed = False
        self._reader = None
        self._refresher = None

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        yield Input(placeholder="filter runs: name, status, preset or model (Enter keeps it, Esc clears)",
                    id="runs-filter")
        yield RunsTable(id="runs-table")
        yield Static(id="runs-empty")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#runs-title", Static).update(
            f"[b]seal-tui[/b] · runs in [i]{self.app.display_runs_dir}[/i]")
        from engine.store import StoreError

        try:
            self.runs = self.app.store.runs_with_status()
        except (OSError, StoreError) as exc:     # the store itself refuses (not a database, newer schema...)
            self.app.exit(return_code=2, message=f"seal-tui: {exc}")
            return
        self._show()
        self.query_one(RunsTable).focus()
        self._refresher = self.set_interval(REFRESH_S, self._refresh_if_shown)

    def on_screen_suspend(self) -> None:
        if self._refresher is not None:     # under another screen or a dialog the list waits (see DashboardScreen)
            self._refresher.pause()

    def on_screen_resume(self) -> None:
        if self._refresher is not None:
            self._refresher.resume()
        if self._resumed:      # the first time, on_mount has just read them
            self.reload()
        self._resumed = True

    # ------------------------------------------------------------------ loading
    def _refresh_if_shown(self) -> None:
        if self.is_current:
            self.reload()

    @work(thread=True, exclusive=True, group="runs-reload")
    def reload(self) -> None:
        if self._reader is None:        # the reloads' own connection (one reload at a time)
            from engine.store import Store

            self._reader = Store(self.app.runs_dir)
        self.post_message(RunsLoaded(self._reader.runs_with_status()))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        # a live run's duration moves on; otherwise an unchanged list needs no redraw
        if message.runs == self.runs and not any(r["display_status"] in LIVE_STATUSES for r in self.runs):
            return
        self.runs = message.runs
        self._show()

    def _show(self) -> None:
        table = self.query_one(RunsTable)
        present = {r["id"] for r in self.runs}
        self.selected = [rid for rid in self.selected if rid in present]
        table.show_runs(self.runs, self.app.clock(), self.needle, run_colors(self.selected))
        self._review_badge()
        empty = self.query_one("#runs-empty", Static)
        if not self.runs:
            empty.update("No runs yet. Press [b]n[/b] to start one: the [b]sandbox[/b] preset "
                         "trains a tiny model on a CPU and finishes in minutes.")
        elif not table.row_count:
            empty.update(f"No run matches “{self.needle}”. Press [b]/[/b] to change the filter.")
        else:
            empty.update("")
        empty.display = not table.row_count
        table.display = bool(table.row_count)

    def _review_badge(self) -> None:
        waiting = [r for r in self.runs if r["display_status"] == "awaiting_review"]
        badge = (f"  [b magenta]✎ {len(waiting)} run{'s' * (len(waiting) > 1)} await review · R to review[/]"
                 if waiting else "")
        if self.selected:
            n = len(self.selected)
            badge += (f"  [b]◆ {n} selected · c to compare[/]" if n >= 2
                      else "  [b]◆ 1 selected · space on another run to compare[/]")
        self.query_one("#runs-title", Static).update(
            f"[b]seal-tui[/b] · runs in [i]{self.app.display_runs_dir}[/i]{badge}")

    # ------------------------------------------------------------------ actions
    def action_replay(self) -> None:
        run_id = self.query_one(RunsTable).selected_run_id
        if run_id:
            self.app.replay_run(run_id)

    def action_toggle_select(self) -> None:
        run_id = self.query_one(RunsTable).selected_run_id
        if not run_id:
            return
        if run_id in self.selected:
            self.selected.remove(run_id)
        elif len(self.selected) >= MAX_COMPARE:
            self.notify(f"Compare takes at most {MAX_COMPARE} runs: unselect one first (space on it).",
                        severity="warning")
            return
        else:
            self.selected.append(run_id)
        self._show()

    def action_compare(self) -> None:
        if len(self.selected) < 2:
            self.notify("Select 2 to 5 runs with space, then press c.", title="Compare", severity="warning")
            return
        self.app.compare_runs(list(self.selected))

    def action_review(self) -> None:
        from .review import open_review

        selected = self.query_one(RunsTable).selected_run_id
        waiting = [r["id"] for r in self.runs if r["display_status"] == "awaiting_review"]
        run_id = selected if selected in waiting or not waiting else waiting[0]
        if run_id:
            open_review(self.app, run_id)

    def action_open_run(self) -> None:
        run_id = self.query_one(RunsTable).selected_run_id
        if run_id:
            self.app.open_run(run_id)

    @on(RunsTable.Selected)
    def _row_selected(self, event: RunsTable.Selected) -> None:
        event.stop()
        if event.row_id is not None:
            self.app.open_run(event.row_id)

    def action_new_run(self) -> None:
        self.app.new_run()

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self._show()

    @on(Input.Submitted, "#runs-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.remove_class("-shown")
        self.query_one(RunsTable).focus()

    def key_escape(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.query_one(RunsTable).focus()

    def action_delete_run(self) -> None:
        table = self.query_one(RunsTable)
        run_id = table.selected_run_id
        if not run_id:
            return
        run = table.runs[run_id]
        if run["display_status"] in LIVE_STATUSES:
            self.notify(f"{run.get('name') or run_id} is {run['display_status'].replace('_', ' ')}: "
                        "stop it first (open it and press s), then delete it.",
                        title="Cannot delete a running run", severity="warning")
            return
        run_dir = run.get("run_dir") or ""

        def done(yes: bool | None) -> None:
            if yes:
                self._delete(run_id, run_dir)

        from .confirm import ConfirmScreen  # on first use: the runs screen paints sooner

        self.app.push_screen(ConfirmScreen(
            f"Delete run {run.get('name') or run_id}?",
            f"Its events, candidates and metrics are removed from the store, and its folder "
            f"{run_dir or '(none)'} (policies, adapters, logs) is deleted. This cannot be undone.",
            yes_label="Delete"), done)

    def _delete(self, run_id: str, run_dir: str) -> None:
        from ..store_errors import store_failure

        try:
            self.app.store.delete_run(run_id)
        except Exception as exc:  # a read-only or full store: the run stays, and the user reads why
            message = store_failure(self.app.runs_dir, exc)
            if message is None:
                raise
            self.notify(f"{run_id} was not deleted: {message}", title="Cannot delete", severity="error", timeout=15)
            return
        path = Path(run_dir) if run_dir else None
        runs_root = Path(self.app.runs_dir).resolve()
        if path and path.exists() and runs_root in path.resolve().parents:
            shutil.rmtree(path, ignore_errors=True)
        self.notify(f"Deleted {run_id}.")
        self.runs = [r for r in self.runs if r["id"] != run_id]
        self._show()
