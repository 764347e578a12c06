"""The teacher condition (``eval.teacher``): another model writes the held-out self-edits.

The paper's GPT-4.1 row: an OpenAI-compatible model gets the self-edit prompt the policy
gets (as one user turn) and writes ``eval.k`` self-edits per held-out context; the
evaluation scores them with the same inner loop as the policy's own. Each reply is
recorded in the run's event log (``teacher_self_edits``) as it arrives, before anything
is scored, so a resumed run, a later round and a re-score (``seal-engine eval``) ask for
none of them again. Requests, retries and the API key are ``engine.chat_client``'s: the
key comes only from the environment (``eval.teacher_api_key_env``, else the judge's).
"""

from __future__ import annotations

import hashlib
import json

from engine import events as ev
from engine.chat_client import ChatClient, resolve_api_key

PROMPT_VERSION = 1  # part of the cache key: a new way of asking must not reuse old replies


def endpoint(cfg) -> dict:
    """Where the teacher is asked and which variable holds its key: its own settings, else the judge's."""
    e, grader = cfg.eval, cfg.grader
    return {"base_url": e.teacher_base_url or grader.base_url, "api_key_env": e.teacher_api_key_env or grader.api_key_env,
            "who": f"the teacher {e.teacher}",
            "key_field": "eval.teacher_api_key_env" if e.teacher_api_key_env else "grader.api_key_env"}


def check_key(cfg) -> None:
    """Raises ChatSetupError when the teacher's key variable is unset (a loopback server needs none)."""
    where = endpoint(cfg)
    resolve_api_key(where["api_key_env"], where["base_url"], who=where["who"], key_field=where["key_field"])


class Teacher(ChatClient):
    NAME = "teacher"
    EXPECTED = "a self-edit"

    def __init__(self, cfg, run_id: str | None = None):
        e, grader = cfg.eval, cfg.grader
        super().__init__(model=e.teacher, concurrency=grader.concurrency, max_retries=grader.max_retries,
                         timeout=grader.timeout, run_id=run_id, **endpoint(cfg))
        # sampled as the policy's held-out self-edits are: eval.temperature, sample.top_p, sample.max_new_tokens
        self.temperature = e.temperature
        self.top_p = cfg.sample.top_p if e.temperature > 0 else None
        self.max_tokens = cfg.sample.max_new_tokens

    def read(self, text: str) -> str | None:
        return text.strip() or None  # an empty reply is asked again

    def request(self, prompt: str) -> dict:
        out = {"messages": [{"role": "user", "content": prompt}], "temperature": self.temperature,
               "max_tokens": self.max_tokens}
        if self.top_p is not None:
            out["top_p"] = self.top_p
        return out

    def key(self, prompt: str, j: int) -> str:
        raw = json.dumps([PROMPT_VERSION, self.model, prompt, j, self.temperature, self.top_p, self.max_tokens],
                         ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()


def recorded_self_edits(store, run_id: str) -> dict[str, str]:
    """key -> self-edit, from the run's earlier ``teacher_self_edits`` events."""
    return {item["key"]: item["text"] for e in store.events_of(run_id, (ev.TeacherSelfEdits.KIND,))
            for item in e.payload.items}


def teacher_self_edits(run, teacher: Teacher, prompts: list[str], k: int) -> list[list[str]]:
    """``k`` self-edits of the teacher per prompt (a held-out context's self-edit prompt), those
    recorded before reused. When the teacher keeps failing the run pauses with the reason
    (``run.pause_for``) and what is still missing is asked for once it resumes."""
    wanted = [[teacher.key(p, j) for j in range(k)] for p in prompts]
    known = recorded_self_edits(run.store, run.run_id)
    where = {key: (i, j) for i, keys in enumerate(wanted) for j, key in enumerate(keys)}
    todo = {key: teacher.request(prompts[i]) for key, (i, _) in where.items() if key not in known}
    if known and todo:
        run.log.info("teacher %s: %d self-edits recorded before, %d to ask for",
                     teacher.model, len(where) - len(todo), len(todo))
    while todo:
        fresh, errors, _ = teacher.ask_all(todo)
        if fresh:  # kept before anything is scored: a crash or a pause loses none of them
            run.record(ev.TeacherSelfEdits(model=teacher.model, items=[
                {"key": key, "context_idx": where[key][0], "j": where[key][1], "text": text}
                for key, text in fresh.items()]))
            known.update(fresh)
        asked = len(todo)
        todo = {key: req for key, req in todo.items() if key not in fresh}
        if todo:
            run.pause_for(teacher.failure("teacher", errors or ["no reply"], asked, len(fresh),
                                          noun="self-edits"))
    return [[known[key] for key in keys] for keys in wanted]
