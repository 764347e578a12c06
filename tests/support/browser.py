"""A real headless Chromium driven over the Chrome DevTools protocol (CDP), as a person's browser
would open ``seal-tui serve``: load the page, read what its terminal (xterm.js) shows, press keys,
take a screenshot. The protocol is spoken over a websocket with aiohttp (textual-serve's own
dependency); Chromium is the Debian package ``chromium``.

The page draws the console on a canvas, so its text is not in the DOM: a script run before the
page's own catches the xterm.js ``Terminal`` as textual-serve's client stores it (``this.terminal
= new Terminal(...)``), and the screen is read from its buffer, row by row, as it is drawn.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); "
                                                             "the browser console is tested in it")

CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {configurable: true, set(value) {
  Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
  if (value && value.buffer && value.buffer.active) window.__sealTerminal = value;
}});
"""
SCREEN_TEXT = """(() => {
  const t = window.__sealTerminal;
  if (!t) return "";
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) { const line = b.getLine(b.viewportY + i); rows.push(line ? line.translateToString(true) : ""); }
  return rows.join("\\n");
})()"""


class Chromium:
    """One headless Chromium process with a profile of its own, and its first tab over CDP."""

    def __init__(self, profile: Path, *, width: int = 1400, height: int = 900) -> None:
        self.profile = profile
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
             # nothing leaves the machine: the page's web font request fails at once instead of waiting
             "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._ids = itertools.count(1)
        self.session: aiohttp.ClientSession | None = None
        self.ws = None

    async def connect(self, timeout: float = 30.0) -> None:
        port_file = self.profile / "DevToolsActivePort"
        end = time.monotonic() + timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"chromium did not start (exit code {self.proc.poll()})")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as resp:
            pages = [t for t in await resp.json() if t["type"] == "page"]
        self.ws = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)

    async def send(self, method: str, timeout: float = 30.0, **params) -> dict:
        msg_id = next(self._ids)
        await self.ws.send_json({"id": msg_id, "method": method, "params": params})
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"chromium closed the DevTools connection ({msg.type})")
                reply = json.loads(msg.data)
                if reply.get("id") == msg_id:
                    if "error" in reply:
                        raise AssertionError(f"{method}: {reply['error']}")
                    return reply.get("result", {})

    async def open(self, url: str) -> None:
        await self.send("Page.enable")
        await self.send("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
        await self.send("Page.navigate", url=url)

    async def screen(self) -> str:
        result = await self.send("Runtime.evaluate", expression=SCREEN_TEXT, returnByValue=True)
        return result["result"].get("value") or ""

    async def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """Until the terminal shows ``text``; fails with what it shows."""
        end = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < end:
            shown = await self.screen()
            if text in shown:
                return shown
            await asyncio.sleep(0.25)
        raise AssertionError(f"{text!r} never appeared in the browser's terminal; it shows:\n{shown}")

    async def press(self, key: str, code: str, key_code: int, text: str = "") -> None:
        """A key pressed in the terminal (focused first), as the keyboard sends it."""
        await self.send("Runtime.evaluate", expression="window.__sealTerminal.focus()")
        common = {"key": key, "code": code, "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text=text, **common)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    async def screenshot(self, path: Path) -> Path:
        result = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(result["data"]))
        return path

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
