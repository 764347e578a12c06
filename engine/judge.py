"""The LLM judge (``grader.kind = "llm"``): an OpenAI-compatible model says yes or no.

Each (question, gold answer, student answer) goes to the judge model with the
paper's rule: the gold answer is the only truth, extra correct detail is fine,
contradicting or missing the gold is wrong. Works with OpenAI, vLLM and Ollama
(anything speaking ``POST /v1/chat/completions``).

- Verdicts are cached in the run store (table ``judge_cache``) by (question, gold,
  answer, judge model): grading the same answer again costs no request.
- Requests run ``grader.concurrency`` at a time; 429s, 5xx, timeouts and replies
  that are not a readable yes/no are retried with capped exponential backoff and
  jitter. When the retries run out the judge raises ``GraderFailure`` and the
  engine pauses the run with that message; resuming grades again.
- The API key is read from the environment variable ``grader.api_key_env`` and
  is kept only in the client object: never in the store, a log line or a message.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import random
import re
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import openai

from engine.graders import GradeItem, GraderFailure, Verdict

PROMPT_VERSION = 1  # part of the cache key: a new wording must not reuse old verdicts
LOCAL_PLACEHOLDER_KEY = "no-key-needed"  # sent to loopback servers when the variable is unset
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

STAT_KEYS = ("items", "cache_hits", "requests", "retries", "failures", "unparsed",
             "prompt_tokens", "completion_tokens")


class JudgeSetupError(ValueError):
    """The judge cannot start (e.g. its API key variable is unset); the message says the fix."""


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


# ---------------------------------------------------------------- the API key
def is_loopback(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_api_key(env_name: str, base_url: str) -> str:
    """The key from ``$env_name``; a placeholder for a loopback server that needs none."""
    if not env_name.strip():
        raise JudgeSetupError("grader.api_key_env is empty: set it to the name of the environment "
                              "variable that holds the judge's API key, e.g. OPENAI_API_KEY")
    key = os.environ.get(env_name, "").strip()
    if key:
        return key
    if is_loopback(base_url):
        return LOCAL_PLACEHOLDER_KEY
    raise JudgeSetupError(
        f"the LLM judge at {base_url} needs an API key, but the environment variable {env_name} "
        f"(grader.api_key_env) is not set: export {env_name}=... in the shell that starts the "
        f"engine (any value works for a server that needs no key), or set grader.api_key_env "
        f"to the variable that holds your key")


_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-*.]{4,})")


class LLMJudge:
    name = "llm"
    BACKOFF_BASE = 0.5   # seconds before the first retry; doubled each time
    BACKOFF_CAP = 20.0   # longest wait between two attempts (also caps Retry-After)

    def __init__(self, cfg, store=None, run_id: str | None = None):
        self.model = cfg.model
        self.base_url = cfg.base_url
        self.concurrency = max(1, int(cfg.concurrency))
        self.max_retries = max(0, int(cfg.max_retries))
        self.timeout = float(cfg.timeout)
        self.store = store
        self.run_id = run_id
        key = resolve_api_key(cfg.api_key_env, cfg.base_url)
        self._secret = key if key != LOCAL_PLACEHOLDER_KEY else None
        # max_retries=0: the retry policy below (counted, capped, pausing the run) is the one in force
        self._client = openai.OpenAI(base_url=cfg.base_url, api_key=key, max_retries=0, timeout=self.timeout)
        self._memory_cache: dict[str, Verdict] = {}
        self._stats: Counter = Counter(dict.fromkeys(STAT_KEYS, 0))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # the run's own logger (engine.run names it so); only used from the calling thread
        self._log = logging.getLogger(f"seal.engine.{run_id}" if run_id else __name__)

    def __repr__(self) -> str:
        return f"LLMJudge(model={self.model!r}, base_url={self.base_url!r})"

    def stats(self) -> dict[str, float]:
        with self._lock:
            return {k: float(self._stats[k]) for k in STAT_KEYS}

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
        fresh, errors, retry_kinds = self._ask_all(todo)
        if fresh:
            self._cache_put(fresh)
        if retry_kinds:
            self._log.warning("judge: %d retries in a batch of %d (%s)", sum(retry_kinds.values()),
                              len(todo), ", ".join(f"{k} x{n}" for k, n in retry_kinds.most_common()))
        if errors:
            self._bump(failures=len(errors))
            raise GraderFailure(self._redact(
                f"LLM judge {self.model} at {self.base_url}: {errors[0]}"
                + (f"; {len(todo) - len(fresh)} of {len(todo)} verdicts still to get" if len(todo) > 1 else "")))
        known = {**cached, **fresh}
        return [known[k] if k in known else Verdict(False, "empty answer") for k in keys]

    def _ask_all(self, todo: dict[str, GradeItem]) -> tuple[dict[str, Verdict], list[str], Counter]:
        """Ask the judge for every item, ``concurrency`` at a time. After the first item
        that exhausts its retries the others stop early (the run pauses anyway)."""
        fresh: dict[str, Verdict] = {}
        errors: list[str] = []
        retry_kinds: Counter = Counter()
        if not todo:
            return fresh, errors, retry_kinds
        self._stop.clear()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo)),
                                thread_name_prefix="llm-judge") as pool:
            futures = {key: pool.submit(self._ask, item, retry_kinds) for key, item in todo.items()}
            for key, fut in futures.items():
                verdict, error = fut.result()
                if verdict is not None:
                    fresh[key] = verdict
                elif error:
                    errors.append(error)
        return fresh, errors, retry_kinds

    def _ask(self, item: GradeItem, retry_kinds: Counter) -> tuple[Verdict | None, str | None]:
        """One verdict with retries: (verdict, None), (None, why it failed) or (None, None) if stopped."""
        error, retry_after = "", 0.0
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            if attempt:
                with self._lock:
                    self._stats["retries"] += 1
                    retry_kinds[error.split(":")[0]] += 1
                if self._stop.wait(self._backoff(attempt, retry_after)):
                    return None, None
            elif self._stop.is_set():
                return None, None
            self._bump(requests=1)
            retry_after = 0.0
            try:
                resp = self._client.chat.completions.create(
                    model=self.model, messages=judge_messages(item), temperature=0,
                    max_tokens=MAX_REPLY_TOKENS)
            except openai.APIStatusError as exc:
                error = f"HTTP {exc.status_code}{_server_message(exc)}"
                if not _retryable(exc.status_code):
                    break
                retry_after = _retry_after(exc)
                continue
            except openai.APITimeoutError:
                error = f"timeout: no reply within {self.timeout:g} s"
                continue
            except openai.APIConnectionError as exc:
                error = f"connection failed: {exc.__cause__ or exc}"
                continue
            except openai.APIError as exc:  # a 200 whose body is not a chat completion
                error = f"malformed reply: {type(exc).__name__}"
                continue
            usage = getattr(resp, "usage", None)
            if usage is not None:
                self._bump(prompt_tokens=usage.prompt_tokens or 0,
                           completion_tokens=usage.completion_tokens or 0)
            text = (resp.choices[0].message.content or "") if resp.choices else ""
            correct = parse_verdict(text)
            if correct is None:
                self._bump(unparsed=1)
                error = f"unreadable reply: {' '.join(text.split())[:80]!r} is not a yes/no verdict"
                continue
            return Verdict(correct, f"judge: {_one_line(_THINK.sub(' ', text))[:60]}"), None
        self._stop.set()
        tried = attempt + 1
        return None, f"{error} (gave up after {tried} attempt{'s' if tried > 1 else ''})"

    def _backoff(self, attempt: int, retry_after: float) -> float:
        """Exponential with jitter: half the step fixed, half random; capped; at least Retry-After."""
        step = min(self.BACKOFF_CAP, self.BACKOFF_BASE * 2 ** (attempt - 1))
        return max(step / 2 + random.uniform(0, step / 2), min(retry_after, self.BACKOFF_CAP))

    def _bump(self, **counts: int) -> None:
        with self._lock:
            self._stats.update(counts)

    def _redact(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return _KEY_LIKE.sub("sk-***", text)

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


def _retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def _retry_after(exc: openai.APIStatusError) -> float:
    try:
        return max(0.0, float(exc.response.headers.get("retry-after", 0)))
    except (TypeError, ValueError):
        return 0.0


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body  # the client hands over the JSON's "error" object when there is one
    if isinstance(body, dict):
        inner = body.get("error", body)
        body = inner.get("message", inner) if isinstance(inner, dict) else inner
    text = " ".join(str(body or "").split())[:160]
    return f": {text}" if text else ""
