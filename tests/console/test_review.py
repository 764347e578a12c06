"""The review screen, on the recorded run that waits for review (mode ``kept``: 4 kept
self-edits), as a console sees it while its engine waits (``tests.support.recorded``).

Each test drives a private copy of the store. What a live engine then does with the
decisions is tested end to end in tests/e2e/test_review_engine.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import events as ev
from engine.store import Store
from seal_tui.app import SealApp
from seal_tui.screens.dashboard import DashboardScreen
from seal_tui.screens.review import ReviewScreen
from seal_tui.screens.review_editor import SelfEditEditor
from seal_tui.screens.runs import RunsScreen
from seal_tui.widgets.review_evidence import ReviewEvidence
from seal_tui.widgets.review_queue import ReviewCounts, ReviewQueue
from tests.support import recorded
from tests.support.console import copy_store, edit_current, make_live, pilot_test, text_of, until

EDITED = "Edited by a person.\nThe policy trains on this."


@pytest.fixture(scope="session")
def waiting_store(tmp_path_factory) -> tuple[Path, str]:
    runs_dir = tmp_path_factory.mktemp("review-recorded") / "runs"
    return runs_dir, recorded.load("review", runs_dir)


@pytest.fixture
def frozen_copy(waiting_store, tmp_path) -> tuple[Path, str]:
    """A private copy of the store as it was while the engine waited (the engine: this process)."""
    runs_dir = copy_store(waiting_store[0], tmp_path / "runs")
    make_live(runs_dir, waiting_store[1])
    return runs_dir, waiting_store[1]


def make_app(runs_dir: Path) -> SealApp:
    return SealApp(runs_dir, poll_s=0.05, keymap={})




async def open_review_from_runs(pilot) -> ReviewScreen:
    app = pilot.app
    await until(pilot, lambda: "await review" in text_of(app.screen.query_one("#runs-title")),
                what="the runs screen's review badge")
    await pilot.press("R")
    screen = await until(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.loaded
                         and app.screen.snapshot.queue and app.screen, what="the review queue")
    return screen


def decisions(store: Store, run_id: str) -> dict[int, tuple[str, str | None]]:
    return {cid: (d["decision"], d["edited_text"]) for cid, d in store.latest_decisions(run_id).items()}


def counts_text(screen: ReviewScreen) -> str:
    return text_of(screen.query_one("#review-counts-text"))




@pilot_test
async def test_approve_reject_undo_edit_write_decision_rows(frozen_copy):
    runs_dir, run_id = frozen_copy
    store = Store(runs_dir)
    queue = [c for c in store.candidates(run_id) if c["kept"]]
    assert len(queue) == 4
    c1, c2, c3, c4 = (c["id"] for c in queue)
    app = make_app(runs_dir)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_review_from_runs(pilot)
        assert [c["id"] for c in screen.snapshot.queue] == [c1, c2, c3, c4]
        assert screen.current_id == c1
        assert "pending 4" in counts_text(screen)
        evidence = text_of(screen.query_one(ReviewEvidence).query_one("#review-evidence-body"))
        assert "Passage" in evidence and "Questions" in evidence and "kept by the filter" in evidence

        await pilot.press("a")
        assert decisions(store, run_id) == {c1: ("approve", None)}
        assert screen.current_id == c2              # on to the next pending
        await pilot.press("x")
        assert decisions(store, run_id) == {c1: ("approve", None), c2: ("reject", None)}
        await pilot.press("backspace")
        assert decisions(store, run_id) == {c1: ("approve", None)}
        assert screen.current_id == c2              # back on the undone one
        rows = [r[0] for r in store.conn.execute("SELECT decision FROM decisions WHERE run_id=? ORDER BY id",
                                                 (run_id,))]
        assert rows == ["approve", "reject", "undo"]

        await edit_current(pilot, EDITED)
        assert decisions(store, run_id) == {c1: ("approve", None), c2: ("edit", EDITED)}
        assert store.candidates(run_id)[0]["self_edit"] is not None
        assert {c["id"]: c["self_edit"] for c in store.candidates(run_id)}[c2] == queue[1]["self_edit"]
        assert "approved 1" in counts_text(screen) and "edited 1" in counts_text(screen)
        assert "pending 2" in counts_text(screen)
        assert "the engine waits for 2 more decisions" in text_of(screen.query_one("#review-status"))

        await pilot.press("space")                  # skip c3: nothing written
        assert screen.current_id == c4 and len(decisions(store, run_id)) == 2
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen), what="back on the runs screen")


@pilot_test
async def test_approve_all_kept_sees_a_second_console_and_undoes_as_one(frozen_copy):
    runs_dir, run_id = frozen_copy
    store = Store(runs_dir)
    c1, c2, c3, c4 = (c["id"] for c in store.candidates(run_id) if c["kept"])
    app = make_app(runs_dir)
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_run(run_id)
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
        await pilot.press("R")
        screen = await until(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.loaded
                             and app.screen.snapshot.queue and app.screen, what="the review queue")

        other = Store(runs_dir)                     # a second console, another person
        other.decide(run_id, c3, "reject", who="colleague")
        # the engine reports it (as it does within half a second of any decision)
        other.record(run_id, ev.ReviewDecided(candidate_id=c3, decision="reject", who="colleague"),
                     round_=1, phase="review")
        await until(pilot, lambda: "rejected 1" in counts_text(screen), what="the other console's decision")
        queue_text = str(screen.query_one(ReviewQueue).get_option(str(c3)).prompt)
        assert "rejected" in queue_text

        await pilot.press("A")
        assert decisions(store, run_id) == {c1: ("approve", None), c2: ("approve", None),
                                            c3: ("reject", None), c4: ("approve", None)}
        assert "approved 3" in counts_text(screen) and "pending 0" in counts_text(screen)
        assert screen.query_one(ReviewCounts).query_one("#review-progress").percentage == 1.0

        await pilot.press("backspace")              # one undo takes the whole batch back
        assert decisions(store, run_id) == {c3: ("reject", None)}
        assert "pending 3" in counts_text(screen)


@pilot_test
async def test_every_review_binding_has_an_id_and_is_in_the_palette(frozen_copy):
    runs_dir, run_id = frozen_copy
    app = make_app(runs_dir)
    async with app.run_test(size=(140, 45)) as pilot:
        assert all(b.id for b in ReviewScreen.BINDINGS + SelfEditEditor.BINDINGS)
        screen = await open_review_from_runs(pilot)
        titles = {c.title for c in app.get_system_commands(screen)}
        assert {"Approve", "Reject", "Edit", "Skip", "Undo", "Approve all kept", "Search", "Back"} <= titles
        keys = {b.key for b in ReviewScreen.BINDINGS if b.action == "back"}
        assert "b" in keys                          # never Esc alone
        # the mouse: a click on the Reject button decides the current candidate
        first = screen.current_id
        await pilot.press("down")                   # the queue has the keys: ↓ shows the next one
        assert screen.current_id != first and app.focused is screen.query_one(ReviewQueue)
        await pilot.press("up")
        assert screen.current_id == first
        await pilot.click("#review-do-reject")
        assert decisions(Store(runs_dir), run_id) == {first: ("reject", None)}
        # search narrows the queue to candidates whose text matches
        await pilot.press("slash", *"zzqqxx-no-match")
        await until(pilot, lambda: screen.query_one(ReviewQueue).option_count == 0, what="an empty search")
        await pilot.press("escape")
        await until(pilot, lambda: screen.query_one(ReviewQueue).option_count == 4, what="the search cleared")
