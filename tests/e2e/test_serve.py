"""``seal-tui serve``: the console in a real headless Chromium, on a store holding a recorded run;
and what the command says when it cannot serve."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import urllib.request

import psutil
import pytest
from PIL import Image

from engine.store import Store
from tests.support import recorded
from tests.support.browser import Chromium, needs_chromium
from tests.support.common import wait_for
from tests.support.tmux import SEAL_TUI

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs_dir, *args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([str(SEAL_TUI), "serve", "--runs-dir", str(runs_dir), "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")})
    return proc, port


def stop_server(proc: subprocess.Popen) -> str:
    """SIGTERM, as a service manager stops it; its output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    return out


def page(port: int, host_header: str | None = None) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host_header} if host_header else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode()


@needs_chromium
def test_the_console_in_a_browser_opens_a_runs_dashboard(tmp_path):
    runs_dir = tmp_path / "runs"
    run_id = recorded.load("recorded", runs_dir)
    server, port = start_server(runs_dir)
    consoles: list[psutil.Process] = []

    async def drive() -> None:
        browser = Chromium(tmp_path / "chromium")
        try:
            await browser.connect()
            await browser.open(f"http://127.0.0.1:{port}/")
            shown = await browser.wait_for("recorded", timeout=90)           # the runs screen, with the run
            assert "finished" in shown and "squad-small" in shown and "tiny-llama" in shown
            consoles.extend(psutil.Process(server.pid).children(recursive=True))
            await browser.press("Enter", "Enter", 13, "\r")                   # open the selected run
            shown = await browser.wait_for("round 2/2", timeout=60)          # its dashboard's header
            assert "finished" in shown
            shot = await browser.screenshot(tmp_path / "dashboard.png")
            with Image.open(shot) as img:
                assert img.format == "PNG" and img.width >= 800 and img.height >= 500
                colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
                assert colours is None or len(colours) > 8, "the screenshot is blank"
        finally:
            await browser.close()

    try:
        wait_for(lambda: _answers(port), timeout=30)
        asyncio.run(asyncio.wait_for(drive(), timeout=240))
    finally:
        out = stop_server(server)
    assert f"http://127.0.0.1:{port}/" in out
    assert consoles, "no console process was started for the browser"
    # the browser's console process ends with the server: nothing is left running
    wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in consoles), timeout=20)
    assert Store(runs_dir).get_run(run_id)["status"] == "finished"   # watching changed nothing in the store


def _answers(port: int) -> bool:
    try:
        page(port)
        return True
    except OSError:
        return False


def test_serve_listens_on_loopback_and_the_page_follows_the_tunnels_address(tmp_path):
    """By default only this machine can connect; behind ``ssh -L 9000:127.0.0.1:<port>`` the page asks
    the browser to connect its websocket to 127.0.0.1:9000, where the browser found it."""
    server, port = start_server(tmp_path / "runs")
    try:
        wait_for(lambda: _answers(port), timeout=30)
        listening = [c.laddr for c in psutil.Process(server.pid).net_connections() if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening)
        assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page(port)
        assert 'data-session-websocket-url="ws://127.0.0.1:9000/ws"' in page(port, host_header="127.0.0.1:9000")
    finally:
        out = stop_server(server)
    assert "WARNING" not in out


def test_serve_says_when_its_port_is_taken_and_warns_off_loopback(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([str(SEAL_TUI), "serve", "--runs-dir", str(tmp_path / "runs"), "--port", str(port)],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in out.stderr and "--port" in out.stderr
    assert "Traceback" not in out.stderr

    server, port = start_server(tmp_path / "runs", "--host", "0.0.0.0")   # asked for explicitly
    try:
        wait_for(lambda: _answers(port), timeout=30)
    finally:
        out = stop_server(server)
    assert "WARNING: listening on 0.0.0.0, not on loopback" in out and "ssh -L" in out
