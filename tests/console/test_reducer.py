"""The reducer and the live source against a store a real engine run wrote."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from engine import events as ev
from engine.store import Event, Store
from seal_tui.format import printable
from seal_tui.reducer import apply, reduce
from seal_tui.sources import LiveTail
from seal_tui.state import MAX_CANDIDATES, MAX_LOG_LINES, MAX_TELEMETRY, RunState
from seal_tui.widgets.candidate_detail import render_candidate


def _state_of(runs_dir: Path, run_id: str) -> tuple[RunState, Store]:
    store = Store(runs_dir)
    return apply(RunState(run_id=run_id), store.iter_events(run_id)), store


def test_reduced_state_matches_what_the_engine_stored(recording):
    runs_dir, run_id = recording
    state, store = _state_of(runs_dir, run_id)
    run = store.get_run(run_id)
    assert state.status == run["status"] == "finished"
    assert state.rounds == run["rounds"] and state.round == run["rounds"]
    assert state.name == run["name"] and state.preset == run["preset"]

    stored = {c["id"]: c for c in store.candidates(run_id)}
    assert set(state.candidates) == set(stored)
    for cid, row in stored.items():
        cand = state.candidates[cid]
        assert cand.reward == pytest.approx(row["reward"])
        assert cand.kept == bool(row["kept"])
        assert cand.self_edit == printable(row["self_edit"])
        assert len(cand.answers) == len(store.answers(cid))

    for rnd in range(1, run["rounds"] + 1):
        assert sorted(state.rewards[rnd]) == sorted(c["reward"] for c in stored.values() if c["round"] == rnd)
        assert state.kept_count[rnd] == sum(1 for c in stored.values() if c["round"] == rnd and c["kept"])
    heldout = {m["round"]: m["value"] for m in store.metrics(run_id, "heldout_self_edit")}
    assert {r: e["self_edit"] for r, e in state.evals.items()} == pytest.approx(heldout)
    assert set(state.mstep_done) == set(range(1, run["rounds"] + 1))
    assert state.telemetry and state.telemetry[-1].gpus == []
    engine_lines = [e.data["message"] for e in store.iter_events(run_id) if e.kind == "log"]
    assert [line.message for line in state.log][-len(engine_lines):] == [printable(m) for m in engine_lines]


def test_same_events_give_the_same_state(recording):
    runs_dir, run_id = recording
    first, store = _state_of(runs_dir, run_id)
    second = RunState(run_id=run_id)
    for event in store.iter_events(run_id):   # one at a time instead of in batches
        reduce(second, event)
    assert first == second


def test_buffers_stay_bounded():
    state = RunState(run_id="r")
    n = MAX_CANDIDATES + 500
    events = []
    for i in range(1, n + 1):
        events.append(Event(i, "r", float(i), "candidate_sampled", 1, "sample",
                            {"id": i, "context_idx": i, "cand_idx": 0, "title": "t", "self_edit": "x"}))
        events.append(Event(n + i, "r", float(i), "log", 1, None, {"level": "info", "message": f"line {i}"}))
        events.append(Event(2 * n + i, "r", float(i), "telemetry", None, None,
                            {"cpu_pct": 1.0, "rss_mb": 2.0, "gpus": []}))
    apply(state, events)
    assert len(state.candidates) == MAX_CANDIDATES
    assert state.candidates_dropped == 500
    assert min(state.candidates) == 501            # the oldest went first
    assert len(state.log) == MAX_LOG_LINES and state.log[-1].message == f"line {n}"
    assert len(state.telemetry) == MAX_TELEMETRY


def test_control_characters_from_the_model_never_reach_the_terminal():
    state = RunState(run_id="r")
    reduce(state, Event(1, "r", 0.0, "candidate_sampled", 1, "sample",
                        {"id": 1, "context_idx": 0, "cand_idx": 0, "title": "t\x1b[2J",
                         "self_edit": "a\x1b]0;pwned\x07b\nc\rd\x00"}))
    cand = state.candidates[1]
    assert "\x1b" not in cand.title and "\x1b" not in cand.self_edit and "\x07" not in cand.self_edit
    assert "\r" not in cand.self_edit and "\x00" not in cand.self_edit
    assert cand.self_edit.split("\n")[0].startswith("a\ufffd")


def test_failed_run_keeps_its_error():
    state = RunState(run_id="r")
    apply(state, [Event(1, "r", 0.0, "run_started", 0, "setup", {"pid": 1}),
                  Event(2, "r", 5.0, "run_failed", 0, "setup", {"error": "ModelLoadError: no model at /x"})])
    assert state.status == "failed" and state.error == "ModelLoadError: no model at /x"
    assert state.elapsed(now=100.0) == 5.0


def test_live_tail_reads_incrementally_and_follows_new_events(recording, tmp_path):
    runs_dir, run_id = recording
    store = Store(runs_dir)
    total = store.count_events(run_id)
    source = LiveTail(runs_dir, run_id, poll_s=0.01, batch=50)
    stop = threading.Event()
    seen: list[int] = []
    for message in source.stream(stop.is_set):
        if hasattr(message, "events"):
            ids = [e.id for e in message.events]
            assert len(ids) <= 50 and (not seen or ids[0] > seen[-1])
            seen += ids
            source.ack()
        if len(seen) >= total:
            break
    assert len(seen) == total and seen == sorted(set(seen))


def test_console_never_imports_torch(recording):
    """The console opens at once over SSH: no torch, transformers, peft (or pandas) behind any screen."""
    runs_dir, run_id = recording
    code = f"""
import asyncio, sys
from pathlib import Path
from seal_tui.app import SealApp
from tests.support.console import wait_for_dashboard
async def go():
    app = SealApp(Path({str(runs_dir)!r}))
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run({run_id!r})
        await wait_for_dashboard(pilot)
        app.pop_screen()
        app.new_run()
        await pilot.pause()
asyncio.run(go())
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'peft', 'accelerate', 'pandas'))
print('HEAVY', heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HEAVY []" in out.stdout, out.stdout


def test_the_reducer_has_a_handler_for_every_event_kind():
    from engine.events import KINDS
    from seal_tui.reducer import handled_kinds

    assert handled_kinds() == set(KINDS)


def test_a_fewshot_runs_parts_are_kept_and_a_knowledge_runs_have_none(recording):
    def event(i: int, payload, rnd: int | None = None) -> Event:
        return Event(i, "fs", float(i), payload.KIND, rnd, None, ev.encode(payload))

    schema = {"type": "object", "required": ["training"]}
    arc = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3]], "output": [[4]]}]}
    detail = {"input": [[3]], "gold": [[4]], "answer": [[5]], "attempts": [[[5]]], "views": []}
    state = apply(RunState(run_id="fs"), [
        event(1, ev.RunCreated(task="fewshot", self_edit_schema=schema)),
        event(2, ev.Contexts(items=[{"idx": 0, "title": "t", "context": "", "questions": [], "arc": arc}])),
        event(3, ev.CandidateSampled(id=1, self_edit="{}", summary="basic · out · lr 1e-4 · 1 ep",
                                     facets=["basic", "output tokens"]), 1),
        event(4, ev.CandidateSampled(id=2, self_edit="no plan"), 1),
        event(5, ev.CandidateScored(id=1, reward=0.0, answers=[{"question": "q", "gold": "4", "answer_before": "",
                                                                "answer_after": "5", "correct_before": False,
                                                                "correct_after": False, "detail_after": detail}]), 1),
        event(6, ev.CandidateScored(id=2, reward=0.0, invalid="no JSON object in the self-edit", dropped=3), 1),
        event(7, ev.CandidateFiltered(id=1, kept=True), 1),
        event(8, ev.CandidateFiltered(id=2, kept=False), 1),
    ])
    assert state.self_edit_schema == schema and state.context(0)["arc"] == arc
    first, second = state.candidates[1], state.candidates[2]
    assert (first.summary, first.facets, first.invalid) == ("basic · out · lr 1e-4 · 1 ep", ["basic", "output tokens"],
                                                            None)
    assert first.answers[0]["detail_after"] == detail
    assert (second.summary, second.facets, second.invalid) == ("", [], "no JSON object in the self-edit")
    assert (first.dropped, second.dropped) == (0, 3)
    console = Console(width=200, record=True)
    console.print(render_candidate(second, state.context(0)))
    shown = console.export_text()
    assert "invalid: no JSON object in the self-edit" in shown
    assert "3 training examples left out whole: longer than model.max_seq_len" in shown
    assert state.sampled_count == {1: 2}
    assert state.facets_sampled == {1: {"basic": 1, "output tokens": 1}}
    assert state.facets_kept == {1: {"basic": 1, "output tokens": 1}}
    apply(state, [event(9, ev.CandidateFiltered(id=1, kept=False), 1)])      # filtered again: no longer kept
    assert state.facets_kept == {1: {"basic": 0, "output tokens": 0}}

    knowledge, _ = _state_of(*recording)
    assert knowledge.self_edit_schema is None and not knowledge.facets_kept and not knowledge.facets_sampled
    assert all(not c.summary and not c.facets and c.invalid is None for c in knowledge.candidates.values())
    assert all("arc" not in ctx for ctx in knowledge.contexts["train"].values())
