"""The few-shot (ARC) experiment through the real engine subprocess: a tiny Llama with a grid
tokenizer made here, one round on 4 real ARC tasks (tests.support.fewshot_models)."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from engine.store import Store
from engine.tasks.fewshot.grids import CHAT
from engine.tasks.fewshot.plan import PlanError, parse_plan
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import engine_cmd, run_engine
from tests.support.fewshot_models import HELDOUT_IDS, TRAIN_IDS, fewshot_run_args, make_plan_writing_model

pytestmark = pytest.mark.slow

# one slot per inner-loop chunk: a kill lands between two candidates' test-time training
ONE_SLOT = ("--set", "inner.parallel=1")


@pytest.fixture(scope="module")
def fewshot_model(tmp_path_factory):
    return make_plan_writing_model(tmp_path_factory.mktemp("fewshot-model") / "model")


@pytest.fixture(scope="module")
def fewshot_run(fewshot_model, tmp_path_factory):
    runs = tmp_path_factory.mktemp("fewshot-runs")
    proc = run_engine(*fewshot_run_args(fewshot_model, runs, *ONE_SLOT))
    assert proc.returncode == 0, proc.stderr
    return runs, proc.stdout.split()[1]


def task_check(text: str) -> str | None:
    try:
        parse_plan(text)
    except PlanError as exc:
        return str(exc)
    return None


def _events(store: Store, run_id: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for e in store.iter_events(run_id):
        out.setdefault(e.kind, []).append(e)
    return out


def test_a_fewshot_round_records_plans_views_votes_and_rewards(fewshot_run):
    runs, run_id = fewshot_run
    store = Store(runs)
    events = _events(store, run_id)
    created = events["run_created"][0].payload
    assert created.task == "fewshot" and created.labels["passage"] == "oracle TTT"
    assert created.self_edit_schema["required"] == ["data_generation", "training"]
    phases = {e.payload.phase for e in events["phase"]}
    assert {"sample", "inner_loop", "filter", "train", "eval"} <= phases
    assert store.get_run(run_id)["status"] == "finished"

    # the contexts are the ARC tasks, with their raw grids
    train, heldout = store.get_contexts(run_id, "train"), store.get_contexts(run_id, "heldout")
    assert sorted(c["title"] for c in train) == sorted(TRAIN_IDS)
    assert sorted(c["title"] for c in heldout) == sorted(HELDOUT_IDS)
    for c in train + heldout:
        assert c["arc"]["test"] and all("output" in t for t in c["arc"]["test"])

    cands = store.candidates(run_id, 1)
    assert len(cands) == 2 * 2   # 2 tasks x sample.k
    for c in cands:
        why = task_check(c["self_edit"])
        if why:   # resampled, then given up: scored 0, unadapted, with the reason
            assert c["invalid"] == why and c["reward"] == 0.0 and not c["summary"]
            continue
        plan = parse_plan(c["self_edit"])
        assert c["invalid"] is None and c["summary"] == plan.label()
        assert json.loads(c["facets_json"])[:len(plan.families)] == list(plan.families)
        answers = store.answers(c["id"])
        assert len(answers) == 1     # one test input per task here
        after = answers[0]["detail_after"]
        # the identity view (the demonstrations in their order and one shuffled, where that differs) and
        # the transpose view, each answered and read back (or not) as a grid
        names = [v["view"] for v in after["views"]]
        assert names.count("transpose") == 1 and 1 <= names.count("identity") <= 2
        assert after["gold"] == next(t for t in train if t["title"] == c["title"])["arc"]["test"][0]["output"]
        readable = [v["grid"] for v in after["views"] if v["grid"] is not None]
        assert len(after["attempts"]) == min(len({json.dumps(g) for g in readable}), 2)
        solved = after["gold"] in after["attempts"]
        assert answers[0]["correct_after"] == solved and c["reward"] == float(solved)
        assert answers[0]["answer_after"] == (CHAT.render(tuple(map(tuple, after["answer"]))) if after["answer"] else "")
    rewards = {c["reward"] for c in cands}
    assert rewards <= {0.0, 1.0}
    # the tiny model knows the training tasks' answers: the plans decide whether TTT keeps them
    assert rewards == {0.0, 1.0}, "every plan scored the same: nothing for ReSTEM to select"
    kept = [c for c in cands if c["kept"]]
    assert kept and all(c["reward"] == 1.0 for c in kept)
    trained = events["mstep_examples"][0].payload.candidates
    assert {t["id"] for t in trained} == {c["id"] for c in kept}

    # held out: 2 tasks x fewshot.heldout_self_edits = 2 plans each, a task counting once
    for e in events["eval_result"]:
        r = e.payload
        assert r.n_contexts == 2 and r.n_questions == 2
        for pc in r.per_context:
            assert len(pc["self_edit_texts"]) == 2 and len(pc["self_edit_correct"]) == 2
            assert pc["self_edit"] == sum(pc["self_edit_correct"]) / 2
        assert r.self_edit == sum(sum(pc["self_edit_correct"]) for pc in r.per_context) / 4


def test_kill_9_in_test_time_training_then_resume_rescores_nothing(fewshot_model, fewshot_run, tmp_path):
    proc = subprocess.Popen(engine_cmd(*fewshot_run_args(fewshot_model, tmp_path, *ONE_SLOT)), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = Store(tmp_path)
    try:
        def some_scored():
            runs = store.list_runs()
            if not runs:
                return None
            cands = store.candidates(runs[0]["id"], 1)
            scored = [c for c in cands if c["scored_at"] is not None]
            return 0 < len(scored) < len(cands) and runs[0]["id"]
        run_id = wait_for(some_scored, timeout=240, interval=0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    before = {c["id"]: c["scored_at"] for c in store.candidates(run_id, 1) if c["scored_at"] is not None}
    assert 0 < len(before) < 4
    assert store.get_run(run_id)["phase"] == "inner_loop"

    resumed = run_engine("resume", run_id, "--runs-dir", str(tmp_path), timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    cands = store.candidates(run_id, 1)
    assert len(cands) == 4 and all(c["scored_at"] is not None for c in cands)
    assert {cid: c["scored_at"] for cid, c in ((c["id"], c) for c in cands) if cid in before} == before, "rescored"
    # the same run uninterrupted: the same plans and rewards
    runs, first_id = fewshot_run
    plain = Store(runs).candidates(first_id, 1)
    assert [(c["self_edit"], c["reward"], c["kept"]) for c in cands] == \
           [(c["self_edit"], c["reward"], c["kept"]) for c in plain]
    scored_events = [e for e in store.iter_events(run_id) if e.kind == "candidate_scored"]
    assert len(scored_events) == 4, "a candidate was scored twice"
