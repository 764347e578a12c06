"""The console on a recorded few-shot (ARC) run (``tests/console/fixtures/fewshot.jsonl``): plans
in the candidates table, grids in the detail pane and the review evidence, success rates and
augmentation switches in the rewards pane, the held-out conditions by the task's names, and a
plan edited in review checked against the run's schema before it is sent.

Expectations are read from the store (what the engine recorded), not written in here.
"""

from __future__ import annotations

import json

import pytest
from rich.color import Color
from textual.geometry import Region
from textual.widgets import TextArea

from engine.store import Store
from seal_tui.screens.review import ReviewScreen
from seal_tui.screens.review_editor import SelfEditEditor
from seal_tui.widgets.arc_grid import ARC_COLORS, MARK
from seal_tui.widgets.candidates_table import CandidatesTable
from seal_tui.widgets.rewards_pane import RewardsPane
from tests.support.console import make_app, open_dashboard, pilot_test, text_of, until, wait_for_dashboard
from tests.support.fewshot_console import scored, waiting_for_review

SIZE = (160, 50)


# ---------------------------------------------------------------------- reading what is drawn
def drawn_lines(widget) -> list[list[tuple[str, object]]]:
    """Every line the widget draws, as (character, style) per column."""
    out = []
    for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)):
        out.append([(ch, seg.style) for seg in strip for ch in seg.text])
    return out


def grid_under(lines, caption: str, height: int, width: int, nth: int = 0) -> list[list[tuple[str, object]]]:
    """The ``height`` x ``width`` cells (two columns each) drawn under the ``nth`` ``caption`` (a
    caption stands apart: two spaces or the line's edge on either side)."""
    seen = 0
    for y, line in enumerate(lines):
        text = "".join(ch for ch, _ in line).rstrip()
        x = text.find(caption)
        while x >= 0:
            end = x + len(caption)
            if text[max(0, x - 2):x].strip() == "" and text[end:end + 2].strip() == "":
                if seen == nth:
                    return [[lines[y + 1 + r][x + 2 * c:x + 2 * c + 2] for c in range(width)] for r in range(height)]
                seen += 1
            x = text.find(caption, x + 1)
    raise AssertionError(f"no caption {caption!r} (#{nth}) in the pane")


def colours_of(cells) -> list[list[Color | None]]:
    return [[cell[0][1].bgcolor if cell[0][1] else None for cell in row] for row in cells]


def arc_colours(grid) -> list[list[Color]]:
    return [[Color.parse(ARC_COLORS[v]) for v in row] for row in grid]


def marked(cells) -> list[list[bool]]:
    return [[MARK in "".join(ch for ch, _ in cell) for cell in row] for row in cells]


def flat(widget) -> str:
    return " ".join(text_of(widget).split())


# ---------------------------------------------------------------------- the recorded run's facts
def pick(store: Store, run_id: str) -> tuple[dict, dict]:
    """A scored candidate whose answer after TTT was read as a grid, one that differs from gold
    where the run has one (the detail then shows marks), and that answer record."""
    parsed = None
    for cand in scored(store, run_id):
        if cand["invalid"]:
            continue
        for a in store.answers(cand["id"]):
            after = a.get("detail_after") or {}
            if after.get("answer") is not None and after["answer"] != after["gold"]:
                return cand, a
            if parsed is None and after.get("answer") is not None:
                parsed = cand, a
    assert parsed is not None, "the recorded few-shot run has no grid read after test-time training"
    return parsed


async def open_candidate(pilot, screen, cid: int) -> None:
    table = screen.query_one(CandidatesTable)
    await pilot.press("1", "home", *["down"] * table.row_ids.index(cid), "enter")
    await until(pilot, lambda: screen.query_one("#detail").candidate_id == cid, what="the candidate in the detail")
    await pilot.pause()


# ---------------------------------------------------------------------- dashboard
@pilot_test
async def test_candidates_table_shows_each_plan_in_a_line(fewshot_runs):
    runs_dir, run_id = fewshot_runs
    store = Store(runs_dir)
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dashboard(pilot, run_id)
        table = screen.query_one(CandidatesTable)
        assert "Self-edit (plan)" in text_of(table).splitlines()[0]
        cands = store.candidates(run_id)
        assert table.row_count == len(cands)
        for cand in cands:
            shown = table.row_text(cand["id"])[-1]
            if cand["summary"]:
                assert cand["summary"] in shown
            if cand["invalid"]:
                assert shown.startswith("invalid · ")
        assert any(c["summary"] for c in cands)


@pilot_test
async def test_detail_draws_the_task_the_answer_and_gold_as_coloured_cells(fewshot_runs):
    runs_dir, run_id = fewshot_runs
    store = Store(runs_dir)
    cand, answer = pick(store, run_id)
    ctx = store.get_contexts(run_id, "train")[cand["context_idx"]]
    demo = ctx["arc"]["train"][0]
    after = answer["detail_after"]
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dashboard(pilot, run_id)
        await open_candidate(pilot, screen, cand["id"])
        body = screen.query_one("#detail-body")
        text = flat(body)
        assert cand["summary"] in text
        assert f"Demonstrations ({len(ctx['arc']['train'])})" in text
        lines = drawn_lines(body)
        for caption, grid in (("in 1", demo["input"]), ("out 1", demo["output"]),
                              ("test input", after["input"]), ("gold", after["gold"])):
            cells = grid_under(lines, caption, len(grid), len(grid[0]))
            assert colours_of(cells) == arc_colours(grid), caption
            assert not any(any(row) for row in marked(cells)), caption
        got, gold = after["answer"], after["gold"]
        cells = grid_under(lines, "answer after TTT", len(got), len(got[0]))
        assert colours_of(cells) == arc_colours(got)
        if len(got) == len(gold) and len(got[0]) == len(gold[0]):
            assert marked(cells) == [[g != v for g, v in zip(grow, vrow)] for grow, vrow in zip(gold, got)]
        views = after["views"]
        read = sum(1 for v in views if v["grid"] is not None)
        assert f"views: {read} of {len(views)} read a grid" in text
        assert "attempts:" in text


@pilot_test
async def test_an_invalid_self_edit_shows_its_reason(fewshot_runs):
    runs_dir, run_id = fewshot_runs
    store = Store(runs_dir)
    invalid = [c for c in scored(store, run_id) if c["invalid"]]
    if not invalid:
        pytest.skip("the recorded run has no invalid self-edit")
    cand = invalid[0]
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dashboard(pilot, run_id)
        await open_candidate(pilot, screen, cand["id"])
        text = flat(screen.query_one("#detail-body"))
        assert f"invalid: {' '.join(cand['invalid'].split())}" in text
        assert "not adapted: the self-edit is invalid" in text


@pilot_test
async def test_without_colours_grids_are_digits(fewshot_runs, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    runs_dir, run_id = fewshot_runs
    store = Store(runs_dir)
    cand, _ = pick(store, run_id)
    demo = store.get_contexts(run_id, "train")[cand["context_idx"]]["arc"]["train"][0]["input"]
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dashboard(pilot, run_id)
        await open_candidate(pilot, screen, cand["id"])
        lines = text_of(screen.query_one("#detail-body")).splitlines()
        y = next(i for i, line in enumerate(lines) if line.lstrip().startswith("in 1"))
        x = lines[y].index("in 1")
        for r, row in enumerate(demo):
            assert lines[y + 1 + r][x:x + 2 * len(row)].rstrip() == " ".join(map(str, row))


@pilot_test
async def test_rewards_pane_shows_success_rate_and_switches_per_round(fewshot_runs):
    runs_dir, run_id = fewshot_runs
    store = Store(runs_dir)
    cands = scored(store, run_id)
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dashboard(pilot, run_id)
        text = flat(screen.query_one(RewardsPane))
        for rnd in sorted({c["round"] for c in cands}):
            these = [c for c in cands if c["round"] == rnd]
            solved = sum(1 for c in these if c["reward"] >= 1)
            assert f"R{rnd} solved {solved}/{len(these)} {solved / len(these):.0%}" in text
            kept = [c for c in these if c["kept"]]
            facets = {f for c in store.candidates(run_id) if c["round"] == rnd
                      for f in json.loads(c["facets_json"] or "[]")}
            for facet in facets:
                n_kept = sum(facet in json.loads(c["facets_json"] or "[]") for c in kept)
                n_all = sum(facet in json.loads(c["facets_json"] or "[]") for c in store.candidates(run_id)
                            if c["round"] == rnd)
                assert f"{facet} {n_kept}/{n_all}" in text, facet


@pilot_test
async def test_accuracy_legend_names_the_three_held_out_conditions(fewshot_runs):
    runs_dir, run_id = fewshot_runs
    labels = next(e.payload.labels for e in Store(runs_dir).iter_events(run_id) if e.kind == "run_created")
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dashboard(pilot, run_id)
        legend = text_of(screen.query_one("#accuracy-legend"))
        for key in ("none", "passage_short", "self_edit"):
            assert labels[key] in legend, key


# ---------------------------------------------------------------------- review
def plan(learning_rate) -> str:
    return json.dumps({"data_generation": {"use_basic_augmentations": True, "use_size_augmentations": False,
                                           "use_chain_augmentations": False, "use_repeat_augmentations": True},
                       "training": {"strategy": "train_using_output_tokens", "learning_rate": learning_rate,
                                    "num_train_epochs": 2}}, indent=2)


async def save_in_editor(pilot, text: str) -> SelfEditEditor | None:
    """Replace the editor's text, save; returns the editor if it stayed open."""
    editor = pilot.app.screen
    editor.query_one(TextArea).load_text(text)
    await pilot.press("ctrl+s")
    await pilot.pause()
    return pilot.app.screen if isinstance(pilot.app.screen, SelfEditEditor) else None


@pilot_test
async def test_review_draws_grids_and_checks_an_edited_plan_against_the_schema(fewshot_runs):
    runs_dir, run_id = fewshot_runs
    queue = waiting_for_review(runs_dir, run_id)
    store = Store(runs_dir)
    first = store.candidates_by_id([queue[0]])[queue[0]]
    schema = next(e.payload.self_edit_schema for e in store.iter_events(run_id) if e.kind == "run_created")
    top = schema["properties"]["training"]["properties"]["learning_rate"]["maximum"]
    app = make_app(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReviewScreen(run_id))
        screen = await until(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.snapshot.queue
                             and app.screen, what="the review queue")
        assert screen.current_id == queue[0]
        evidence = screen.query_one("#review-evidence-body")
        await until(pilot, lambda: "Demonstrations" in flat(evidence), what="the task's grids in the evidence")
        ctx = store.get_contexts(run_id, "train")[first["context_idx"]]
        demo = ctx["arc"]["train"][0]["input"]
        cells = grid_under(drawn_lines(evidence), "in 1", len(demo), len(demo[0]))
        assert colours_of(cells) == arc_colours(demo)
        if first["summary"]:
            assert first["summary"] in flat(evidence)
            # the queue names each plan too (as much of it as the pane's width shows)
            assert f"#{first['id']} {first['title']} · {first['summary'].split(' · ')[0]}" in \
                flat(screen.query_one("#review-queue"))

        await pilot.press("e")
        editor = await until(pilot, lambda: isinstance(app.screen, SelfEditEditor) and app.screen,
                             what="the self-edit editor")
        assert editor.query_one(TextArea).text == first["self_edit"]
        editor = await save_in_editor(pilot, "use rotations and {")
        assert editor is not None
        assert "Not saved: not JSON" in text_of(editor.query_one("#editor-problem"))
        editor = await save_in_editor(pilot, plan(5))
        assert editor is not None
        assert f"training.learning_rate: 5 is greater than the maximum of {top}" in \
            text_of(editor.query_one("#editor-problem"))
        assert store.latest_decisions(run_id) == {}                 # nothing was sent

        good = plan(0.0001)
        assert await save_in_editor(pilot, good) is None
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="back from the editor")
        decided = store.latest_decisions(run_id)
        assert decided[queue[0]]["decision"] == "edit" and decided[queue[0]]["edited_text"] == good
        if len(queue) > 1:
            await pilot.press("a")
            await until(pilot, lambda: queue[1] in store.latest_decisions(run_id), what="the approval row")
            assert store.latest_decisions(run_id)[queue[1]]["decision"] == "approve"


# ---------------------------------------------------------------------- snapshot
def test_snapshot_dashboard_with_a_fewshot_candidate_open(snap_compare, fewshot_runs):
    """The dashboard of the recorded few-shot run, the detail pane on a candidate's grids (one pane
    at a time, as under 110 columns: the whole pane for the plan, the task and the answer).
    Update after an intended change with ``--snapshot-update`` (and look at the report)."""
    runs_dir, run_id = fewshot_runs
    cand, _ = pick(Store(runs_dir), run_id)

    async def open_it(pilot):
        screen = await open_dashboard(pilot, run_id)
        await open_candidate(pilot, screen, cand["id"])
        await wait_for_dashboard(pilot)

    assert snap_compare(make_app(runs_dir), terminal_size=(100, 36), run_before=open_it)


@pilot_test
async def test_the_evals_pane_of_a_fewshot_run_speaks_of_arc_tasks_only(fewshot_runs):
    """Held-out ARC tasks with the task's condition names and the engine's success rates; no
    multi-passage or forgetting sections (knowledge incorporation's evaluations)."""
    runs_dir, run_id = fewshot_runs
    store = Store(runs_dir)
    results = {e.round: e.payload for e in store.iter_events(run_id) if e.kind == "eval_result"}
    app = make_app(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_dashboard(pilot, run_id)
        await pilot.press("e")
        await pilot.pause()
        text = text_of(screen.query_one("#evals"))
        head = text.splitlines()[0]
        assert head.startswith("Held-out ARC tasks") and f"{results[0].n_contexts} ARC tasks" in head
        assert "Multi-passage" not in text and "Forgetting" not in text and "passage" not in head
        for rnd, r in results.items():
            row = next(line for line in text.splitlines() if line.startswith(f"R{rnd} "))
            assert row.split()[1:] == [f"{100 * v:.1f}%" if v is not None else "–"
                                       for v in (r.none, r.passage, r.self_edit)]


def test_compare_names_its_plots_in_the_runs_words(fewshot_runs, recording):
    """Compare of few-shot runs plots success rates of plans; of knowledge runs, accuracy of
    self-edits as before; mixed, both words."""
    from seal_tui.compare_data import load_comparison, plot_titles

    runs_dir, run_id = fewshot_runs
    fewshot = load_comparison(Store(runs_dir), [run_id])
    assert fewshot[0].task == "fewshot" and fewshot[0].heldout
    assert plot_titles(fewshot) == ("Held-out success (self-edit TTT)", "Success rate of the sampled plans")
    knowledge = load_comparison(Store(recording[0]), [recording[1]])
    assert plot_titles(knowledge) == ("Held-out accuracy (self-edits)", "Mean reward of the scored self-edits")
    assert "few-shot" in plot_titles(fewshot + knowledge)[0]
