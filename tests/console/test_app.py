"""Pilot tests of the console on stores that a real engine run wrote."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from engine import events as ev
from engine.store import Store
from seal_tui.app import SealApp
from seal_tui.screens.confirm import ConfirmScreen
from seal_tui.screens.dashboard import DashboardScreen
from seal_tui.screens.help import HelpScreen
from seal_tui.screens.new_run import NewRunScreen, field_id
from seal_tui.screens.runs import RunsScreen
from seal_tui.widgets.accuracy_plot import accuracy_series
from seal_tui.widgets.candidate_detail import CandidateDetail
from seal_tui.widgets.candidates_table import CandidatesTable
from seal_tui.widgets.engine_log import EngineLog
from seal_tui.widgets.rewards_pane import RewardsPane
from seal_tui.widgets.run_header import RunHeader
from seal_tui.widgets.runs_table import RunsTable
from seal_tui.widgets.system_pane import SystemPane
from tests.support.console import NOW, cut_mid_run, make_app, open_dashboard, pilot_test, text_of, wait_for_dashboard


# ---------------------------------------------------------------------- runs screen
@pilot_test
async def test_runs_screen_lists_the_recorded_run(runs):
    runs_dir, run_id = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(RunsTable)
        assert table.row_count == 1
        cells = table.row_text(run_id)
        assert cells[0] == "recorded"
        assert "finished" in cells[1]
        assert cells[2] == "squad-small" and cells[3] == "tiny-llama" and cells[4] == "2/2"
        await pilot.press("enter")
        await wait_for_dashboard(pilot)
        assert isinstance(app.screen, DashboardScreen) and app.screen.run_id == run_id


@pilot_test
async def test_filter_and_delete(runs):
    runs_dir, run_id = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        await pilot.press("slash", *"nomatch")
        await pilot.pause()
        assert table.row_count == 0
        assert "No run matches" in text_of(app.screen.query_one("#runs-empty"))
        await pilot.press(*["backspace"] * 7, *"record", "enter")
        await pilot.pause()
        assert table.row_count == 1
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")                        # no: nothing happens
        await pilot.pause()
        assert Store(runs_dir).get_run(run_id) is not None
        await pilot.press("d", "y")
        await pilot.pause()
        assert Store(runs_dir).get_run(run_id) is None
        assert Store(runs_dir).count_events(run_id) == 0
        assert table.row_count == 0


@pilot_test
async def test_a_running_run_cannot_be_deleted(runs):
    runs_dir, run_id = runs
    cut_mid_run(runs_dir, run_id)
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("Cannot delete" in (n.title or "") for n in app._notifications)
        assert Store(runs_dir).get_run(run_id) is not None


# ---------------------------------------------------------------------- dashboard panes
@pilot_test
async def test_dashboard_panes_show_the_runs_data(runs):
    runs_dir, run_id = runs
    store = Store(runs_dir)
    app = make_app(runs_dir)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        header = text_of(screen.query_one(RunHeader))
        assert "finished" in header and "recorded" in header and "round 2/2" in header
        assert "elapsed" in header

        table = screen.query_one(CandidatesTable)
        stored = store.candidates(run_id)
        assert table.row_count == len(stored) == 24
        newest = stored[-1]
        assert table.cursor_id == newest["id"]
        assert table.row_text(newest["id"])[:4] == [str(newest["round"]), str(newest["context_idx"]),
                                                    str(newest["cand_idx"]), f"{newest['reward']:.2f}"]
        assert "following" in screen.query_one("#candidates-pane").border_subtitle

        detail_text = " ".join(text_of(screen.query_one("#detail-body")).split())
        answers = store.answers(newest["id"])
        assert " ".join(answers[0]["question"].split()) in detail_text
        assert f"gold {' '.join(answers[0]['gold'].split())}" in detail_text
        assert f"Round {newest['round']} · context {newest['context_idx']} · candidate {newest['cand_idx']}" in detail_text

        rewards = text_of(screen.query_one(RewardsPane))
        assert "R1 n=12" in rewards and "R2 n=12" in rewards and "kept 4" in rewards

        series = accuracy_series(screen.state)
        evals = [e.data for e in store.iter_events(run_id) if e.kind == "eval_result"]
        assert series["self_edit"] == ([e["round"] for e in evals], [e["self_edit"] for e in evals])
        assert series["none"][1] == [e["none"] for e in evals]
        assert len(series["mstep_loss"][0]) == 2
        assert "self-edits" in text_of(screen.query_one("#accuracy-legend"))

        system = text_of(screen.query_one(SystemPane))
        assert "no GPU" in system and "CPU" in system and "RSS" in system

        log = screen.query_one(EngineLog)
        last_log = [e.data["message"] for e in store.iter_events(run_id) if e.kind == "log"][-1]
        assert log.lines[-1].endswith(last_log)


@pilot_test
async def test_keys_move_between_panes_and_open_a_candidate(runs):
    runs_dir, run_id = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        table = screen.query_one(CandidatesTable)
        assert app.focused is table
        await pilot.press("tab")
        assert screen.current_pane == "detail" and app.focused is screen.query_one(CandidateDetail)
        await pilot.press("tab", "tab", "tab", "tab", "tab")
        assert screen.current_pane == "candidates" and app.focused is table
        await pilot.press("shift+tab")
        assert screen.current_pane == "log"
        await pilot.press("1", "up", "up")
        await pilot.pause()
        assert not table.following
        chosen = table.cursor_id
        await pilot.press("enter")
        await pilot.pause()
        assert screen.current_pane == "detail"
        assert screen.query_one(CandidateDetail).candidate_id == int(chosen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "dashboard.pause" in app.screen.text and "dashboard.stop" in app.screen.text
        await pilot.press("escape")
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)


@pilot_test
async def test_sorting_and_following(runs):
    runs_dir, run_id = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        table = screen.query_one(CandidatesTable)
        await pilot.press("o")
        await pilot.pause()
        assert table.sort_name == "reward" and not table.following
        rewards = [float(table.row_text(cid)[3]) for cid in table.row_ids]
        assert rewards == sorted(rewards, reverse=True) and table.cursor_row == 0
        assert "reward ↓" in screen.query_one("#candidates-pane").border_subtitle
        await pilot.press("f")
        await pilot.pause()
        assert table.sort_name == "arrival" and table.following
        assert table.cursor_row == table.row_count - 1


@pilot_test
async def test_new_rows_wait_while_the_user_looks_elsewhere(runs, recording):
    """A live run: rows stream in while following; after scrolling up they are counted as pending."""
    runs_dir, run_id = runs
    last = cut_mid_run(runs_dir, run_id, after_kind="candidate_sampled", nth=12)
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        table = screen.query_one(CandidatesTable)
        assert table.row_count == 12 and table.following
        assert "running" in text_of(screen.query_one(RunHeader))
        await pilot.press("up", "up")
        await pilot.pause()
        assert not table.following
        _append_recorded(recording[0], runs_dir, run_id, after=last, kinds=("candidate_sampled",), limit=6)
        await wait_for_dashboard(pilot)
        assert table.row_count == 12 and table.pending == 6
        assert "6 new" in screen.query_one("#candidates-pane").border_subtitle
        await pilot.press("end")
        await pilot.pause()
        assert table.row_count == 18 and table.following and table.pending == 0
        assert table.cursor_row == 17


def _append_recorded(src_runs: Path, runs_dir: Path, run_id: str, *, after: int,
                     kinds: tuple[str, ...] | None = None, limit: int = 10 ** 9) -> None:
    """Write the recording's next events into the live copy, as the engine did."""
    src = sqlite3.connect(str(src_runs / "seal.db"))
    sql = "SELECT id, run_id, ts, kind, round, phase, data_json FROM events WHERE run_id=? AND id>?"
    rows = [r for r in src.execute(sql + " ORDER BY id", (run_id, after)) if not kinds or r[3] in kinds][:limit]
    dst = sqlite3.connect(str(runs_dir / "seal.db"))
    with dst:
        dst.executemany("INSERT INTO events(id, run_id, ts, kind, round, phase, data_json) VALUES (?,?,?,?,?,?,?)",
                        rows)
    src.close()
    dst.close()


# ---------------------------------------------------------------------- control
@pilot_test
async def test_pause_resume_and_stop_write_commands(runs):
    runs_dir, run_id = runs
    cut_mid_run(runs_dir, run_id)
    store = Store(runs_dir)
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        await pilot.press("p")
        await pilot.pause()
        assert [c["kind"] for c in store.pending_commands(run_id)] == ["pause"]
        # the engine acknowledges and pauses
        cmd = store.pending_commands(run_id)[0]
        store.ack_command(run_id, cmd, True, "paused")
        store.record(run_id, ev.RunPaused(phase="inner_loop"), round_=1, phase="inner_loop")
        await wait_for_dashboard(pilot)
        assert "paused" in text_of(screen.query_one(RunHeader))
        assert "pause command: paused" in screen.query_one(EngineLog).lines[-1]
        await pilot.press("p")
        await pilot.pause()
        assert [c["kind"] for c in store.pending_commands(run_id)] == ["resume"]
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert [c["kind"] for c in store.pending_commands(run_id)] == ["resume"]
        await pilot.press("s", "y")
        await pilot.pause()
        assert [c["kind"] for c in store.pending_commands(run_id)] == ["resume", "stop"]


@pilot_test
async def test_pause_on_a_finished_run_writes_nothing(runs):
    runs_dir, run_id = runs
    store = Store(runs_dir)
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dashboard(pilot, run_id)
        await pilot.press("p", "s")
        await pilot.pause()
        assert store.pending_commands(run_id) == []
        assert not isinstance(app.screen, ConfirmScreen)


@pilot_test
async def test_an_engine_failure_shows_in_the_dashboard(runs):
    runs_dir, run_id = runs
    cut_mid_run(runs_dir, run_id)
    store = Store(runs_dir)
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        store.record(run_id, ev.Log(level="error", message="run failed: RuntimeError: CUDA out of memory"))
        store.record(run_id, ev.RunFailed(error="RuntimeError: CUDA out of memory"))
        await wait_for_dashboard(pilot)
        header = text_of(screen.query_one(RunHeader))
        assert "failed" in header and "RuntimeError: CUDA out of memory" in header
        assert "run failed" in screen.query_one(EngineLog).lines[-1]
        await pilot.press("b")
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        app.screen.reload()
        await pilot.pause(0.3)
        assert "failed" in table.row_text(run_id)[1]


@pilot_test
async def test_a_dead_engine_shows_as_stale(runs):
    runs_dir, run_id = runs
    cut_mid_run(runs_dir, run_id)
    store = Store(runs_dir)
    last_ts = store.last_event(run_id).ts
    db = sqlite3.connect(str(Path(runs_dir) / "seal.db"))       # its engine: no such process
    with db:
        db.execute("UPDATE runs SET pid=?, heartbeat_at=? WHERE id=?", (2 ** 22 + 12345, last_ts, run_id))
    db.close()
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        header = text_of(screen.query_one(RunHeader))
        assert "stale" in header and "stopped responding" in header
        assert f"seal-tui resume {run_id}" in header           # how to go on, not cut at 120 columns
        # elapsed stops at the engine's last sign of life (the clock is at NOW), and no ETA
        assert screen.now() == last_ts and "ETA" not in header
        await pilot.press("p")
        await pilot.pause()
        assert store.pending_commands(run_id) == []
        assert any(f"seal-tui resume {run_id}" in n.message for n in app._notifications)
        await pilot.press("b")
        await pilot.pause()
        app.screen.reload()
        await pilot.pause(0.3)
        status = app.screen.query_one(RunsTable).row_text(run_id)[1]
        assert "stale" in status and time.strftime("%H:%M", time.gmtime(last_ts)) in status


@pilot_test
async def test_q_in_a_dashboard_quits_the_console(runs):
    """``seal-tui attach`` opens on the dashboard: q quits there too (the run keeps going)."""
    runs_dir, run_id = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dashboard(pilot, run_id)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0 and not app.is_running


# ---------------------------------------------------------------------- small terminals
@pilot_test
async def test_80x24_shows_one_pane_at_a_time(runs):
    runs_dir, run_id = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        assert screen.narrow
        shown = [p.pane_name for p in screen.query(".pane") if p.display and p.region.height]
        assert shown == ["candidates"]
        await pilot.press("4")
        await pilot.pause()
        shown = [p.pane_name for p in screen.query(".pane") if p.region.height]
        assert shown == ["accuracy"]
        assert screen.query_one("#accuracy").region.height >= 10


# ---------------------------------------------------------------------- new run
@pilot_test
async def test_new_run_form_validates_with_the_engines_rules(runs):
    runs_dir, _ = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, NewRunScreen)
        assert form.query_one("#" + field_id("model.name_or_path")).value == "sandbox"
        assert "✓ valid" in text_of(form.query_one("#new-run-summary"))
        k = form.query_one("#" + field_id("sample.k"))
        k.value = "0"
        await pilot.pause()
        summary = text_of(form.query_one("#new-run-summary"))
        assert "sample.k = 0: must be >= 1" in summary
        assert k.has_class("-invalid") and form.query_one("#new-run-start").disabled
        await pilot.press("ctrl+s")                 # refuses to start
        await pilot.pause()
        assert isinstance(app.screen, NewRunScreen)
        k.value = "2"
        await pilot.pause()
        assert not form.query_one("#new-run-start").disabled
        assert form.overrides() == ["sample.k=2"]
        # the sizes of a run are on the form too, with the preset's values
        assert form.query_one("#" + field_id("data.n_heldout")).value == "96"
        n_train = form.query_one("#" + field_id("data.n_train"))
        assert n_train.value == "32"
        n_train.value = "8"
        await pilot.pause()
        assert form.overrides() == ["data.n_train=8", "sample.k=2"]
        assert "3 rounds × 8 passages × K=2 = 16 inner-loop updates" in text_of(form.query_one("#new-run-summary"))
        form.query_one("#field-preset").value = "squad-paper"
        await pilot.pause()
        assert form.query_one("#" + field_id("model.name_or_path")).value == "Qwen/Qwen2.5-7B"
        assert form.query_one("#" + field_id("grader.kind")).value == "llm"
        form.query_one("#field-config").value = "missing.toml"
        await pilot.pause()
        assert "config file missing.toml does not exist" in text_of(form.query_one("#new-run-summary"))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)


@pilot_test
async def test_new_run_form_shows_a_fewshot_presets_own_fields(runs):
    """An arc preset is a few-shot run: the form shows its fields (where held-out tasks come from,
    plans per held-out task, the TTT cap and step budget) and hides the passages' (grader, inner.lr),
    says what the run will do in plans and ARC tasks, and validates them with the engine's rules."""
    runs_dir, _ = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(140, 50)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        form.query_one("#field-preset").value = "arc-paper"
        await pilot.pause()

        def shown(key: str) -> bool:
            return form.query_one("#" + field_id(key)).display

        assert all(shown(k) for k in ("data.heldout_path", "fewshot.heldout_self_edits", "fewshot.ttt_cap",
                                      "fewshot.max_steps", "sample.k"))
        assert not any(shown(k) for k in ("grader.kind", "inner.lr", "data.n_train"))
        assert str(form.query_one("#label-" + field_id("sample.k")).render()) == "Plans per task (K)"
        assert form.query_one("#" + field_id("fewshot.ttt_cap")).value == "250"
        summary = text_of(form.query_one("#new-run-summary"))
        assert "few-shot, 1 rounds × 12 ARC tasks × K=15 plans" in summary and "held-out 8 tasks × 5 plans" in summary
        cap = form.query_one("#" + field_id("fewshot.ttt_cap"))
        cap.value = "0"
        await pilot.pause()
        assert "fewshot.ttt_cap = 0" in text_of(form.query_one("#new-run-summary")) and cap.has_class("-invalid")
        cap.value = "64"
        await pilot.pause()
        assert form.overrides() == ["fewshot.ttt_cap=64"]
        form.query_one("#field-preset").value = "arc-sandbox"   # the sandbox: its own tasks, a compute budget
        await pilot.pause()
        summary = " ".join(text_of(form.query_one("#new-run-summary")).split())
        assert "few-shot, 2 rounds × 12 sandbox tasks × K=8 plans" in summary, summary
        assert "TTT ≤ 8 examples, ≤ 80 steps, ≤ 10,000 characters" in summary, summary
        form.query_one("#field-preset").value = "sandbox"   # back to knowledge: its fields again
        await pilot.pause()
        assert shown("grader.kind") and not shown("fewshot.ttt_cap")
        assert str(form.query_one("#label-" + field_id("sample.k")).render()) == "Self-edits per context (K)"


@pilot_test
async def test_keys_can_be_remapped_by_binding_id(runs):
    runs_dir, _ = runs
    app = SealApp(runs_dir, clock=lambda: NOW, keymap={"runs.new": "N"})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("N")
        await pilot.pause()
        assert isinstance(app.screen, NewRunScreen)


@pilot_test
async def test_every_binding_has_an_id_and_is_in_the_command_palette(runs):
    runs_dir, run_id = runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        for screen_cls in (RunsScreen, DashboardScreen, NewRunScreen, ConfirmScreen, HelpScreen):
            assert all(b.id for b in screen_cls.BINDINGS), screen_cls
        assert all(b.id for b in CandidatesTable.BINDINGS + RunsTable.BINDINGS + SealApp.BINDINGS)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"New run", "Filter", "Delete", "Quit"} <= titles
        await open_dashboard(pilot, run_id)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Pause/resume", "Stop", "Next pane", "Back", "Sort", "Follow"} <= titles


def test_rewards_trend_never_reads_minus_zero():
    """Mean reward 0.500 then 0.499: the change shows as +0.00, not as a red -0.00."""
    from seal_tui.state import RunState

    state = RunState(run_id="r")
    state.rewards = {1: [0.5, 0.5], 2: [0.499, 0.499]}
    pane = RewardsPane()
    pane.show(state)
    text = pane.render().plain
    assert "0.50 → 0.50  (+0.00)" in text and "-0.00" not in text


def test_accuracy_legend_names_the_round_of_a_baseline_measured_earlier():
    """Passage-only is measured at round 0 only: the legend must not present it as round 2's."""
    from seal_tui.widgets.accuracy_plot import legend

    text = legend({"self_edit": ([0, 1, 2], [0.32, 0.27, 0.46]), "passage": ([0], [0.29])}).plain
    assert text.startswith("R2 held-out:")
    assert "self-edits 46% " in text + " " and "self-edits 46% (R" not in text
    assert "passage 29% (R0)" in text
    # the train reward of a round not yet evaluated does not move the held-out round
    text = legend({"self_edit": ([0, 1], [0.32, 0.27]), "train_reward": ([1, 2], [0.3, 0.4])}).plain
    assert text.startswith("R1 held-out:") and "train reward 0.40 (R2)" in text
