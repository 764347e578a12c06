"""An OpenAI-compatible chat model as the engine asks one: the LLM judge (``engine.judge``)
and the teacher that writes held-out self-edits (``engine.teacher``).

Works with OpenAI, vLLM and Ollama (anything speaking ``POST /v1/chat/completions``).

- The API key is read from an environment variable (its name is a config field) and is
  kept only in the client object: never in the store, a log line or a message. A server
  on loopback needs none.
- Requests run ``concurrency`` at a time; 429s, 5xx, timeouts and replies the caller
  cannot read are retried with capped exponential backoff and jitter, ``max_retries``
  times. After the first request that exhausts its retries the others stop early.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import openai

LOCAL_PLACEHOLDER_KEY = "no-key-needed"  # sent to loopback servers when the variable is unset
STAT_KEYS = ("requests", "retries", "failures", "unparsed", "prompt_tokens", "completion_tokens")


class ChatSetupError(ValueError):
    """The client cannot start (e.g. its API key variable is unset); the message says the fix."""


# ---------------------------------------------------------------- the API key
def is_loopback(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_api_key(env_name: str, base_url: str, *, who: str = "the LLM judge",
                    key_field: str = "grader.api_key_env") -> str:
    """The key from ``$env_name``; a placeholder for a loopback server that needs none. ``who`` and
    ``key_field`` name the model and the config field in the message."""
    if not env_name.strip():
        raise ChatSetupError(f"{key_field} is empty: set it to the name of the environment variable that holds "
                             f"{who}'s API key, e.g. OPENAI_API_KEY")
    key = os.environ.get(env_name, "").strip()
    if key:
        return key
    if is_loopback(base_url):
        return LOCAL_PLACEHOLDER_KEY
    raise ChatSetupError(
        f"{who} at {base_url} needs an API key, but the environment variable {env_name} "
        f"({key_field}) is not set: export {env_name}=... in the shell that starts the "
        f"engine (any value works for a server that needs no key), or set {key_field} "
        f"to the variable that holds your key")


_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-*.]{4,})")


class ChatClient:
    """Asks one model many requests at once; a subclass says how a reply is read (``read``)."""

    BACKOFF_BASE = 0.5   # seconds before the first retry; doubled each time
    BACKOFF_CAP = 20.0   # longest wait between two attempts (also caps Retry-After)
    STAT_KEYS = STAT_KEYS
    NAME = "chat"         # in log lines and thread names
    EXPECTED = "a reply"  # what a readable reply is, in the message when one is not

    def __init__(self, *, model: str, base_url: str, api_key_env: str, concurrency: int, max_retries: int,
                 timeout: float, run_id: str | None = None, who: str = "the LLM judge",
                 key_field: str = "grader.api_key_env"):
        self.model = model
        self.base_url = base_url
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.timeout = float(timeout)
        self.run_id = run_id
        key = resolve_api_key(api_key_env, base_url, who=who, key_field=key_field)
        self._secret = key if key != LOCAL_PLACEHOLDER_KEY else None
        # max_retries=0: the retry policy below (counted, capped, pausing the run) is the one in force
        self._client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=self.timeout)
        self._stats: Counter = Counter(dict.fromkeys(self.STAT_KEYS, 0))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # the run's own logger (engine.run names it so); only used from the calling thread
        self._log = logging.getLogger(f"seal.engine.{run_id}" if run_id else __name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    def stats(self) -> dict[str, float]:
        with self._lock:
            return {k: float(self._stats[k]) for k in self.STAT_KEYS}

    def read(self, text: str) -> Any | None:
        """What a reply's text gives the caller, or None when it is not readable (it is asked again)."""
        return text

    # ------------------------------------------------------------ asking
    def ask_all(self, todo: dict[str, dict]) -> tuple[dict[str, Any], list[str], Counter]:
        """Ask for every request (key -> ``chat.completions.create``'s arguments but the model),
        ``concurrency`` at a time: (key -> what ``read`` gave, errors, retries by kind)."""
        fresh: dict[str, Any] = {}
        errors: list[str] = []
        retry_kinds: Counter = Counter()
        if not todo:
            return fresh, errors, retry_kinds
        self._stop.clear()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo)),
                                thread_name_prefix=f"llm-{self.NAME}") as pool:
            futures = {key: pool.submit(self._ask, request, retry_kinds) for key, request in todo.items()}
            for key, fut in futures.items():
                value, error = fut.result()
                if value is not None:
                    fresh[key] = value
                elif error:
                    errors.append(error)
        if retry_kinds:
            self._log.warning("%s: %d retries in a batch of %d (%s)", self.NAME, sum(retry_kinds.values()),
                              len(todo), ", ".join(f"{k} x{n}" for k, n in retry_kinds.most_common()))
        if errors:
            self._bump(failures=len(errors))
        return fresh, errors, retry_kinds

    def failure(self, what: str, errors: list[str], todo: int, got: int, noun: str = "replies") -> str:
        """One line for the first error of a batch, the key redacted."""
        return self._redact(f"{what} {self.model} at {self.base_url}: {errors[0]}"
                            + (f"; {todo - got} of {todo} {noun} still to get" if todo > 1 else ""))

    def _ask(self, request: dict, retry_kinds: Counter) -> tuple[Any | None, str | None]:
        """One reply with retries: (value, None), (None, why it failed) or (None, None) if stopped."""
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
                resp = self._client.chat.completions.create(model=self.model, **request)
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
            value = self.read(text)
            if value is None:
                self._bump(unparsed=1)
                error = f"unreadable reply: {' '.join(text.split())[:80]!r} is not {self.EXPECTED}"
                continue
            return value, None
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
