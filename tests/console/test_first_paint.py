"""The runs screen paints from a plain read of the runs table, and stays right while doing so.

Timings are bench/console.py's job; these tests pin what makes the first paint fast
(the full run store is not opened for a list of finished runs) and that the shortcut
shows what the full store would (stale runs, the store's constants, the footer's keys).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import engine.store
from engine.store import Store
from seal_tui import runs_index
from seal_tui.app import SealApp
from seal_tui.screens.help import HelpScreen
from seal_tui.widgets.footer import KeyFooter
from seal_tui.widgets.runs_table import RunsTable
from tests.support.common import REPO


def fill(runs_dir: Path, n: int = 100) -> Store:
    store = Store(runs_dir)
    for i in range(n):
        rid = f"20250101-{i:06d}-sandbox-{i:04x}"
        store.create_run(rid, name=f"run-{i:03d}", preset="sandbox", model="sandbox",
                         config={"run": {"rounds": 3}}, rounds=3)
        store.update_run(rid, status=("finished", "failed", "stopped")[i % 3], started_at=time.time() - 3600,
                         finished_at=time.time() - 60, current_round=3, best_heldout=i / 100)
    return store


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_runs_screen_paints_without_the_full_store(tmp_path):
    """100 finished runs listed, and neither engine.store nor sqlite_utils imported to show them."""
    fill(tmp_path).close()
    code = f"""
import asyncio, sys
from pathlib import Path
from seal_tui.app import SealApp
from seal_tui.widgets.runs_table import RunsTable
from tests.support.common import REPO
async def go():
    app = SealApp(Path({str(tmp_path)!r}), keymap={{}})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        print('ROWS', table.row_count, table.row_text(table.row_ids[0])[:2])
        print('LOADED', sorted(m for m in sys.modules if m in ('engine.store', 'sqlite_utils')))
asyncio.run(go())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ROWS 100 ['run-099', '✔ finished']" in out.stdout, out.stdout
    assert "LOADED []" in out.stdout, out.stdout


def test_a_run_whose_engine_is_gone_shows_stale_at_once(tmp_path):
    store = fill(tmp_path, 3)
    rid = "20250102-000000-sandbox-dead"
    store.create_run(rid, name="orphan", preset="sandbox", model="sandbox", config={}, rounds=3)
    beat = time.time()
    store.update_run(rid, status="running", pid=dead_pid(), host=socket.gethostname(),
                     started_at=beat - 60, heartbeat_at=beat)
    store.close()

    async def go():
        app = SealApp(tmp_path, clock=time.time, keymap={})
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            table = app.screen.query_one(RunsTable)
            # stale, with the engine's last sign of life (local time)
            assert table.row_text(rid)[1] == "? stale " + time.strftime("%H:%M", time.localtime(beat))
            assert [table.row_text(r)[1] for r in table.row_ids[1:]] == ["■ stopped", "✖ failed", "✔ finished"]

    asyncio.run(go())


def test_the_plain_read_agrees_with_the_store(tmp_path):
    assert runs_index.DB_NAME == engine.store.DB_NAME
    assert runs_index.LIVE_STATUSES == engine.store.LIVE_STATUSES
    store = fill(tmp_path, 5)
    store.update_run("20250101-000002-sandbox-0002", status="running", pid=dead_pid(), host=socket.gethostname())
    full = runs_index.load_runs(store)
    opened = []
    plain = runs_index.read_runs(tmp_path, lambda: opened.append(1) or store)
    assert plain == full and opened == [1]        # the store was asked about the running one only
    assert runs_index.read_runs(tmp_path / "none", lambda: Store(tmp_path / "none")) == []


def test_the_footer_shows_the_screens_keys_and_a_click_presses_one(tmp_path):
    fill(tmp_path, 2).close()

    async def go():
        app = SealApp(tmp_path, keymap={})
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            footer = app.screen.query_one(KeyFooter)
            keys, palette = footer.active_keys()
            shown = [(display, description) for _, display, description, _, _ in keys]
            assert ("⏎", "Open") in shown and ("n", "New run") in shown and ("q", "Quit") in shown
            assert palette[1:3] == ("^p", "palette")
            line = footer.render().plain
            assert line.startswith(" ⏎ Open  n New run ") and line.endswith("▏^p palette ")
            x = line.index(" ? Help") + 2
            await pilot.click(KeyFooter, offset=(x, 0))
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)

    asyncio.run(go())



def test_the_default_runs_dir_is_the_stores(tmp_path, monkeypatch):
    monkeypatch.delenv("SEAL_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runs_index.default_runs_dir() == engine.store.default_runs_dir() == tmp_path / "runs"
    monkeypatch.setenv("SEAL_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert runs_index.default_runs_dir() == engine.store.default_runs_dir() == tmp_path / "elsewhere"


def test_a_store_that_is_not_one_ends_the_console_with_the_reason(tmp_path, capfd):
    (tmp_path / "seal.db").write_bytes(b"this is not a database" * 100)

    async def go():
        app = SealApp(tmp_path, keymap={})
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
        return app

    app = asyncio.run(go())
    assert app.return_code == 2
    err = " ".join(capfd.readouterr().err.split())
    assert f"seal-tui: {tmp_path / 'seal.db'} is not a usable run store" in err and "Traceback" not in err
