"""A run killed in its M-step is resumed, and the M-step is done again from its first step: the
store's metrics and the dashboard's loss curve keep one loss per step, not both attempts'."""

from __future__ import annotations

import dataclasses

from engine.events import Event
from engine.store import Store
from seal_tui.reducer import apply
from seal_tui.state import RunState
from tests.support import recorded


def redone_log() -> list[Event]:
    """The recorded run's log as a resume after a kill in round 1's M-step leaves it: the M-step's
    progress events a second time (the redo), then the rest."""
    events = recorded.read_log(recorded.path_of("recorded"))
    done = next(i for i, e in enumerate(events) if e.kind == "mstep_done" and e.round == 1)
    steps = [e for e in events[:done] if e.kind == "mstep_progress" and e.round == 1]
    assert steps, "the recorded run has M-step progress in round 1"
    last_id = max(e.id for e in events)
    again = [dataclasses.replace(e, id=last_id + n + 1) for n, e in enumerate(steps)]
    tail = [dataclasses.replace(e, id=last_id + len(again) + n + 1) for n, e in enumerate(events[done:])]
    return events[:done] + again + tail


def test_a_redone_m_step_keeps_one_loss_per_step_in_the_store_and_the_dashboard(tmp_path):
    events = redone_log()
    store = Store(tmp_path / "runs")
    store.replay_into(events)
    run_id = events[0].run_id
    losses = [(m["round"], m["step"]) for m in store.metrics(run_id, "mstep_loss")]
    assert losses and len(losses) == len(set(losses)), losses
    state = apply(RunState(run_id=run_id), events)
    points = [(rnd, step) for rnd, step, _ in state.mstep_loss]
    assert points and len(points) == len(set(points)), points
    assert points == sorted(points)
