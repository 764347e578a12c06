"""End to end in tmux, the SSH story: start a run from the console, lose the terminal
(kill the console's tmux pane), check that the console is gone and the engine still
writes, attach from a new pane, see the same state, and follow it to the end."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess

import psutil
import pytest

from engine.store import Store
from tests.support.common import wait_for
from tests.support.engine_runs import tiny_run_args
from tests.support.tmux import SEAL_TUI, Tmux, needs_tmux

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_tmux]


def gone(pid: int) -> bool:
    """Not running any more (exited, or a zombie waiting for a parent to reap it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def shown(tmux: Tmux) -> int:
    """The candidates pane's row count ("N shown"), from what the screen shows."""
    return int(tmux.wait_for(r"(\d+) shown").group(1))


def test_the_run_outlives_a_dropped_terminal_and_attach_shows_it(tmp_path, tiny_model_dir, data_file):
    runs_dir = tmp_path / "runs"
    args = tiny_run_args(tiny_model_dir, data_file, runs_dir, "--name", "e2e-attach",
                         "--set", "run.rounds=4", "--set", "data.n_train=6")
    args.remove("--runs-dir")
    args.remove(str(runs_dir))
    env = {"TERM": "xterm-256color", "TZ": "UTC"}
    console = Tmux(f"seal-e2e-attach-{os.getpid()}", f"{SEAL_TUI} --runs-dir {runs_dir} {shlex.join(args)}", env=env)
    viewer = None
    engine_pid = None
    console_pids: list[int] = []
    try:
        console.wait_for(r"running\s+e2e-attach", timeout=120)
        console.wait_for(r"[1-9]\d* shown", timeout=300)
        store = Store(runs_dir)
        run = store.list_runs()[0]
        run_id, engine_pid = run["id"], run["pid"]
        pane_pid = int(subprocess.run([*console.tmux, "list-panes", "-t", console.name, "-F", "#{pane_pid}"],
                                      capture_output=True, text=True, check=True).stdout.split()[0])
        pane = psutil.Process(pane_pid)
        console_pids = [p.pid for p in [pane, *pane.children(recursive=True)] if p.pid != engine_pid]
        assert engine_pid in [p.pid for p in pane.children(recursive=True)]   # the console started it
        assert os.getsid(engine_pid) == engine_pid != os.getsid(pane_pid)     # in a session of its own
        seen_before = shown(console)
        events_before = store.count_events(run_id)

        # the link drops: the pane (and its terminal) goes away
        subprocess.run([*console.tmux, "kill-pane", "-t", console.name], check=True)
        try:
            wait_for(lambda: all(gone(pid) for pid in console_pids), timeout=15)
        except AssertionError:
            left = [(p.pid, p.status(), p.cpu_percent(0.5), " ".join(p.cmdline())[:120])
                    for p in map(psutil.Process, console_pids) if not gone(p.pid)]
            raise AssertionError(f"the console's processes outlived its terminal: {left}") from None
        assert store.get_run(run_id)["status"] in ("running", "awaiting_review")
        wait_for(lambda: store.count_events(run_id) > events_before, timeout=60)   # the engine goes on
        assert not gone(engine_pid)

        # a new terminal: attach shows everything so far, then follows
        # wide enough for the header's second line (preset, model path, run id, best held-out) whatever the tmp path
        viewer = Tmux(f"seal-e2e-attach2-{os.getpid()}", f"{SEAL_TUI} --runs-dir {runs_dir} attach", env=env, width=220)
        viewer.wait_for(r"e2e-attach", timeout=60)
        viewer.wait_for(r"(running|finished)\s+e2e-attach", timeout=60)
        assert shown(viewer) >= seen_before
        wait_for(lambda: store.get_run(run_id)["status"] == "finished", timeout=600, interval=1.0)
        viewer.wait_for(r"finished\s+e2e-attach", timeout=60)
        n_candidates = len(store.candidates(run_id))
        viewer.wait_for(rf"\b{n_candidates} shown", timeout=30)
        screen = viewer.screen()
        assert "round 4/4" in screen
        best = store.get_run(run_id)["best_heldout"]
        assert f"best held-out {best * 100:.1f}%" in screen
        wait_for(lambda: gone(engine_pid), timeout=60)          # the engine exits when the run is done
    finally:
        console.kill()
        if viewer is not None:
            viewer.kill()
        if engine_pid and not gone(engine_pid):
            os.kill(engine_pid, signal.SIGTERM)
        for pid in console_pids:    # a console that failed to exit must not outlive the test either
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
