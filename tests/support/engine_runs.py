"""The engine's command line as the tests run it: small but complete runs on the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.common import REPO


def engine_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def run_engine(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(engine_cmd(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def tiny_contexts(n: int = 12) -> list[dict]:
    """A small SEAL-format dataset for when ../shared is absent (fictional facts)."""
    people = ["Arlen Voss", "Mira Talbe", "Oren Quill", "Lisa Marn", "Teo Brask", "Nia Coll",
              "Pavel Drun", "Sara Vint", "Ido Renk", "Kai Molo", "Rena Fost", "Ugo Pell"]
    cities = ["Brill", "Caddo", "Dorne", "Eskel", "Falka", "Gorm"]
    out = []
    for i in range(n):
        p, c, y = people[i % len(people)], cities[i % len(cities)], 1900 + 7 * i
        out.append({"title": p, "context": f"{p} was born in {c} in {y}. {p} works as a painter in {c}.",
                    "questions": [{"question": f"Where was {p} born?", "answer": c},
                                  {"question": f"In which year was {p} born?", "answer": str(y)}]})
    return out


def tiny_run_args(model: Path, data: Path, runs_dir: Path, *extra: str) -> list[str]:
    """A fast but complete run: 2 rounds, 4 contexts x 3 self-edits, real LoRA and M-step."""
    return ["run", "--preset", "squad-small", "--runs-dir", str(runs_dir),
            "--set", f"model.name_or_path={json.dumps(str(model))}",
            "--set", f"data.path={json.dumps(str(data))}",
            "--set", "model.max_seq_len=384", "--set", "data.n_train=4", "--set", "data.n_heldout=3",
            "--set", "data.max_questions=3", "--set", "sample.k=3", "--set", "sample.max_new_tokens=24",
            "--set", "inner.epochs=2", "--set", "inner.batch_size=0", "--set", "inner.lora_r=4",
            "--set", "inner.lora_alpha=8", "--set", "inner.answer_max_tokens=6",
            "--set", "filter.min_gain=-1.0", "--set", "mstep.lora_r=4", "--set", "mstep.lora_alpha=8",
            "--set", "mstep.epochs=1", "--set", "run.threads=1", *extra]


def judged_eval_args(judge_url: str, key_env: str) -> list[str]:
    """One round with the multi-passage (3 passages) and forgetting (k=3, 2 sequences) evaluations,
    graded by an OpenAI-compatible judge at ``judge_url`` (plain prompts: under the chat template
    the random tiny model only says a newline; a high inner lr, so adapted answers differ)."""
    sets = {"run.rounds": "1", "inner.lr": "0.03", "eval.multi_passage": "3", "eval.forgetting_k": "3",
            "eval.forgetting_sequences": "2", "model.chat_template": '"off"', "grader.kind": '"llm"',
            "grader.base_url": json.dumps(judge_url), "grader.model": '"judge-test"',
            "grader.api_key_env": json.dumps(key_env), "grader.concurrency": "4"}
    return [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]


def recorded_run_in(runs_dir: Path, model: Path, data: Path, *extra: str) -> str:
    """The 2-round run the console's recordings and the engine's tests of a finished run read; its id."""
    proc = run_engine(*tiny_run_args(model, data, runs_dir, "--name", "recorded", *extra))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[1]


def judged_eval_run_in(runs_dir: Path, model: Path, data: Path) -> str:
    """One round with the multi-passage and forgetting evaluations; its id. A local judge server
    grades, saying yes for about half the (question, answer) pairs (a fixed hash), so the
    accuracies differ from cell to cell; the random tiny model would get every gold answer wrong."""
    import zlib

    from tests.support.chat_server import ChatServer

    server = ChatServer().start()
    server.reply = lambda question, gold, answer: "yes" if zlib.crc32(f"{question}\n{answer}".encode()) % 2 else "no"
    try:
        proc = run_engine(*tiny_run_args(model, data, runs_dir, "--name", "evals",
                                         *judged_eval_args(server.url, "SEAL_TEST_JUDGE_KEY")),
                          env={"SEAL_TEST_JUDGE_KEY": "test-key"})
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[1]


def scored(store, run_id: str) -> dict[tuple, dict]:
    """Each candidate's reward and answers after adaptation, by (round, context, sample)."""
    return {(c["round"], c["context_idx"], c["cand_idx"]):
            {"reward": c["reward"], "answers": [a["answer_after"] for a in store.answers(c["id"])]}
            for c in store.candidates(run_id)}


def heldout(store, run_id: str) -> list[tuple]:
    """Each round's held-out figures: (round, none, passage, self-edit)."""
    return [(e.round, e.data["none"], e.data["passage"], e.data["self_edit"])
            for e in store.iter_events(run_id) if e.kind == "eval_result"]
