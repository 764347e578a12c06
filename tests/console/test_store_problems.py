"""A run store in trouble: a runs dir that cannot be one, a read-only disk, a full disk, a
damaged page, a store of a newer seal-tui. Each is said by name with what to do, by the
commands (as a user runs them, in a subprocess) and by the console, never as a traceback;
reads go on where they can, and ``seal-tui doctor`` checks and repairs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from engine.store import Store
from seal_tui.screens.dashboard import DashboardScreen
from seal_tui.screens.replay import ReplayScreen
from seal_tui.widgets.runs_table import RunsTable
from tests.support.common import REPO
from tests.support.console import copy_store, make_app, pilot_test, until
from tests.support.small_disk import fill, make_read_only, small_disk


def seal_tui(runs_dir: Path, *args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(runs_dir), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def damage(db: Path, table: str) -> None:
    """Zero one leaf page of ``table``, as a bad disk sector would."""
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf' ORDER BY pageno",
                                            (table,))]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek(page_size * (pages[len(pages) // 2] - 1))
        fh.write(b"\0" * page_size)


# ---------------------------------------------------------------- a runs dir that cannot be one
def test_a_file_in_the_runs_dir_path_is_named_by_every_command(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    bad = tmp_path / "afile" / "runs"
    for args in (("ls",), ("show", "x"), ("run", "--detach"), ("resume", "x"), ("doctor",)):
        proc = seal_tui(bad, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert f"{tmp_path / 'afile'} is a file, not a folder" in proc.stderr and "Traceback" not in proc.stderr
    engine = subprocess.run([sys.executable, "-m", "engine", "run", "--runs-dir", str(bad)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert engine.returncode == 2 and "is a file, not a folder" in engine.stderr
    assert "Traceback" not in engine.stderr


# ---------------------------------------------------------------- a read-only store
def test_a_read_only_store_is_listed_shown_and_exported(recording, tmp_path):
    with small_disk(tmp_path / "disk", "32m") as disk:
        copy_store(recording[0], disk / "runs")
        (disk / "empty").mkdir()
        make_read_only(disk)
        console = seal_tui(disk / "empty")  # no store, and none can be made there
        assert console.returncode == 2 and f"runs dir {disk / 'empty'} is not writable" in console.stderr
        ls = seal_tui(disk / "runs", "ls")
        assert ls.returncode == 0 and "recorded" in ls.stdout and "finished" in ls.stdout
        assert "read-only here" in ls.stderr
        show = seal_tui(disk / "runs", "show", "recorded")
        assert show.returncode == 0 and "round 2" in show.stdout
        out = tmp_path / "c.jsonl"
        export = seal_tui(disk / "runs", "export", "recorded", "--out", str(out))
        assert export.returncode == 0 and len(out.read_text().splitlines()) == 24
        doctor = seal_tui(disk / "runs", "doctor")
        assert doctor.returncode == 0 and "the store is sound: 1 runs" in doctor.stdout
        refused = seal_tui(disk / "runs", "run", "--detach")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "not writable" in refused.stderr or "read-only" in refused.stderr


@pilot_test
async def test_the_console_lists_and_replays_a_read_only_store_and_says_why_it_cannot_delete(recording, tmp_path):
    with small_disk(tmp_path / "disk", "32m") as disk:
        runs_dir = copy_store(recording[0], disk / "runs")
        run_id = recording[1]
        make_read_only(disk)
        app = make_app(runs_dir, store=Store(runs_dir))
        async with app.run_test(size=(120, 40)) as pilot:
            assert app.screen.query_one(RunsTable).row_count == 1
            await pilot.press("d")
            await pilot.pause()
            await pilot.press("y")
            await until(pilot, lambda: any("not deleted" in n.message for n in app._notifications), what="notice")
            note = next(n.message for n in app._notifications if "not deleted" in n.message)
            assert "read-only" in note
            assert app.screen.query_one(RunsTable).row_count == 1
            await pilot.press("r")
            screen = await until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen, what="replay")
            assert screen.run_id == run_id
        assert app.return_code in (None, 0)


# ---------------------------------------------------------------- a full disk
def test_ls_on_a_full_disk_lists_the_runs_and_says_what_to_free(recording, tmp_path):
    with small_disk(tmp_path / "disk", "32m") as disk:
        runs_dir = copy_store(recording[0], disk / "runs")
        filler = fill(disk)
        ls = seal_tui(runs_dir, "ls")
        assert ls.returncode == 0, ls.stderr
        assert "recorded" in ls.stdout and "move it away" not in ls.stderr
        assert f"the disk holding {runs_dir} is full" in ls.stderr and "seal-tui resume" in ls.stderr
        filler.unlink()
        assert "is full" not in seal_tui(runs_dir, "ls").stderr


# ---------------------------------------------------------------- a damaged store
def test_a_damaged_store_is_named_by_show_and_export_and_doctor_repairs_it(recording, tmp_path):
    runs_dir = copy_store(recording[0], tmp_path / "runs")
    before = json.loads(seal_tui(runs_dir, "show", "recorded", "--json").stdout)
    n_events = Store(runs_dir).count_events(recording[1])
    damage(runs_dir / "seal.db", "candidates")
    for args in (("show", "recorded"), ("export", "recorded")):
        proc = seal_tui(runs_dir, *args, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "is damaged (database disk image is malformed)" in proc.stderr and "seal-tui doctor" in proc.stderr
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.jsonl")), "export left a file behind"

    doctor = seal_tui(runs_dir, "doctor")
    assert doctor.returncode == 1
    assert f"events readable ({n_events})" in doctor.stdout and "--repair rebuilds them" in doctor.stdout
    repaired = seal_tui(runs_dir, "doctor", "--repair")
    assert repaired.returncode == 0 and "repaired: 1 runs rebuilt" in repaired.stdout
    assert list(runs_dir.glob("seal.db.damaged-*")), "the damaged file is kept"
    assert seal_tui(runs_dir, "doctor").returncode == 0
    after = json.loads(seal_tui(runs_dir, "show", "recorded", "--json").stdout)
    assert after["rounds_detail"] == before["rounds_detail"] and after["run_dir"] == before["run_dir"]


def test_doctor_says_which_runs_are_lost_when_their_events_are_damaged(recording, tmp_path):
    runs_dir = copy_store(recording[0], tmp_path / "runs")
    damage(runs_dir / "seal.db", "events")
    doctor = seal_tui(runs_dir, "doctor")
    assert doctor.returncode == 1 and "NOT readable: its events" in doctor.stdout
    assert "0 of 1 runs can be recovered" in doctor.stdout


@pilot_test
async def test_the_dashboard_of_a_run_whose_events_are_damaged_says_so(runs):
    runs_dir, _ = runs
    damage(runs_dir / "seal.db", "events")
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.screen.query_one(RunsTable).row_count == 1
        await pilot.press("enter")
        screen = await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.notice
                             and app.screen, what="the dashboard's notice")
        assert "is damaged (database disk image is malformed)" in screen.notice and "seal-tui doctor" in screen.notice
        assert app.return_code is None


@pilot_test
async def test_a_store_error_anywhere_in_the_console_ends_it_with_the_named_error(runs, capsys):
    """Whatever screen or worker meets a damaged store, the console ends with the store's named error
    (not a traceback): here the runs list's reload."""
    runs_dir, _ = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        damage(runs_dir / "seal.db", "runs")
        screen._reader = None   # a fresh connection, as after the list's first reload failed
        screen.reload()
        await until(pilot, lambda: app.return_code is not None, what="the console to end")
    assert app.return_code == 2
    said = " ".join(capsys.readouterr().err.split())   # what the console printed as it ended
    assert "seal.db is damaged" in said and "seal-tui doctor" in said and "Traceback" not in said


@pilot_test
async def test_a_store_a_newer_seal_tui_changed_under_the_console_is_named_when_a_write_fails(runs, capsys):
    runs_dir, _ = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        with sqlite3.connect(runs_dir / "seal.db") as conn:  # a later layout: another version, a table renamed
            conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
            conn.execute("ALTER TABLE decisions RENAME TO review_decisions")
        conn.close()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        note = await until(pilot, lambda: next((n.message for n in app._notifications if "not deleted" in n.message),
                                               None), what="the notice")
        assert "newer seal-tui (schema version 99" in note and "upgrade seal-tui" in note
        # the list's next reload opens the store afresh, which refuses it: the console ends, by name
        await until(pilot, lambda: app.return_code is not None, what="the console to end")
    said = " ".join(capsys.readouterr().err.split())
    assert app.return_code == 2 and "newer than this seal-tui understands" in said and "Traceback" not in said


def test_the_commands_refuse_a_store_of_a_newer_seal_tui(runs):
    runs_dir, _ = runs
    with sqlite3.connect(runs_dir / "seal.db") as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.close()
    for args in (("ls",), ("show", "recorded"), ("export", "recorded", "--out", "-")):
        proc = seal_tui(runs_dir, *args, cwd=runs_dir.parent)
        assert proc.returncode == 2 and "newer than this seal-tui understands" in proc.stderr
        assert "Traceback" not in proc.stderr
