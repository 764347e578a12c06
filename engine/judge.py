"""The LLM judge (``grader.kind = "llm"``): an OpenAI-compatible model says yes or no.

Each (question, gold answer, student answer) goes to the judge model with the
paper's rule: the gold answer is the only truth, extra correct detail is fine,
contradicting or missing the gold is wrong. Works with OpenAI, vLLM and Ollama
(anything speaking ``POST /v1/chat/completions``).

- Verdicts are cached in the run store (table ``judge_cache``) by (question, gold,
  answer, judge model): grading the same answer again costs no request.
- Requests run ``grader.concurrency`` at a time; 429s, 5xx, timeouts and replies
  that are not a readable yes/no are retried with capped exponential backoff and
  jitter (``engine.chat_client``). When the retries run out the judge raises
  ``GraderFailure`` and the engine pauses the run with that message; resuming grades again.
- The API key is read from the environment variable ``grader.api_key_env`` and
  is kept only in the client object: never in the store, a log line or a message.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from engine.chat_client import STAT_KEYS as CHAT_STAT_KEYS
from engine.chat_client import ChatClient, ChatSetupError, resolve_api_key
from engine.graders import GradeItem, GraderFailure, Verdict

__all__ = ["JUDGE_RULES", "JudgeSetupError", "LLMJudge", "parse_verdict", "resolve_api_key"]

PROMPT_VERSION = 1  # part of the cache key: a new wording must not reuse old verdicts
MAX_REPLY_TOKENS = 48

JUDGE_RULES = """\
You check a student's answer to a question against the gold (reference) answer.
Treat the gold answer as the only truth: do not use your own knowledge of the \
subject, even where you think the gold answer is wrong.
- Say yes when the student's answer states what the gold answer states, in any \
wording. Additional details are fine as long as they do not contradict the gold answer.
- Say no when the student's answer contradicts the gold answer, leaves out what the \
gold answer says, or stays vague where the gold answer is specific.
Reply with a single word: yes or no."""

STAT_KEYS = ("items", "cache_hits", *CHAT_STAT_KEYS)
JudgeSetupError = ChatSetupError  # the judge cannot start (e.g. its API key variable is unset)


# ---------------------------------------------------------------- verdict parsing
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_MARKUP = re.compile(r"[*_`#>\"'“”‘’\[\](){}]")
_LABELLED = re.compile(r"\b(?:verdict|final answer|answer|judgement|judgment|grade|decision|correct)"
                       r"\s*(?::|=|-|–)\s*(yes|no)\b")
_LEADING = re.compile(r"^(yes|no|correct|incorrect)\b")
_TRAILING = re.compile(r"\b(yes|no)\W*$")
_STATED = re.compile(r"\b(?:verdict|answer) is (yes|no)\b")


def parse_verdict(text: str | None) -> bool | None:
    """True for yes, False for no, None when the reply is not a readable verdict.

    Reads, in this order: "Verdict: no" (the last such label), a reply that starts
    with yes/no ("**Yes**, the student..."), one that ends with it ("... so yes."),
    and "the answer is yes" anywhere. A reasoning model's <think> block is skipped.
    """
    t = _MARKUP.sub(" ", _THINK.sub(" ", text or "")).lower()
    t = " ".join(t.split()).strip(" .,:;-–—!")
    for pattern in (_LABELLED, _LEADING, _TRAILING, _STATED):
        found = pattern.findall(t)
        if found:
            return found[-1] in ("yes", "correct")
    return None


def judge_messages(item: GradeItem) -> list[dict]:
    return [
        {"role": "system", "content": JUDGE_RULES},
        {"role": "user", "content": f"Question: {item.question}\nGold answer: {item.gold}\n"
                                    f"Student answer: {item.answer}\n\n"
                                    "Is the student's answer correct? Reply yes or no."},
    ]


def cache_key(item: GradeItem, model: str) -> str:
    raw = json.dumps([PROMPT_VERSION, model, item.question, item.gold, item.answer], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


class LLMJudge(ChatClient):
    name = "llm"
    NAME = "judge"
    STAT_KEYS = STAT_KEYS
    EXPECTED = "a yes/no verdict"

    def __init__(self, cfg, store=None, run_id: str | None = None):
        super().__init__(model=cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                         concurrency=cfg.concurrency, max_retries=cfg.max_retries, timeout=cfg.timeout,
                         run_id=run_id)
        self.store = store
        self._memory_cache: dict[str, Verdict] = {}

    def read(self, text: str) -> Verdict | None:
        correct = parse_verdict(text)
        return None if correct is None else Verdict(correct, f"judge: {_one_line(_THINK.sub(' ', text))[:60]}")

    # ------------------------------------------------------------ grading
    def grade(self, items: Sequence[GradeItem]) -> list[Verdict]:
        keys = [cache_key(it, self.model) for it in items]
        cached = self._cache_get(sorted(set(keys)))
        todo: dict[str, GradeItem] = {}
        hits = 0
        for it, key in zip(items, keys):
            if key in cached:
                hits += 1
            elif it.answer.strip():
                todo.setdefault(key, it)  # the same answer twice in a batch is asked once
        self._bump(items=len(items), cache_hits=hits)
        fresh, errors, _ = self.ask_all({key: {"messages": judge_messages(item), "temperature": 0,
                                               "max_tokens": MAX_REPLY_TOKENS} for key, item in todo.items()})
        if fresh:
            self._cache_put(fresh)
        if errors:
            raise GraderFailure(self.failure("LLM judge", errors, len(todo), len(fresh), noun="verdicts"))
        known = {**cached, **fresh}
        return [known[k] if k in known else Verdict(False, "empty answer") for k in keys]

    # ------------------------------------------------------------ cache
    def _cache_get(self, keys: list[str]) -> dict[str, Verdict]:
        if self.store is None:
            return {k: self._memory_cache[k] for k in keys if k in self._memory_cache}
        return {k: Verdict(bool(v["correct"]), v["reason"]) for k, v in self.store.judge_cache_get(keys).items()}

    def _cache_put(self, verdicts: dict[str, Verdict]) -> None:
        if self.store is None:
            self._memory_cache.update(verdicts)
            return
        self.store.judge_cache_put([{"key": k, "model": self.model, "correct": v.correct,
                                     "reason": v.reason, "run_id": self.run_id}
                                    for k, v in verdicts.items()])


def _one_line(text: str) -> str:
    """A reply as a short reason: one line, no markdown emphasis."""
    return " ".join(re.sub(r"\*\*|__|`", "", text).split())
