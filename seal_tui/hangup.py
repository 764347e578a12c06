"""The console exits when its terminal goes away, so a dropped SSH link leaves nothing spinning.

A closed terminal normally sends SIGHUP, which would kill the console outright; but
where SIGHUP is ignored (nohup, some SSH and screen setups) the terminal reads end
of file forever and Textual's input thread spins a CPU. So: SIGHUP and SIGTERM exit
the app, and once a second the console checks that its terminal is still one.
Engines are their own sessions (seal_tui.launcher) and never see the console's SIGHUP.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

CHECK_S = 1.0
EXIT_CODE = 129        # 128 + SIGHUP, as a shell reports a hang-up


def exit_when_terminal_goes(app) -> None:
    """Install the handlers on ``app`` (a running, not headless, Textual app)."""
    if app.is_headless:
        return
    loop = asyncio.get_running_loop()

    def gone() -> None:
        app.exit(return_code=EXIT_CODE)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, gone)
        except (NotImplementedError, RuntimeError, ValueError):   # not the main thread, or no such signal
            pass
    try:
        fd = sys.__stdin__.fileno()
    except (AttributeError, OSError, ValueError):
        return
    if not os.isatty(fd):
        return

    def check() -> None:
        if not os.isatty(fd):     # a hung-up terminal is no longer a tty
            gone()

    app.set_interval(CHECK_S, check, name="terminal-watch")
