"""The review step, engine side: the engine waits for decisions written through the store API."""

from __future__ import annotations

import subprocess

import pytest

from engine.store import Store
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import engine_cmd, tiny_run_args

pytestmark = pytest.mark.slow


def _start(model, data, runs_dir, *extra):
    args = tiny_run_args(model, data, runs_dir, "--set", "run.rounds=1", *extra)
    return subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _waiting(store: Store):
    runs = store.list_runs()
    return runs and runs[0]["status"] == "awaiting_review" and runs[0]["id"]


def test_kept_review_waits_and_trains_on_exactly_the_approved_and_edited_set(tiny_model_dir, data_file, tmp_path):
    proc = _start(tiny_model_dir, data_file, tmp_path, "--set", "run.review=\"kept\"")
    try:
        store = Store(tmp_path)
        run_id = wait_for(lambda: _waiting(store), timeout=180)
        queue = [c for c in store.candidates(run_id) if c["kept"]]
        assert len(queue) == 4 and all(c["review"] == "pending" for c in queue)
        n_before = store.count_events(run_id)
        wait_for(lambda: store.count_events(run_id) > n_before + 1, timeout=10)
        assert store.get_run(run_id)["status"] == "awaiting_review", "the engine went on without decisions"
        assert not any(e.kind == "mstep_done" for e in store.iter_events(run_id))
        a, b, c, d = queue
        store.decide(run_id, a["id"], "approve")
        store.decide(run_id, b["id"], "reject")
        store.decide(run_id, c["id"], "edit", edited_text="Edited line one.\nEdited line two.")
        store.decide(run_id, d["id"], "approve")
        store.decide(run_id, d["id"], "reject")  # a later decision wins
        assert proc.wait(timeout=240) == 0, proc.stderr.read()
        trained = {x["id"]: x["trained_text"] for x in store.candidates(run_id) if x["trained_text"]}
        assert trained == {a["id"]: a["self_edit"], c["id"]: "Edited line one.\nEdited line two."}
        states = {x["id"]: x["review"] for x in store.candidates(run_id) if x["review"]}
        assert states == {a["id"]: "approved", b["id"]: "rejected", c["id"]: "edited", d["id"]: "rejected"}
        done = [e.data for e in store.iter_events(run_id) if e.kind == "review_done"]
        assert done == [{"approved": 1, "rejected": 2, "edited": 1, "timed_out": False}]
        mstep = [e.data for e in store.iter_events(run_id) if e.kind == "mstep_done"]
        assert mstep[0]["examples"] == 2 and not mstep[0]["skipped"]
        # the dashboard, fed by the same events, says what the M-step trained on
        from rich.console import Console

        from seal_tui.reducer import apply
        from seal_tui.state import RunState
        from seal_tui.widgets.candidate_detail import render_candidate

        state = apply(RunState(run_id=run_id), store.iter_events(run_id))
        shown = {cid: (cand.trained, cand.trained_text) for cid, cand in state.candidates.items() if cand.trained}
        assert shown == {a["id"]: (True, None), c["id"]: (True, "Edited line one.\nEdited line two.")}
        console = Console(width=100, record=True)
        console.print(render_candidate(state.candidates[c["id"]], None))
        assert "The M-step trained on this edit" in console.export_text()
        console.print(render_candidate(state.candidates[b["id"]], None))
        assert console.export_text().count("The M-step trained") == 0
    finally:
        proc.kill()


def test_all_rejected_skips_the_mstep_with_a_reason(tiny_model_dir, data_file, tmp_path):
    proc = _start(tiny_model_dir, data_file, tmp_path, "--set", "run.review=\"kept\"")
    try:
        store = Store(tmp_path)
        run_id = wait_for(lambda: _waiting(store), timeout=180)
        for c in store.candidates(run_id):
            if c["kept"]:
                store.decide(run_id, c["id"], "reject")
        assert proc.wait(timeout=240) == 0
        mstep = [e.data for e in store.iter_events(run_id) if e.kind == "mstep_done"]
        assert mstep[0]["skipped"] and "no candidate" in mstep[0]["reason"]
        assert not any(c["trained_text"] for c in store.candidates(run_id))
    finally:
        proc.kill()


def test_review_timeout_applies_the_default_action_and_records_it(tiny_model_dir, data_file, tmp_path):
    proc = _start(tiny_model_dir, data_file, tmp_path, "--set", "run.review=\"all\"",
                  "--set", "run.review_timeout=1.5", "--set", "run.review_timeout_action=\"approve-kept\"")
    try:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
        store = Store(tmp_path)
        run_id = store.list_runs()[0]["id"]
        cands = store.candidates(run_id)
        decided = store.latest_decisions(run_id)
        assert len(decided) == len(cands) == 12  # mode all: every candidate was queued
        assert {d["who"] for d in decided.values()} == {"review-timeout"}
        approved = {cid for cid, d in decided.items() if d["decision"] == "approve"}
        assert approved == {c["id"] for c in cands if c["kept"]}
        done = next(e.data for e in store.iter_events(run_id) if e.kind == "review_done")
        assert done["timed_out"] is True and done["approved"] == len(approved)
    finally:
        proc.kill()
