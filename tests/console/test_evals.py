"""The dashboard's evaluations pane: single passage, multi-passage and forgetting per round.

Fed by eval_result events of a real engine run with eval.multi_passage and
eval.forgetting_k set (``recorded_eval_run``: a local judge grades, so the numbers
differ from cell to cell); every number the pane shows is checked against the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import events as ev
from engine.store import Event, Store
from seal_tui.reducer import apply, reduce
from seal_tui.screens.help import HelpScreen
from seal_tui.state import RunState
from seal_tui.widgets.accuracy_plot import AccuracyView
from seal_tui.widgets.eval_pane import EvalView, eval_text
from tests.support.console import make_app, open_dashboard, pilot_test, text_of


def recorded_evals(runs_dir: Path, run_id: str) -> dict[int, dict]:
    store = Store(runs_dir)
    try:
        return {e.data["round"]: e.data for e in store.iter_events(run_id) if e.kind == "eval_result"}
    finally:
        store.close()


# ---------------------------------------------------------------------- reducer
def test_the_reducer_keeps_each_rounds_evaluations_as_recorded(eval_recording):
    runs_dir, run_id = eval_recording
    store = Store(runs_dir)
    state = apply(RunState(run_id=run_id), store.iter_events(run_id))
    recorded = recorded_evals(runs_dir, run_id)
    assert sorted(state.round_evals) == sorted(recorded) == [0, 1]
    for rnd, d in recorded.items():
        ev = state.round_evals[rnd]
        assert (ev.none, ev.passage, ev.self_edit, ev.n_contexts, ev.n_questions) == \
            (d["none"], d["passage"], d["self_edit"], 3, 9)
        mp, rec = ev.multi_passage, d["multi_passage"]
        assert (mp.n_passages, mp.n_questions, mp.none, mp.passage, mp.self_edit) == \
            (3, 9, rec["none"], rec["passage"], rec["self_edit"])
        fg, rec = ev.forgetting, d["forgetting"]
        assert (fg.k, fg.sequences, fg.mean, fg.std, fg.row_mean) == \
            (3, 2, rec["mean"], rec["std"], rec["row_mean"])
        assert [sum(v is not None for v in row) for row in fg.mean] == [3, 1, 2, 3]  # before any edit, then 1..k
    # the same numbers as the metrics the engine wrote beside the events
    for name, pick in (("multi_self_edit", lambda ev: ev.multi_passage.self_edit),
                       ("multi_none", lambda ev: ev.multi_passage.none),
                       ("forgetting_row_mean_final", lambda ev: ev.forgetting.row_mean[-1]),
                       ("forgetting_first_passage_final", lambda ev: ev.forgetting.mean[-1][0]),
                       ("heldout_self_edit", lambda ev: ev.self_edit)):
        rows = store.metrics(run_id, name)
        assert rows and all(pick(state.round_evals[m["round"]]) == pytest.approx(m["value"]) for m in rows), name
    # varied numbers (the judge's verdicts on answers that adaptation changed), or the pane test proves little
    cells = {v for ev in state.round_evals.values() for row in ev.forgetting.mean for v in row if v is not None}
    assert len(cells) >= 2
    assert any(len({ev.none, ev.passage, ev.self_edit}) > 1 for ev in state.round_evals.values())
    assert any(len({ev.multi_passage.none, ev.multi_passage.passage, ev.multi_passage.self_edit}) > 1
               for ev in state.round_evals.values())
    store.close()


def _event(data: dict, eid: int = 1) -> Event:
    return Event(id=eid, run_id="r", ts=1.0, kind="eval_result", round=data.get("round"), phase="eval", data=data)


def test_the_reducer_leaves_out_what_it_cannot_draw_right():
    single = {"round": 2, "none": 0.25, "passage": "0.5", "self_edit": 0.75, "n_contexts": 2, "n_questions": 4}
    mean = [[0.5, 0.25], [0.5, None], [0.25, 0.75]]
    state = RunState(run_id="r")
    # an imported matrix: no std, no row means -> the means of the measured cells
    reduce(state, _event({**single, "forgetting": {"k": 2, "sequences": 64, "mean": mean}}))
    fg = state.round_evals[2].forgetting
    assert (fg.k, fg.sequences, fg.std, fg.row_mean) == (2, 64, None, [0.375, 0.5, 0.5])
    assert state.round_evals[2].passage == 0.5 and state.round_evals[2].multi_passage is None
    # a std of another shape is dropped, the means kept
    reduce(state, _event({**single, "forgetting": {"k": 2, "mean": mean, "std": [[0.1, 0.1]]}}, 2))
    assert state.round_evals[2].forgetting.std is None and state.round_evals[2].forgetting.mean == mean
    # a mean of another shape (k rows, not k+1) is left out; the single-passage numbers stay
    reduce(state, _event({**single, "forgetting": {"k": 2, "mean": mean[:2]}, "multi_passage": "n/a"}, 3))
    ev = state.round_evals[2]
    assert ev.forgetting is None and ev.multi_passage is None and ev.self_edit == 0.75
    # the pane redraws on evaluations only, not on every M-step step
    rev = state.rev_evals
    reduce(state, Event(id=4, run_id="r", ts=2.0, kind="mstep_progress", round=2, phase="train",
                        data={"step": 1, "total": 2, "loss": 1.0}))
    assert state.rev_evals == rev


def test_a_rescored_policy_is_a_row_of_its_own_and_leaves_the_runs_rounds_as_they_were(eval_recording):
    """seal-engine eval's policy_eval: listed under the run's rounds with its label (and a teacher's
    column where it measured one); the run's round rows and best figure do not move."""
    runs_dir, run_id = eval_recording
    store = Store(runs_dir)
    state = apply(RunState(run_id=run_id), store.iter_events(run_id))
    before = eval_text(state, None, 120).plain
    rounds, best = section(before, "Single passage"), state.best_heldout
    r1 = recorded_evals(runs_dir, run_id)[1]
    rescore = ev.PolicyEval(**{**r1, "self_edit": 0.999, "teacher": 0.5, "round": 1},
                            policy="/runs/x/policy/round-1", label="round 1 policy", overrides=["eval.k=3"])
    reduce(state, Event.of(rescore, id=10_000, run_id=run_id, round=1, phase="eval"))
    after = eval_text(state, None, 120).plain
    assert section(after, "Single passage") == rounds and state.best_heldout == best
    table = section(after, "Re-scored policies")
    assert "teacher self-edits" in table[1]
    assert table[2].split() == ["round", "1", "policy", pct(r1["none"]), pct(r1["passage"]), "99.9%", "50.0%"]


# ---------------------------------------------------------------------- the pane
def section(text: str, title: str) -> list[str]:
    """The lines of one part of the pane, from its title to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out = []
    for line in lines[start:]:
        if not line.strip():
            break
        out.append(line)
    return out


def table_row(lines: list[str], rnd: int) -> list[str]:
    return next(line.split()[1:] for line in lines if line.startswith(f"R{rnd} "))


def pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"     # not measured that round (e.g. passage only after round 0)


def heatmap_rows(lines: list[str]) -> list[list[str]]:
    """Each row of the heatmap as [label, cells..., row mean]."""
    out = []
    for line in lines:
        for label in ("before edits", "after edit "):
            if line.startswith(label):
                head, rest = (label, line[len(label):]) if label == "before edits" else \
                    (label + line[len(label):].split()[0], " ".join(line[len(label):].split()[1:]))
                out.append([head.strip(), *rest.split()])
    return out


def expected_heatmap(fg: dict) -> list[list[str]]:
    rows = []
    for i, (means, stds) in enumerate(zip(fg["mean"], fg["std"])):
        cells = ["·" if m is None else f"{m * 100:.0f}±{s * 100:.0f}" for m, s in zip(means, stds)]
        rows.append(["before edits" if i == 0 else f"after edit {i}", *cells, f"{fg['row_mean'][i] * 100:.0f}"])
    return rows


@pilot_test
async def test_the_evals_pane_shows_the_numbers_the_engine_stored(eval_runs):
    runs_dir, run_id = eval_runs
    recorded = recorded_evals(runs_dir, run_id)
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        assert not screen.query_one("#evals-pane").display          # the grid shows the six panes
        await pilot.press("e")
        await pilot.pause()
        assert screen.current_pane == "evals" and app.focused is screen.query_one(EvalView)
        assert screen.query_one("#evals-pane").region.height > 20
        assert not screen.query_one("#candidates-pane").region.height   # alone: it needs the width
        text = text_of(screen.query_one("#evals"))
        single, multi = section(text, "Single passage"), section(text, "Multi-passage")
        assert "3 passages · 9 questions" in single[0] and "3 passages · 9 questions" in multi[0]
        for rnd, d in recorded.items():
            assert table_row(single, rnd) == [pct(d["none"]), pct(d["passage"]), pct(d["self_edit"])]
            mp = d["multi_passage"]
            assert table_row(multi, rnd) == [pct(mp["none"]), pct(mp["passage"]), pct(mp["self_edit"])]
        forgetting = section(text, "Forgetting")
        assert forgetting[0].startswith("Forgetting  R1 · 3 self-edits merged in turn · mean ± std over 2 sequences")
        assert heatmap_rows(forgetting) == expected_heatmap(recorded[1]["forgetting"])
        assert "← → rounds R0 R1" in text
        await pilot.press("left")                    # round 0's matrix
        await pilot.pause()
        text = text_of(screen.query_one("#evals"))
        assert section(text, "Forgetting")[0].startswith("Forgetting  R0 ")
        assert heatmap_rows(section(text, "Forgetting")) == expected_heatmap(recorded[0]["forgetting"])
        await pilot.press("e")                       # again: back to the pane before, in the grid
        await pilot.pause()
        assert screen.current_pane == "candidates" and screen.query_one("#candidates-pane").region.height
        assert not screen.query_one("#evals-pane").display
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = app.screen.text
        assert "| `e` | Evals" in help_text and "*Evals* (`e`)" in help_text and "forgetting" in help_text


@pilot_test
async def test_a_run_without_them_says_how_to_turn_them_on(runs):
    runs_dir, run_id = runs                      # the recorded run: eval.multi_passage and forgetting_k off
    recorded = recorded_evals(runs_dir, run_id)
    app = make_app(runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        await pilot.press("7")
        await pilot.pause()
        assert screen.current_pane == "evals"
        assert [p.pane_name for p in screen.query(".pane") if p.region.height] == ["evals"]
        text = text_of(screen.query_one("#evals"))
        assert "Multi-passage  not run: set eval.multi_passage = N to enable" in text
        assert "Forgetting  not run: set eval.forgetting_k = k to enable" in text
        single = section(text, "Single passage")
        assert sorted(recorded) == [0, 1, 2]
        for rnd, d in recorded.items():
            assert table_row(single, rnd) == [pct(d["none"]), pct(d["passage"]), pct(d["self_edit"])]
        await pilot.press("tab")                     # one pane at a time: Tab goes on through the tabs
        await pilot.pause()
        assert screen.current_pane == "candidates"


@pilot_test
async def test_the_accuracy_pane_is_unchanged_by_the_evals(eval_runs):
    """The accuracy curves still read the single-passage numbers of the same events."""
    runs_dir, run_id = eval_runs
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        legend = text_of(screen.query_one(AccuracyView).query_one("#accuracy-legend"))
        last = recorded_evals(runs_dir, run_id)[1]
        assert f"self-edits {last['self_edit']:.0%}" in legend
