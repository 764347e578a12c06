"""The seal-tui application: screens, the run store, starting runs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from .hangup import exit_when_terminal_goes
from .screens.runs import RunsScreen
from .store_errors import store_failure

if TYPE_CHECKING:
    from .launcher import EngineProcess, LaunchSpec

# The dashboard (plotext), new-run (engine config) and help (Markdown) screens, the
# launcher are imported when first used: the runs screen paints sooner.


def keymap_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "seal-tui" / "keymap.toml"


class SealApp(App):
    """Runs (home) -> new run / run dashboard. Never imports torch."""

    CSS_PATH = "seal.tcss"
    TITLE = "seal-tui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip="The keys of this screen"),
    ]

    def __init__(self, runs_dir: Path, *, store=None, clock: Callable[[], float] = time.time,
                 poll_s: float = 0.1, open_run: str | None = None, replay_run: str | None = None,
                 keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self._store = store
        self._store_lock = threading.Lock()
        self.clock = clock
        self.poll_s = poll_s
        self._open_at_start = open_run
        self._replay_at_start = replay_run
        self._keymap = keymap
        self.processes: dict[str, EngineProcess] = {}

    @property
    def store(self):
        """The run store, opened on first use (from any thread)."""
        if self._store is None:
            with self._store_lock:            # workers may ask first
                if self._store is None:
                    from engine.store import Store

                    self._store = Store(self.runs_dir)
        return self._store

    @property
    def _background_screens(self) -> list[Screen]:
        """Screens that show through the top one. Textual counts the screen under any top screen,
        and a background screen repaints itself (and the top one) after every message it gets:
        about 2% of a core while a dashboard idles over the runs screen. An opaque top screen
        hides everything under it, so none is drawn."""
        stack = self._screen_stack
        if stack and stack[-1].styles.background.a == 1:
            return []
        return super()._background_screens

    @property
    def display_runs_dir(self) -> str:
        path = str(self.runs_dir)
        home = os.path.expanduser("~")
        return "~" + path[len(home):] if home != "/" and path.startswith(home + os.sep) else path

    def on_mount(self) -> None:
        exit_when_terminal_goes(self)
        keymap = self._keymap if self._keymap is not None else self._read_keymap()
        if keymap:
            self.set_keymap(keymap)
        self.push_screen(RunsScreen())
        if self._open_at_start:
            self.open_run(self._open_at_start)
        if self._replay_at_start:
            self.replay_run(self._replay_at_start)

    def _read_keymap(self) -> dict[str, str]:
        """``[keymap] "dashboard.pause" = "P"`` in ~/.config/seal-tui/keymap.toml rebinds a key."""
        path = keymap_path()
        if not path.is_file():
            return {}
        import tomllib

        try:
            data = tomllib.loads(path.read_text()).get("keymap", {})
            return {str(k): str(v) for k, v in data.items()}
        except (OSError, tomllib.TOMLDecodeError) as exc:
            self.notify(f"{path}: {exc}; keys left as they are", severity="warning")
            return {}

    # ------------------------------------------------------------------ navigation
    def open_run(self, run_id: str, process: EngineProcess | None = None) -> None:
        from .screens.dashboard import DashboardScreen

        self.push_screen(DashboardScreen(run_id, process=process or self.processes.get(run_id)))

    def replay_run(self, run_id: str) -> None:
        from .screens.replay import ReplayScreen

        self.push_screen(ReplayScreen(run_id, self.runs_dir))

    def compare_runs(self, run_ids: list[str]) -> None:
        from .screens.compare import CompareScreen

        self.push_screen(CompareScreen(run_ids))

    def new_run(self) -> None:
        from .screens.new_run import NewRunScreen

        self.push_screen(NewRunScreen())

    def start_run(self, spec: LaunchSpec) -> EngineProcess | None:
        """Spawn the engine for ``spec``; the form waits until the engine's checks pass (its run
        then exists: ``open_started_run``) or refuse an input."""
        from .launcher import spawn_engine

        try:
            process = spawn_engine(spec, self.runs_dir)
        except OSError as exc:
            self.notify(f"Could not start the engine: {exc}", severity="error")
            return None
        self.processes[process.run_id] = process
        return process

    def open_started_run(self, process: EngineProcess) -> None:
        """The engine recorded its run: its dashboard in place of the form."""
        if self.screen.id == "new-run-screen":
            self.pop_screen()
        self.open_run(process.run_id, process)

    def _handle_exception(self, error: Exception) -> None:
        """A store that fails under the console (damaged, of a newer seal-tui, its disk full or gone
        read-only) ends it with the store's named error and what to do, never a traceback."""
        message = store_failure(self.runs_dir, error)
        if message is None:
            super()._handle_exception(error)
        else:
            self.exit(return_code=2, message=f"seal-tui: {message}")

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    # ------------------------------------------------------------------ command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key binding of ours (those with an id) on this screen is also a palette command."""
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.id or not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            help_text = binding.tooltip or f"key: {self.get_key_display(binding)}"
            yield SystemCommand(binding.description, help_text,
                                partial(self.call_later, self.run_action, binding.action, active.node))
        yield from super().get_system_commands(screen)

