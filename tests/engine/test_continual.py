"""Multi-passage and forgetting evaluations recorded by a real engine run."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, load_config
from engine.store import Store

pytestmark = pytest.mark.slow


def test_multi_passage_and_forgetting_results_per_round(recorded_eval_run):
    """The session's run with eval.multi_passage=3, eval.forgetting_k=3 and
    eval.forgetting_sequences=2 (one round, graded by a local judge)."""
    runs_dir, run_id = recorded_eval_run
    store = Store(runs_dir)
    evals = [e.data for e in store.iter_events(run_id) if e.kind == "eval_result"]
    assert [e["round"] for e in evals] == [0, 1]
    for ev in evals:
        mp = ev["multi_passage"]
        assert mp["n_passages"] == 3 and mp["n_questions"] == 9
        assert all(0 <= mp[k] <= 1 for k in ("none", "passage", "self_edit"))
        fg = ev["forgetting"]
        assert fg["k"] == 3 and fg["sequences"] == 2 and len(fg["mean"]) == 4
        assert all(v is not None for v in fg["mean"][0])  # row 0: the model before any edit
        for i, row in enumerate(fg["mean"][1:], 1):        # row i: only passages 0..i-1
            assert [v is None for v in row] == [j >= i for j in range(3)]
        assert len(fg["row_mean"]) == 4
    for name in ("multi_none", "multi_passage", "multi_self_edit", "forgetting_row_mean_final"):
        assert [m["round"] for m in store.metrics(run_id, name)] == [0, 1], name
    with pytest.raises(ConfigError):
        load_config(preset="squad-small", overrides=["eval.forgetting_k=500"])
