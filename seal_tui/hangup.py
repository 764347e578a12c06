"""The console exits when its terminal goes away, so a dropped SSH link leaves nothing spinning.

A terminal that hangs up sends SIGHUP and then SIGCONT. Left alone, SIGHUP kills the
console; but where SIGHUP is ignored (nohup, some SSH and screen setups) the dead
terminal reads end of file forever and Textual's input thread spins a CPU, and
Textual answers SIGCONT by restarting its terminal output, which can deadlock its
shutdown. So on SIGHUP (or SIGTERM) the console drops Textual's SIGCONT handler and
exits; once a second it also checks that its terminal is still one (a hung-up tty is
not); and if the orderly exit has not finished after ``GRACE_S`` (nothing to restore
on a terminal that is gone), the process ends there. Engines are their own sessions
(seal_tui.launcher) and never see the console's SIGHUP.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time

CHECK_S = 1.0
GRACE_S = 3.0
EXIT_CODE = 129        # 128 + SIGHUP, as a shell reports a hang-up


def exit_when_terminal_goes(app) -> None:
    """Install the handlers on ``app`` (a running, not headless, Textual app; main thread)."""
    if app.is_headless or threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    leaving = threading.Event()

    def gone(*_) -> None:
        if leaving.is_set():
            return
        leaving.set()
        try:
            signal.signal(signal.SIGCONT, signal.SIG_DFL)
        except (ValueError, OSError):
            pass
        threading.Thread(target=_end_after_grace, name="hangup-grace", daemon=True).start()
        loop.call_soon_threadsafe(lambda: app.exit(return_code=EXIT_CODE))

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, gone)
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


def _end_after_grace() -> None:
    time.sleep(GRACE_S)
    os._exit(EXIT_CODE)
