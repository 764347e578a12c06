"""The LLM judge through the real openai client against a real local chat server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace

import pytest

from engine.config import GraderCfg
from engine.graders import GradeItem, GraderFailure
from engine.judge import JUDGE_RULES, JudgeSetupError, LLMJudge, parse_verdict
from engine.store import Store
from engine.tasks.base import make_grader
from tests.support.chat_server import ChatServer
from tests.support.common import REPO, wait_for
from tests.support.engine_runs import engine_cmd, run_engine, tiny_run_args

KEY_ENV = "SEAL_TEST_JUDGE_KEY"


@pytest.fixture
def secret(monkeypatch) -> str:
    value = f"judge-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, value)
    return value


def judge_for(server: ChatServer, store=None, **cfg) -> LLMJudge:
    base = GraderCfg(kind="llm", base_url=server.url, model="judge-test", api_key_env=KEY_ENV,
                     concurrency=4, max_retries=3, timeout=5.0)
    judge = make_grader(replace(base, **cfg), store=store, run_id="test-run")
    judge.BACKOFF_BASE = 0.01  # an instance setting: the real policy, shorter waits
    return judge


def items(n: int, start: int = 0) -> list[GradeItem]:
    """Even items answer with the gold, odd ones with something else."""
    return [GradeItem(f"Where was person {i} born?", f"City{i}",
                      f"Person {i} was born in City{i}." if i % 2 == 0 else f"Somewhere near Town{i}")
            for i in range(start, start + n)]


# ---------------------------------------------------------------- parsing
@pytest.mark.parametrize("reply, verdict", [
    ("yes", True), ("No", False), ("YES.", True), ("no.", False), ("**Yes**", True),
    ("Verdict: yes", True), ("Verdict: **NO**", False), ("verdict - No", False),
    ("Yes, the student's answer matches the gold answer.", True),
    ("No - it names a different city, so it contradicts the gold.", False),
    ("The student's answer gives the same year, so the answer is yes.", True),
    ("It adds detail but matches. Final answer: Yes", True),
    ("<think>The gold says Paris; the student says Lyon. No match.</think>\nno", False),
    ("'yes'", True), ("`no`", False), ("Correct.", True), ("Incorrect", False),
    ("  \n yes \n", True),
    ("The student's answer is no different from the gold answer, so yes.", True),
    ("The answer is yes because both name the same river.", True),
])
def test_verdicts_are_read_from_the_usual_reply_shapes(reply, verdict):
    assert parse_verdict(reply) is verdict


@pytest.mark.parametrize("reply", ["", "maybe", "I cannot tell from this.", "Nothing to say here", "notable"])
def test_replies_without_a_verdict_are_unreadable_not_no(reply):
    assert parse_verdict(reply) is None


# ---------------------------------------------------------------- requests
def test_verdicts_come_back_in_order_with_reasons_and_token_counts(server, secret):
    judge = judge_for(server)
    batch = items(6)
    verdicts = judge.grade(batch)
    assert [v.correct for v in verdicts] == [True, False, True, False, True, False]
    assert all(v.reason.startswith("judge: ") for v in verdicts)
    assert server.auth_headers == {f"Bearer {secret}"}
    body = server.bodies[0]
    assert body["model"] == "judge-test" and body["temperature"] == 0
    assert body["messages"][0] == {"role": "system", "content": JUDGE_RULES}
    stats = judge.stats()
    assert stats["requests"] == 6 and stats["items"] == 6 and stats["retries"] == 0
    assert stats["prompt_tokens"] > 6 * 50 and stats["completion_tokens"] == 6


def test_the_concurrency_limit_is_honoured(server, secret):
    server.delay = 0.15
    judge_for(server, concurrency=3).grade(items(12))
    assert server.requests == 12 and server.max_in_flight == 3
    server.max_in_flight = 0
    judge_for(server, concurrency=1).grade(items(4, start=100))
    assert server.max_in_flight == 1


def test_rate_limits_and_server_errors_are_retried_then_succeed(server, secret):
    server.errors = [429, 500, 503]
    server.retry_after = "0.3"
    judge = judge_for(server, concurrency=1, max_retries=3)
    t0 = time.monotonic()
    verdicts = judge.grade(items(2))
    assert [v.correct for v in verdicts] == [True, False]
    assert time.monotonic() - t0 >= 0.3, "Retry-After of the 429 was not waited for"
    stats = judge.stats()
    assert stats["requests"] == 5 and stats["retries"] == 3 and stats["failures"] == 0


def test_a_slow_reply_times_out_and_is_retried_on_the_next_grade(server, secret):
    server.delay = 3.0
    judge = judge_for(server, timeout=0.4, max_retries=1)
    t0 = time.monotonic()
    with pytest.raises(GraderFailure, match=r"timeout: no reply within 0.4 s \(gave up after 2 attempts\)"):
        judge.grade(items(1))
    assert time.monotonic() - t0 < 2.5
    server.delay = 0.0
    assert judge.grade(items(1))[0].correct is True


def test_unreadable_replies_are_retried_not_scored_zero(server, secret):
    replies = iter(["Hmm, hard to say.", "Yes."])
    server.reply = lambda q, g, a: next(replies)
    judge = judge_for(server, max_retries=2)
    assert judge.grade(items(1))[0].correct is True
    assert judge.stats()["unparsed"] == 1 and judge.stats()["retries"] == 1
    server.reply = lambda q, g, a: "I would rather not say."
    with pytest.raises(GraderFailure, match="not a yes/no verdict"):
        judge.grade(items(1, start=1))


def test_regrading_the_same_answers_costs_no_request(server, secret, tmp_path):
    store = Store(tmp_path)
    batch = items(5) + items(5)  # duplicates inside a batch are asked once
    first = judge_for(server, store=store).grade(batch)
    assert server.requests == 5
    again = judge_for(server, store=Store(tmp_path))  # e.g. the engine after a resume
    assert again.grade(list(reversed(batch))) == list(reversed(first))
    assert server.requests == 5
    assert again.stats()["cache_hits"] == 10 and again.stats()["requests"] == 0
    other_model = judge_for(server, store=store, model="another-judge")
    other_model.grade(items(5))
    assert server.requests == 10, "a different judge model must not reuse verdicts"
    assert store.conn.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0] == 10


def test_empty_answers_are_wrong_without_asking(server, secret):
    judge = judge_for(server)
    verdicts = judge.grade([GradeItem("Where?", "Paris", "  "), *items(1)])
    assert [v.correct for v in verdicts] == [False, True] and verdicts[0].reason == "empty answer"
    assert server.requests == 1


def test_a_judge_that_keeps_failing_raises_with_what_failed(server, secret):
    server.fail_status = 500
    judge = judge_for(server, concurrency=2, max_retries=2)
    with pytest.raises(GraderFailure) as err:
        judge.grade(items(8))
    message = str(err.value)
    assert "HTTP 500" in message and server.url in message and "judge-test" in message
    assert "gave up after 3 attempts" in message
    assert server.requests < 8 * 3, "the other verdicts should stop once one has given up"
    assert judge.stats()["failures"] >= 1
    server.fail_status = None
    assert [v.correct for v in judge.grade(items(8))] == [i % 2 == 0 for i in range(8)]


# ---------------------------------------------------------------- the API key
def test_a_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    cfg = GraderCfg(kind="llm", api_key_env=KEY_ENV)  # OpenAI's endpoint: a key is required
    with pytest.raises(JudgeSetupError, match=f"environment variable {KEY_ENV} .*is not set"):
        LLMJudge(cfg)


def test_a_local_server_needs_no_key(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    url = server.url.replace("127.0.0.1", "localhost")
    judge = LLMJudge(GraderCfg(kind="llm", base_url=url, model="judge-test", api_key_env=KEY_ENV))
    assert [v.correct for v in judge.grade(items(2))] == [True, False]
    assert server.auth_headers == {"Bearer no-key-needed"}


def test_an_auth_error_is_not_retried_and_never_shows_the_key(server, secret):
    server.fail_status = 401
    server.echo_auth_in_errors = True  # the server puts the key in its error text
    with pytest.raises(GraderFailure) as err:
        judge_for(server).grade(items(1))
    assert "HTTP 401" in str(err.value) and "***" in str(err.value)
    assert secret not in str(err.value) and secret not in repr(err.value)
    assert server.requests == 1


# ---------------------------------------------------------------- the real engine
def judge_args(server: ChatServer, **extra: str) -> list[str]:
    # plain prompts: under the chat template the random tiny model only says "\n", and
    # empty answers are marked wrong without asking the judge
    sets = {"model.chat_template": '"off"', "grader.kind": '"llm"', "grader.base_url": f'"{server.url}"', "grader.model": '"judge-test"',
            "grader.api_key_env": f'"{KEY_ENV}"', "grader.concurrency": "4", "run.rounds": "1", **extra}
    return [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]


@pytest.mark.slow
def test_an_engine_run_grades_with_the_judge_and_stores_no_key(server, tiny_model_dir, data_file, tmp_path):
    secret = f"judge-secret-{uuid.uuid4().hex}"
    server.reply = lambda question, gold, answer: "**Yes.** The student's answer is correct."
    proc = run_engine(*tiny_run_args(tiny_model_dir, data_file, tmp_path, *judge_args(server)),
                      env={KEY_ENV: secret}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[1]
    store = Store(tmp_path)
    assert store.get_run(run_id)["status"] == "finished"
    requests = store.metrics(run_id, "judge_requests")
    assert requests and requests[-1]["value"] == server.requests > 0
    assert store.metrics(run_id, "judge_cache_hits")[-1]["value"] > 0  # baselines re-graded for free
    assert store.metrics(run_id, "judge_prompt_tokens")[-1]["value"] > 0
    assert [m["value"] for m in store.metrics(run_id, "heldout_none")] == [1.0, 1.0]  # the judge's yes counts
    cands = store.candidates(run_id)
    assert cands and all(c["reward"] == 1.0 for c in cands)
    assert all(a["reason"].startswith("judge: Yes") for a in store.answers(cands[0]["id"]))
    assert server.auth_headers == {f"Bearer {secret}"}
    store.close()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"seal.db", "engine.log", "config.toml"} <= names
    leaks = [str(p) for p in files if secret.encode() in p.read_bytes()]
    assert leaks == [], f"the API key was written to {leaks}"


@pytest.mark.slow
def test_a_failing_judge_pauses_the_run_and_resume_finishes_it(server, tiny_model_dir, data_file, tmp_path):
    server.fail_status = 500
    args = tiny_run_args(tiny_model_dir, data_file, tmp_path, *judge_args(server, **{"grader.max_retries": "1"}))
    proc = subprocess.Popen(engine_cmd(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, KEY_ENV: "x"})
    try:
        store = Store(tmp_path)
        run_id = wait_for(lambda: (store.list_runs() or [{}])[0].get("id"), timeout=60)
        run = wait_for(lambda: (r := store.get_run(run_id))["status"] == "paused" and r, timeout=180)
        assert "judge" in run["error"] and "HTTP 500" in run["error"] and server.url in run["error"]
        paused = [e for e in store.iter_events(run_id) if e.kind == "run_paused"]
        assert paused and "judge" in paused[-1].data["reason"]
        seen = server.requests
        time.sleep(1.0)
        assert server.requests == seen, "a paused run must not keep calling the judge"
        # what the log says to do is what works: p in the dashboard; `seal-tui resume` says the same
        said = [e.data["message"] for e in store.iter_events(run_id) if e.kind == "log" and "paused:" in e.data["message"]]
        assert said and f"press p in its dashboard (seal-tui attach {run_id})" in said[-1]
        refused = subprocess.run([sys.executable, "-m", "seal_tui", "--runs-dir", str(tmp_path), "resume", run_id],
                                 cwd=REPO, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and f"`seal-tui attach {run_id}`, then p resumes it" in refused.stderr
        server.fail_status = None
        store.send_command(run_id, "resume")
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
        run = store.get_run(run_id)
        assert run["status"] == "finished" and not run["error"]
        assert store.metrics(run_id, "judge_failures")[-1]["value"] >= 1
    finally:
        proc.kill()
        proc.wait(timeout=30)
