"""Replay and Compare in the console, on a store that a real engine run wrote.

Replay goes through the same reducer and widgets as the live view, so at each
position the screen must hold exactly the state a live viewer had after that many
events: the tests compare state objects, not pictures.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from engine import events as ev
from engine.store import Store
from seal_tui.cli import main as cli_main
from seal_tui.importers import import_file
from seal_tui.messages import EventsArrived
from seal_tui.reducer import apply
from seal_tui.replay import MAX_WAIT_S, PHASE_KINDS, UNTIMED_PACE_S, ReplaySource
from seal_tui.screens.compare import DIFF_MARK, CompareScreen, CurvesPlot
from seal_tui.screens.dashboard import DashboardScreen
from seal_tui.screens.replay import ReplayScreen
from seal_tui.screens.runs import RunsScreen
from seal_tui.state import RunState
from seal_tui.widgets.candidates_table import CandidatesTable
from seal_tui.widgets.engine_log import EngineLog
from seal_tui.widgets.replay_bar import ReplayBar
from seal_tui.widgets.rewards_pane import RewardsPane
from seal_tui.widgets.run_header import RunHeader
from seal_tui.widgets.runs_table import RunsTable
from tests.support.console import make_app, pilot_test, text_of, wait_for_dashboard


async def until(pilot, predicate, timeout: float = 30.0) -> None:
    """Until ``predicate()`` holds, letting the app work (bounded; no fixed sleeps)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            await pilot.pause()
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the replay did not get there in time")


async def settled(pilot, screen: ReplayScreen, position: int) -> None:
    """Until the replay shows exactly ``position`` events and has drawn them."""
    await until(pilot, lambda: screen.state.events_seen == position and screen.replay.pos == position
                and not screen._sync_scheduled)
    screen._sync()
    await pilot.pause()


def seen_live(events: list, n: int, run_id: str) -> RunState:
    """The state a live viewer had once the first ``n`` events had arrived."""
    return apply(RunState(run_id=run_id), events[:n])


def bar_text(screen: ReplayScreen) -> str:
    return screen.query_one(ReplayBar).render().plain


# ---------------------------------------------------------------------- replay
@pilot_test
async def test_replay_played_instantly_ends_in_the_live_views_state(runs):
    runs_dir, run_id = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(160, 50)) as pilot:
        app.open_run(run_id)
        await wait_for_dashboard(pilot)
        live = app.screen
        assert isinstance(live, DashboardScreen) and not isinstance(live, ReplayScreen)
        live_state = live.state
        shown = {w: text_of(live.query_one(w)) for w in (RunHeader, RewardsPane)}
        live_rows = [live.query_one(CandidatesTable).row_text(r) for r in live.query_one(CandidatesTable).row_ids]
        live_log = list(live.query_one(EngineLog).lines)
        await pilot.press("b")

        app.push_screen(ReplayScreen(run_id, runs_dir, speed=None))
        await pilot.pause()
        replay = app.screen
        await until(pilot, lambda: replay.replay.at_end and replay.state.events_seen == replay.replay.total)
        replay._sync()
        await pilot.pause()
        assert replay.state == live_state
        assert replay.state.status == "finished" and replay.state.events_seen == Store(runs_dir).count_events(run_id)
        for widget, text in shown.items():
            assert text_of(replay.query_one(widget)) == text, widget.__name__
        table = replay.query_one(CandidatesTable)
        assert [table.row_text(r) for r in table.row_ids] == live_rows
        assert list(replay.query_one(EngineLog).lines) == live_log
        assert "■ end instant" in bar_text(replay)
        total = replay.replay.total
        assert f"event {total:,} of {total:,}" in bar_text(replay)


@pilot_test
async def test_step_seek_and_back_show_what_a_live_viewer_saw_then(runs):
    runs_dir, run_id = runs
    events = list(Store(runs_dir).iter_events(run_id))
    n = len(events)
    app = make_app(runs_dir)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = ReplayScreen(run_id, runs_dir, playing=False)
        app.push_screen(screen)
        await settled(pilot, screen, 1)          # paused on the first event: the run's name is there
        assert screen.state == seen_live(events, 1, run_id)
        assert "recorded" in text_of(screen.query_one(RunHeader))
        assert f"⏸ paused 1x  event 1 of {n}" in bar_text(screen)

        await pilot.press("left_square_bracket")            # [ one event
        await settled(pilot, screen, 2)
        assert screen.state == seen_live(events, 2, run_id)

        await pilot.press("right_square_bracket")           # ] to the next phase
        await until(pilot, lambda: screen.state.events_seen > 2)
        pos = screen.state.events_seen
        await settled(pilot, screen, pos)
        assert events[pos - 1].kind in PHASE_KINDS
        assert not any(e.kind in PHASE_KINDS for e in events[2:pos - 1])
        assert screen.state == seen_live(events, pos, run_id)

        await pilot.press("g")                              # g 2: the start of round 2
        await pilot.pause()
        await pilot.press("2", "enter")
        round2 = next(i for i, e in enumerate(events) if e.kind == "round_started" and e.round == 2)
        first_phase = next(i for i, e in enumerate(events) if i > round2 and e.kind == "phase") + 1
        await settled(pilot, screen, first_phase)
        assert screen.state == seen_live(events, first_phase, run_id)
        assert screen.state.round == 2 and screen.state.phase == "sample"
        assert f"event {first_phase} of {n}" in bar_text(screen) and "round 2/2 · sample" in bar_text(screen)
        round1_rows = len(seen_live(events, first_phase, run_id).candidates)
        assert screen.query_one(CandidatesTable).row_count == round1_rows

        await pilot.press("left_curly_bracket")             # { back one event: rebuilt from the start
        await settled(pilot, screen, first_phase - 1)
        assert screen.state == seen_live(events, first_phase - 1, run_id)
        assert screen.query_one(CandidatesTable).row_count == round1_rows
        assert "round 2/2" in text_of(screen.query_one(RunHeader))

        await pilot.press("g")                              # a round the log does not have
        await pilot.pause()
        await pilot.press("7", "enter")
        await pilot.pause()
        assert any("Round 7 is not in this run's log" in n.message for n in app._notifications)
        assert screen.state.events_seen == first_phase - 1

        await pilot.press("plus", "plus")
        assert "4x" in bar_text(screen)
        await pilot.press("minus")
        assert "2x" in bar_text(screen)
        await pilot.press("space")
        assert screen.replay.playing and "▶ playing 2x" in bar_text(screen)
        await until(pilot, lambda: screen.state.events_seen > first_phase - 1)
        await pilot.press("space")
        assert not screen.replay.playing

        await pilot.press("p", "s")     # a replay never writes commands to the store
        await pilot.pause()
        assert Store(runs_dir).pending_commands(run_id) == []
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)


def test_an_idle_hour_in_the_log_plays_in_seconds(tmp_path):
    store = Store(tmp_path)
    store.record("idle", ev.RunCreated(name="idle", preset="sandbox", model="m", rounds=1), round_=0, phase="setup")
    t = store.get_run("idle")["created_at"]
    times = [t + 0.2, t + 0.4, t + 3600.4, t + 3600.6]   # an hour with nothing written
    for ts in times[:-1]:
        store.record("idle", ev.Log(message=f"at {ts}"), ts=ts)
    store.record("idle", ev.RunFinished(), ts=times[-1])
    assert [e.ts for e in store.iter_events("idle")][1:] == times    # recorded at the times given
    source = ReplaySource(tmp_path, "idle", speed=1)
    done = threading.Event()
    seen = []
    start = time.monotonic()
    for message in source.stream(done.is_set):
        if isinstance(message, EventsArrived):
            seen += message.events
            source.ack()
        if source.at_end and not source.playing:
            done.set()
        if time.monotonic() - start > 60:
            break
    took = time.monotonic() - start
    assert [e.ts for e in seen][1:] == times
    # 0.2 + 0.2 + the hour cut to MAX_WAIT_S + 0.2 at 1x; generous for a loaded machine
    assert took < 0.6 + MAX_WAIT_S + 15, took
    assert took >= MAX_WAIT_S * 0.9


def test_replay_and_compare_import_neither_torch_nor_pandas(runs):
    """Opened from the runs screen (the store not opened yet): no second-long imports behind them."""
    runs_dir, run_id = runs
    add_variant(runs_dir, run_id, "variant-run", "lr-variant", lr=0.005, lift=0.1)
    code = f"""
import asyncio, sys
from pathlib import Path
from seal_tui.app import SealApp
async def go():
    app = SealApp(Path({str(runs_dir)!r}))
    async with app.run_test(size=(120, 40)) as pilot:
        app.replay_run({run_id!r})
        while not (getattr(app.screen, 'replay', None) and app.screen.replay.at_end):
            await pilot.press('plus')
            await asyncio.sleep(0.05)
        app.pop_screen()
        app.compare_runs([{run_id!r}, 'variant-run'])
        await pilot.pause()
asyncio.run(go())
print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'peft', 'pandas', 'numpy')))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HEAVY []" in out.stdout, out.stdout


def test_replay_of_an_unknown_run_says_which_and_exits_2(tmp_path, capsys):
    store = Store(tmp_path / "runs")
    store.close()
    assert cli_main(["--runs-dir", str(tmp_path / "runs"), "replay", "no-such-run"]) == 2
    err = capsys.readouterr().err
    assert "no run 'no-such-run'" in err and "seal-tui ls" in err and "Traceback" not in err
    assert cli_main(["--runs-dir", str(tmp_path / "nowhere"), "replay", "x"]) == 2
    assert not (tmp_path / "nowhere").exists()     # nothing to replay: no store made


def test_an_imported_run_invents_no_times_and_replays_paced_with_its_progress_counting(tmp_path):
    path = tmp_path / "sft_best1of5_iter0.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Passage:\nT{i}\nText {i}.\n\nImplications:\n",
                                        "completion": f"edit {i}"}) + "\n" for i in range(5)))
    store = Store(tmp_path / "runs")
    before = time.time()
    run_id = import_file(store, path).run_id
    events = list(store.iter_events(run_id))
    # every event at the moment of import: no pace, no duration, no finish in the future
    assert len({e.ts for e in events}) == 1 and before <= events[0].ts <= time.time()
    assert store.clock is time.time             # the import's clock is gone afterwards
    sampled = [e for e in events if e.kind == "candidate_sampled"]
    assert [e.data["self_edit"] for e in sampled] == [f"edit {i}" for i in range(5)]
    # the header counts along as a replay plays: 1/5 after the first self-edit, 2/5 after the second...
    state, shown = RunState(run_id=run_id), []
    for e in events:
        apply(state, [e])
        if e.kind == "progress" and state.phase == "sample":
            shown.append((len(state.candidates), state.phase_done, state.phase_total))
    assert shown == [(i, i, 5) for i in range(1, 6)]
    assert state.status == "finished" and state.phase_done == state.phase_total == 5
    # the replay paces the untimed events itself, in the file's order
    source = ReplaySource(store.runs_dir, run_id, speed=1, playing=False)
    stream = source.stream(lambda: False)
    first = next(stream)
    assert isinstance(first, EventsArrived) and first.events[0].kind == "run_created"
    assert source.untimed and [source.gap(i) for i in range(1, len(events))] == [UNTIMED_PACE_S] * (len(events) - 1)
    stream.close()


# ---------------------------------------------------------------------- runs screen -> compare
def add_variant(runs_dir: Path, run_id: str, new_id: str, name: str, *, lr: float, lift: float) -> None:
    """A second run: the recording with another inner.lr and better held-out accuracy."""
    db = sqlite3.connect(str(runs_dir / "seal.db"))
    cols = [d[0] for d in db.execute("SELECT * FROM runs").description]
    row = dict(zip(cols, db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()))
    config = json.loads(row["config_json"])
    config["inner"]["lr"] = lr
    row.update(id=new_id, name=name, config_json=json.dumps(config), created_at=row["created_at"] + 60)
    with db:
        db.execute(f"INSERT INTO runs({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                   [row[c] for c in cols])
        for rnd, mname, value in db.execute("SELECT round, name, value FROM metrics WHERE run_id=?",
                                            (run_id,)).fetchall():
            db.execute("INSERT INTO metrics(run_id, round, name, value) VALUES (?,?,?,?)",
                       (new_id, rnd, mname, value + lift * (rnd + 1)))
    db.close()


@pilot_test
async def test_r_replays_and_space_c_compares_the_selected_runs(runs):
    runs_dir, run_id = runs
    add_variant(runs_dir, run_id, "variant-run", "lr-variant", lr=0.005, lift=0.1)
    store = Store(runs_dir)
    app = make_app(runs_dir)
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.screen.query_one(RunsTable)
        assert table.row_ids == ["variant-run", run_id]
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ReplayScreen) and app.screen.run_id == "variant-run"
        await pilot.press("b")
        await pilot.pause()

        await pilot.press("space", "c")              # one run: nothing to compare yet
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert any("Select 2 to 5 runs" in n.message for n in app._notifications)
        assert table.row_text("variant-run")[0] == "◆ lr-variant"
        await pilot.press("down", "space")
        await pilot.pause()
        assert table.row_text(run_id)[0] == "◆ recorded"
        assert "2 selected · c to compare" in text_of(app.screen.query_one("#runs-title"))
        await pilot.press("c")
        await pilot.pause()

        screen = app.screen
        assert isinstance(screen, CompareScreen)
        config = screen.query_one("#compare-config")
        lr_row = [str(c) for c in config.get_row("inner.lr")]
        assert lr_row[0] == DIFF_MARK and lr_row[2:] == ["0.005", "0.001"]
        assert str(config.get_row("model.name_or_path")[0]) == ""
        assert str(config.get_row("run id")[0]) == ""
        legend = text_of(screen.query_one("#compare-legend"))
        assert "lr-variant" in legend and "recorded" in legend
        colors = {r.run_id: r.color for r in screen.runs}
        assert len(set(colors.values())) == 2
        heldout = {r: [(m["round"], m["value"]) for m in store.metrics(r, "heldout_self_edit")]
                   for r in (run_id, "variant-run")}
        plot = screen.query_one("#compare-heldout", CurvesPlot)
        assert plot.curves == heldout and heldout[run_id] != heldout["variant-run"]
        reward = screen.query_one("#compare-reward", CurvesPlot).curves
        assert [v for _, v in reward[run_id]] == [m["value"] for m in store.metrics(run_id, "train_reward_mean")]

        await pilot.press("d")                       # only the fields that differ
        await pilot.pause()
        assert config.row_count == sum(row.differs for row in screen.rows) >= 1
        assert "only the fields that differ" in config.border_title
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        # the selection keeps its colours on the runs screen
        assert table.row_text("variant-run")[0] == "◆ lr-variant"


@pilot_test
async def test_compare_keeps_every_run_on_screen_when_a_value_is_long(runs):
    """An imported run's file path or hash must not push the other runs' config columns off screen."""
    runs_dir, run_id = runs
    add_variant(runs_dir, run_id, "variant-run", "lr-variant", lr=0.005, lift=0.1)
    long_path = "/very/long/folder/" + "x" * 150 + "/squad_val.json"
    db = sqlite3.connect(str(runs_dir / "seal.db"))
    config = json.loads(db.execute("SELECT config_json FROM runs WHERE id='variant-run'").fetchone()[0])
    config["data"]["path"] = long_path
    with db:
        db.execute("UPDATE runs SET config_json=? WHERE id='variant-run'", (json.dumps(config),))
    db.close()
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space", "down", "space", "c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        table = screen.query_one("#compare-config")
        widths = [col.get_render_width(table) for col in table.columns.values()]
        assert sum(widths) <= table.scrollable_content_region.width
        assert [str(c) for c in table.get_row("data.path")][2] == long_path   # cut on screen only
        assert [str(c) for c in table.get_row("run id")][2:] == ["variant-run", run_id]
        assert all(w - 2 >= len(run_id) for w in widths[2:])                  # short values stay whole
