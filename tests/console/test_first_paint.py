"""The runs screen paints from a plain read of the runs table, and stays right while doing so.

Timings are bench/console.py's job; these tests pin what makes the first paint fast
(the full run store is not opened for a list of finished runs) and that the shortcut
shows what the full store would (stale runs, the store's constants, the footer's keys).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import engine.store
from engine import events as ev
from engine.store import Store
from seal_tui.app import SealApp
from seal_tui.screens.help import HelpScreen
from seal_tui.widgets.footer import KeyFooter
from seal_tui.widgets.runs_table import RunsTable
from tests.support.common import REPO


def fill(runs_dir: Path, n: int = 100) -> Store:
    """``n`` ended runs, recorded as an engine records them."""
    store = Store(runs_dir)
    for i in range(n):
        rid = f"20250101-{i:06d}-sandbox-{i:04x}"
        store.record(rid, ev.RunCreated(name=f"run-{i:03d}", preset="sandbox", model="sandbox",
                                        config={"run": {"rounds": 3}}, rounds=3), ts=time.time() - 3700)
        store.record(rid, ev.RunStarted(pid=None), ts=time.time() - 3600)
        store.record(rid, ev.RoundStarted(round=3, total_rounds=3), round_=3)
        end = (ev.RunFinished(best_heldout=i / 100), ev.RunFailed(error="x"), ev.RunStopped(reason="y"))[i % 3]
        store.record(rid, end, round_=3, ts=time.time() - 60)
    return store


def live_with_a_dead_engine(store: Store, rid: str, beat: float) -> None:
    """A run whose engine died: it started, beat last at ``beat``, and never ended."""
    store.record(rid, ev.RunCreated(name="orphan", preset="sandbox", model="sandbox", rounds=3), ts=beat - 70)
    store.record(rid, ev.RunStarted(pid=dead_pid()), ts=beat - 60)
    store.record(rid, ev.Telemetry(cpu_pct=50.0, rss_mb=300.0), ts=beat)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_runs_screen_paints_without_sqlite_utils(tmp_path):
    """100 ended runs listed, and sqlite_utils (and through it pandas) not imported to show them."""
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
        print('LOADED', sorted(m for m in sys.modules if m in ('sqlite_utils', 'pandas', 'torch')))
asyncio.run(go())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ROWS 100 ['run-099', '✔ finished']" in out.stdout, out.stdout
    assert "LOADED []" in out.stdout, out.stdout


def test_a_run_whose_engine_is_gone_shows_stale_at_once(tmp_path):
    store = fill(tmp_path, 3)
    rid = "20250102-000000-sandbox-dead"
    beat = time.time()
    live_with_a_dead_engine(store, rid, beat)
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


def test_the_runs_list_marks_a_live_run_whose_engine_is_gone_stale(tmp_path):
    store = fill(tmp_path, 5)
    rid = "20250102-000000-sandbox-dead"
    live_with_a_dead_engine(store, rid, time.time())
    listed = {r["id"]: r["display_status"] for r in store.runs_with_status()}
    assert listed[rid] == "stale"
    assert sorted(listed.values()).count("stale") == 1


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



def test_the_default_runs_dir_is_runs_here_or_seal_runs_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("SEAL_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert engine.store.default_runs_dir() == tmp_path / "runs"
    monkeypatch.setenv("SEAL_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert engine.store.default_runs_dir() == tmp_path / "elsewhere"


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
