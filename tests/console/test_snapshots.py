"""SVG snapshots of the runs screen and the dashboard (a real engine run, normalized).

Update after an intended change with ``pytest tests/console/test_snapshots.py --snapshot-update``
and look at the report before committing.
"""

from __future__ import annotations

import pytest

from tests.support.console import cut_mid_run, make_app, wait_for_dashboard

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(snap_compare, runs, size):
    runs_dir, _ = runs
    assert snap_compare(make_app(runs_dir), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_of_a_finished_run(snap_compare, runs, size):
    runs_dir, run_id = runs

    async def open_run(pilot):
        pilot.app.open_run(run_id)
        await wait_for_dashboard(pilot)

    assert snap_compare(make_app(runs_dir), terminal_size=size, run_before=open_run)


def test_dashboard_mid_run_with_a_candidate_open(snap_compare, runs):
    runs_dir, run_id = runs
    cut_mid_run(runs_dir, run_id, after_kind="candidate_scored", nth=15)

    async def open_candidate(pilot):
        pilot.app.open_run(run_id)
        await wait_for_dashboard(pilot)
        await pilot.press("up", "up", "enter")
        await wait_for_dashboard(pilot)

    assert snap_compare(make_app(runs_dir), terminal_size=(120, 40), run_before=open_candidate)


@pytest.mark.parametrize("size", SIZES)
def test_evals_pane(snap_compare, eval_runs, size):
    """Single passage, multi-passage and the forgetting heatmap of a run that has all three."""
    runs_dir, run_id = eval_runs

    async def open_evals(pilot):
        pilot.app.open_run(run_id)
        await wait_for_dashboard(pilot)
        await pilot.press("e")
        await wait_for_dashboard(pilot)

    assert snap_compare(make_app(runs_dir), terminal_size=size, run_before=open_evals)
