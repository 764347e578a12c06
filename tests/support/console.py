"""Helpers for Pilot tests of the console: a test app on a frozen clock, reading what a
widget draws, running an async test on its own event loop, waiting for the dashboard
instead of sleeping, and stores copied or cut short to look like a live run."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import sqlite3
import time
from pathlib import Path

from textual.geometry import Region

from seal_tui.app import SealApp
from seal_tui.screens.dashboard import DashboardScreen

from .recorded import T0

NOW = T0 + 600.0     # the frozen clock of every test app


def pilot_test(fn):
    """Run an async Pilot test on its own event loop (no asyncio plugin needed)."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


def make_app(runs_dir: Path, **kw) -> SealApp:
    return SealApp(runs_dir, clock=lambda: NOW, poll_s=0.02, keymap={}, **kw)


def text_of(widget) -> str:
    """What a widget draws (all of it, also the part scrolled out of view), as plain text."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(line.text.rstrip() for line in lines)


async def open_dashboard(pilot, run_id: str) -> DashboardScreen:
    pilot.app.open_run(run_id)
    await wait_for_dashboard(pilot)
    return pilot.app.screen


def copy_store(src_runs_dir: Path, dest_runs_dir: Path) -> Path:
    """A consistent copy of ``seal.db`` (through SQLite's backup, safe while WAL is in use)."""
    dest_runs_dir.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(str(Path(src_runs_dir) / "seal.db"))
    dst = sqlite3.connect(str(dest_runs_dir / "seal.db"))
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return dest_runs_dir


def cut_mid_run(runs_dir: Path, run_id: str, *, after_kind: str = "candidate_scored", nth: int = 6) -> int:
    """Drop the events after the ``nth`` ``after_kind`` one and mark the run as running now,
    owned by this process (so it is not stale): what a console sees while that run is live.
    Returns the last event id kept. (The store's tables keep the later rows: the console reads
    a run through its events.)"""
    db = sqlite3.connect(str(Path(runs_dir) / "seal.db"))
    ids = [r[0] for r in db.execute("SELECT id FROM events WHERE run_id=? AND kind=? ORDER BY id",
                                    (run_id, after_kind))]
    last = ids[min(nth, len(ids)) - 1]
    with db:
        db.execute("DELETE FROM events WHERE run_id=? AND id > ?", (run_id, last))
        db.execute("UPDATE runs SET status='running', finished_at=NULL, best_heldout=NULL WHERE id=?", (run_id,))
    db.close()
    make_live(runs_dir, run_id)
    return last


def make_live(runs_dir: Path, run_id: str) -> None:
    """The run's engine is this test process (alive, beating for the next hour): never stale."""
    db = sqlite3.connect(str(Path(runs_dir) / "seal.db"))
    with db:
        db.execute("UPDATE runs SET pid=?, host=?, heartbeat_at=? WHERE id=?",
                   (os.getpid(), socket.gethostname(), time.time() + 3600, run_id))
    db.close()


async def wait_for_dashboard(pilot, *, timeout: float = 30.0) -> None:
    """Until the dashboard has reduced and drawn every event now in the store."""
    app = pilot.app
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        screen = app.screen
        if isinstance(screen, DashboardScreen):
            last = app.store.max_event_id(screen.run_id)
            if screen.state.last_event_id >= last and screen.liveness is not None \
                    and not screen._sync_scheduled and screen._detail_timer is None:
                screen._sync()
                await pilot.pause()
                await pilot.pause()      # what the sync scheduled after the refresh (scrolling) runs too
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the dashboard did not catch up with the store in time")


async def until(pilot, predicate, timeout: float = 20.0, what: str = "condition"):
    """Until ``predicate()`` is truthy (returns it), letting the app run between tries."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"{what} not met within {timeout} s")


async def edit_current(pilot, text: str) -> None:
    """On the review screen: open the editor on the current self-edit, replace its text, save."""
    from textual.widgets import TextArea

    from seal_tui.screens.review import ReviewScreen
    from seal_tui.screens.review_editor import SelfEditEditor

    await pilot.press("e")
    editor = await until(pilot, lambda: isinstance(pilot.app.screen, SelfEditEditor) and pilot.app.screen,
                         what="the self-edit editor")
    area = editor.query_one(TextArea)
    assert area.text == editor.text          # opens on the text as it stands
    area.select_all()
    await pilot.press("delete")
    for line_no, line in enumerate(text.split("\n")):
        if line_no:
            await pilot.press("enter")
        await pilot.press(*[{" ": "space", ".": "full_stop"}.get(ch, ch) for ch in line])
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen), what="back from the editor")
