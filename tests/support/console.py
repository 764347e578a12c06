"""Helpers for Pilot tests of the console: a test app on a frozen clock, reading what a
widget draws, running an async test on its own event loop."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from textual.geometry import Region

from seal_tui.app import SealApp
from seal_tui.screens.dashboard import DashboardScreen
from seal_tui.testing import T0, wait_for_dashboard

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
