"""The event contract: every kind a run writes is a class of engine.events, the store's tables
are the projection of the log, and the console's recorded logs have the shape the engine
writes today."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

import pytest

from engine import events as ev
from engine.store import Store
from tests.support import recorded


def test_every_kind_round_trips_and_old_logs_decode_with_defaults():
    for kind, cls in ev.KINDS.items():
        payload = cls()
        assert ev.decode(kind, ev.encode(payload)) == payload
        assert ev.decode(kind, {}) == payload                     # a v1 log lacking new fields
    old = ev.decode("review_decided", {"candidate_id": 3, "decision": "edit", "who": "ana"})
    assert (old.candidate_id, old.decision, old.edited_text) == (3, "edit", None)
    created = ev.decode("run_created", {"name": "n", "rounds": 2})
    assert created.task == "knowledge" and created.labels == ev.KNOWLEDGE_LABELS


def test_a_kind_this_version_does_not_know_is_kept_and_reduced_by_no_one():
    payload = ev.decode("from_the_future", {"x": 1})
    assert isinstance(payload, ev.Unknown) and payload.data == {"x": 1}
    assert ev.decode("log", {"level": "info", "message": "m", "added_later": 1}) == ev.Log("info", "m")


def test_the_store_records_only_event_classes(tmp_path):
    @dataclass
    class Homemade(ev.Payload):
        x: int = 0

    store = Store(tmp_path)
    with pytest.raises(TypeError, match="not an event kind"):
        store.record("r", Homemade())
    assert store.count_events("r") == 0


@pytest.mark.slow
def test_a_runs_log_holds_only_known_kinds_and_rebuilds_its_tables(recorded_run, tmp_path):
    runs_dir, run_id = recorded_run
    store = Store(runs_dir)
    events = list(store.iter_events(run_id))
    assert {e.kind for e in events} <= set(ev.KINDS)
    assert not any(isinstance(e.payload, ev.Unknown) for e in events)
    rebuilt = Store(tmp_path / "rebuilt")
    rebuilt.replay_into(events)
    assert rebuilt.candidates(run_id) == store.candidates(run_id)
    assert list(rebuilt.answer_rows(run_id)) == list(store.answer_rows(run_id))
    assert rebuilt.metrics(run_id) == store.metrics(run_id)
    for split in ("train", "heldout"):
        assert rebuilt.get_contexts(run_id, split) == store.get_contexts(run_id, split)
    same = ("status", "name", "preset", "model", "config_json", "created_at", "started_at", "finished_at",
            "rounds", "current_round", "phase", "best_heldout", "error")
    assert {k: rebuilt.get_run(run_id)[k] for k in same} == {k: store.get_run(run_id)[k] for k in same}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(recorded.RUN_IDS))
def test_the_consoles_recorded_logs_have_the_shape_the_engine_writes(name, recorded_run, recorded_eval_run):
    """Each kind in a committed log carries the fields the engine writes now (else regenerate them:
    python -m tests.support.recorded)."""
    fresh: dict[str, set[str]] = {}
    for runs_dir, run_id in (recorded_run, recorded_eval_run):
        for e in Store(runs_dir).iter_events(run_id):
            fresh.setdefault(e.kind, set()).update(e.data)
    for e in recorded.read_log(recorded.path_of(name)):
        assert set(e.data) == {f.name for f in fields(ev.KINDS[e.kind])}, (name, e.kind)
        if e.kind in fresh:
            assert set(e.data) == fresh[e.kind], (name, e.kind)
    assert json.loads(recorded.path_of(name).read_text().splitlines()[0])["kind"] == "run_created"
