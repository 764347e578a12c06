"""The teacher condition (eval.teacher) through the real openai client against a real loopback chat
server: the same prompt, the replies kept in the run's store before scoring and never asked for again,
a failing teacher pausing the run, the key only from the environment; and a whole engine run with it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
import zlib

import pytest

from engine import events as ev
from engine.config import load_config
from engine.runtime import RunContext, RunStopped
from engine.store import Store
from engine.teacher import Teacher, teacher_self_edits
from seal_tui.reducer import apply
from seal_tui.state import RunState
from seal_tui.widgets.eval_pane import eval_text
from tests.support.chat_server import ChatServer
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import run_engine, tiny_run_args

KEY_ENV = "SEAL_TEST_TEACHER_KEY"


def teacher_writes(user: str) -> str:
    """A teacher's notes on the passage it was shown (its title line), two lines."""
    title = user.splitlines()[0].removeprefix("Title: ")
    return f"{title} is the subject of this passage.\nThe passage says more about {title}."


def teacher_cfg(server: ChatServer, *extra: str):
    sets = ['eval.teacher="teacher-test"', f'eval.teacher_base_url="{server.url}"',
            f'eval.teacher_api_key_env="{KEY_ENV}"', "grader.max_retries=1", "grader.concurrency=2", *extra]
    return load_config(None, "sandbox", sets)


@pytest.fixture
def run(tmp_path):
    store = Store(tmp_path)
    run_id = "teacher-run"
    store.record(run_id, ev.RunCreated(name=run_id), round_=0, phase="setup")
    log = logging.getLogger(f"test.teacher.{uuid.uuid4().hex}")
    context = RunContext(store, run_id, log, tmp_path / run_id)
    context.status = "running"
    return context


PROMPTS = ["Title: Arlen Voss\nPassage: Arlen Voss was born in Brill.\nWrite notes.",
           "Title: Mira Talbe\nPassage: Mira Talbe paints in Caddo.\nWrite notes."]


def recorded_items(run: RunContext) -> list[dict]:
    return [item for e in run.store.events_of(run.run_id, (ev.TeacherSelfEdits.KIND,)) for item in e.payload.items]


def test_the_teacher_writes_from_the_same_prompt_and_is_asked_once(server, run, monkeypatch):
    secret = f"teacher-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, secret)
    server.write = teacher_writes
    cfg = teacher_cfg(server, "eval.k=2", "eval.temperature=1.0")
    texts = teacher_self_edits(run, Teacher(cfg, run_id=run.run_id), PROMPTS, k=2)
    assert texts == [[teacher_writes(PROMPTS[0])] * 2, [teacher_writes(PROMPTS[1])] * 2]
    assert server.requests == 4
    # the prompt the policy gets, as the one user turn; sampled as the policy's held-out self-edits are
    assert sorted(b["messages"][0]["content"] for b in server.bodies) == sorted(PROMPTS * 2)
    assert {(b["model"], b["temperature"], b["top_p"], b["max_tokens"]) for b in server.bodies} == {
        ("teacher-test", 1.0, cfg.sample.top_p, cfg.sample.max_new_tokens)}
    assert server.auth_headers == {f"Bearer {secret}"}
    items = recorded_items(run)
    assert sorted((i["context_idx"], i["j"]) for i in items) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # a resumed run (or a later round, or a re-score) reads them back: no request
    again = teacher_self_edits(run, Teacher(cfg, run_id=run.run_id), PROMPTS, k=2)
    assert again == texts and server.requests == 4 and len(recorded_items(run)) == 4
    # a third sample is asked for alone
    teacher_self_edits(run, Teacher(cfg, run_id=run.run_id), PROMPTS, k=3)
    assert server.requests == 6
    run.store.close()
    assert secret.encode() not in (run.store.runs_dir / "seal.db").read_bytes()


def test_a_failing_teacher_keeps_what_it_wrote_pauses_the_run_and_finishes_on_resume(server, run, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "x")
    server.write = teacher_writes
    server.errors = [401]            # not retried: one self-edit is missing, the other is kept
    cfg = teacher_cfg(server)
    out: list = []
    worker = threading.Thread(target=lambda: out.append(
        teacher_self_edits(run, Teacher(cfg, run_id=run.run_id), PROMPTS, k=1)), daemon=True)
    worker.start()
    wait_for(lambda: run.store.get_run(run.run_id)["status"] == "paused", timeout=30)
    reason = run.store.get_run(run.run_id)["error"]
    assert reason.startswith("teacher teacher-test at http://127.0.0.1") and "HTTP 401" in reason
    assert "1 of 2 self-edits still to get" in reason
    assert len(recorded_items(run)) == 1, "what the teacher wrote is kept before the pause"
    assert server.requests == 2, "a request that cannot succeed is not retried"
    run.store.send_command(run.run_id, "resume")
    worker.join(timeout=30)
    assert out == [[[teacher_writes(PROMPTS[0])], [teacher_writes(PROMPTS[1])]]]
    assert server.requests == 3 and len(recorded_items(run)) == 2


def test_retries_are_bounded_then_the_run_pauses(server, run, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "x")
    server.fail_status = 503
    cfg = teacher_cfg(server)
    teacher = Teacher(cfg, run_id=run.run_id)
    teacher.BACKOFF_BASE = 0.01
    ended: list[str] = []

    def ask() -> None:
        try:
            teacher_self_edits(run, teacher, PROMPTS, k=1)
        except RunStopped as stop:
            ended.append(str(stop))

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    wait_for(lambda: run.store.get_run(run.run_id)["status"] == "paused", timeout=30)
    assert "HTTP 503" in run.store.get_run(run.run_id)["error"]
    assert 2 <= server.requests <= 4   # grader.max_retries = 1: two attempts at most for each of the two
    asked = server.requests
    time.sleep(0.5)
    assert server.requests == asked, "a paused run asks nothing more"
    run.store.send_command(run.run_id, "stop")
    worker.join(timeout=30)
    assert ended and ended[0].startswith("stop command") and recorded_items(run) == []


def test_a_run_with_a_teacher_needs_its_key_before_it_starts(tmp_path, tiny_model_dir, data_file, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    proc = run_engine(*tiny_run_args(tiny_model_dir, data_file, tmp_path, "--set", 'eval.teacher="gpt-4.1"',
                                     "--set", 'eval.teacher_base_url="https://api.example.com/v1"',
                                     "--set", f'eval.teacher_api_key_env="{KEY_ENV}"'), timeout=120)
    assert proc.returncode == 2
    assert (f"the teacher gpt-4.1 at https://api.example.com/v1 needs an API key, but the environment variable "
            f"{KEY_ENV} (eval.teacher_api_key_env) is not set") in proc.stderr
    assert "Traceback" not in proc.stderr and Store(tmp_path).list_runs() == []


# ---------------------------------------------------------------- the real engine
def judge_and_teacher(server: ChatServer) -> list[str]:
    """A hash judge (yes for about half the answers: the random tiny model gets no gold answer right) and
    the teacher on one loopback server; plain prompts, k = 2 sampled held-out self-edits."""
    server.reply = lambda question, gold, answer: "yes" if zlib.crc32(f"{question}\n{answer}".encode()) % 2 else "no"
    server.write = teacher_writes
    sets = {"run.rounds": "1", "inner.lr": "0.03", "model.chat_template": '"off"', "grader.kind": '"llm"',
            "grader.base_url": json.dumps(server.url), "grader.model": '"judge-test"',
            "grader.api_key_env": json.dumps(KEY_ENV), "grader.concurrency": "4", "eval.k": "2",
            "eval.temperature": "1.0", "eval.teacher": '"teacher-test"'}
    return [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]


def teacher_requests(server: ChatServer) -> int:
    return sum(1 for b in server.bodies if "Student answer" not in b["messages"][-1]["content"])


@pytest.mark.slow
def test_an_engine_run_scores_the_teacher_and_a_rescore_pays_nothing_again(server, tiny_model_dir, data_file,
                                                                            tmp_path):
    secret = f"teacher-secret-{uuid.uuid4().hex}"
    proc = run_engine(*tiny_run_args(tiny_model_dir, data_file, tmp_path, *judge_and_teacher(server)),
                      env={KEY_ENV: secret}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[1]
    store = Store(tmp_path)
    evals = {e.round: e.payload for e in store.events_of(run_id, (ev.EvalResult.KIND,))}
    n_heldout = evals[0].n_contexts
    assert teacher_requests(server) == n_heldout * 2          # eval.k self-edits per held-out passage, once
    # its own line at round 0, beside the passage alone (a baseline of the base model), not after round 1
    assert evals[0].teacher is not None and evals[1].teacher is None
    assert [m["round"] for m in store.metrics(run_id, "heldout_teacher")] == [0]
    heldout = store.get_contexts(run_id, "heldout")
    for c, ctx in zip(evals[0].per_context, heldout):
        assert c["teacher_text"] == teacher_writes(f"Title: {ctx['title']}")
        # eval.k: each of the two self-edits scored on its own; the passage's figure is their mean
        assert len(c["self_edit_texts"]) == 2 and len(c["teacher_correct"]) == 2
        assert c["self_edit"] == pytest.approx(sum(c["self_edit_correct"]) / 2 / c["n"])
        assert c["teacher"] == pytest.approx(sum(c["teacher_correct"]) / 2 / c["n"])
    for cond in ("self_edit", "teacher"):
        recomputed = sum(c[f"{cond}_correct"][0] + c[f"{cond}_correct"][1] for c in evals[0].per_context) / 2
        assert getattr(evals[0], cond) == pytest.approx(recomputed / evals[0].n_questions)
    store.close()

    # the run's teacher settings hold for a re-score of round 1: its self-edits come from the store
    before = teacher_requests(server)
    rescore = subprocess.run([sys.executable, "-m", "engine", "eval", run_id, "--round", "1", "--runs-dir",
                              str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300,
                             env={**os.environ, KEY_ENV: secret})
    assert rescore.returncode == 0, rescore.stderr
    assert teacher_requests(server) == before
    store = Store(tmp_path)
    (scored,) = [e.payload for e in store.events_of(run_id, (ev.PolicyEval.KIND,))]
    assert scored.label == "round 1 policy" and scored.teacher is not None
    assert "round 1 policy: no adaptation" in rescore.stdout and "teacher" in rescore.stdout
    # the dashboard's evals pane: the teacher's column by its model's name, the re-score in its own table
    state = apply(RunState(run_id), store.iter_events(run_id))
    text = eval_text(state, None, 120).plain
    assert "teacher-test self-edits" in text and "Re-scored policies" in text and "round 1 policy" in text
    store.close()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [str(p) for p in files if secret.encode() in p.read_bytes()] == []
