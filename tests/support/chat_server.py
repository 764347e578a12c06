"""A small real OpenAI-compatible server for the judge's tests (127.0.0.1 only).

Speaks ``POST /v1/chat/completions`` with the real response shape (choices,
usage). By default it judges like a careful grader would for these tests: "yes"
when the gold answer appears in the student's answer. Tests steer it through
plain attributes: ``errors`` (statuses for the next requests), ``fail_status``
(every request fails), ``delay`` (seconds each request sleeps), ``reply``
(a function of (question, gold, answer) giving the reply text), ``write`` (a
function of the user turn giving the reply to a request that is not a judge's,
e.g. a teacher's self-edit prompt). It counts requests, in-flight requests and
the Authorization headers it saw.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_FIELD = re.compile(r"^(Question|Gold answer|Student answer): (.*)$", re.M)


def gold_in_answer(question: str, gold: str, answer: str) -> str:
    return "yes" if gold.strip().lower() in answer.lower() else "no"


class ChatServer:
    """Start with ``ChatServer().start()``; ``url`` is the base_url; ``stop()`` ends it."""

    def __init__(self, model: str = "judge-test"):
        self.model = model
        self.reply: Callable[[str, str, str], str] = gold_in_answer
        self.write: Callable[[str], str] | None = None   # replies to requests that are not a judge's
        self.errors: list[int] = []          # statuses for the next requests, in order
        self.fail_status: int | None = None  # every request fails with this
        self.delay = 0.0
        self.retry_after: str | None = None  # Retry-After header sent with 429s
        self.echo_auth_in_errors = False     # like some servers: "Incorrect API key provided: <key>"
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_headers: set[str] = set()
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ChatServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="chat-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # cuts every pending delay short
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------ one request
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if h.path.rstrip("/") != "/v1/chat/completions":
            return self._send(h, 404, {"error": {"message": f"no route {h.path}", "type": "invalid_request_error"}})
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.auth_headers.add(h.headers.get("Authorization", ""))
            status = self.errors.pop(0) if self.errors else self.fail_status
        try:
            body = json.loads(raw or b"{}")
            with self._lock:
                self.bodies.append(body)
            if self.delay:
                self._closing.wait(self.delay)
            if status:
                message = {429: "Rate limit reached, try again later", 401: "Incorrect API key provided"}.get(
                    status, "The server had an error while processing your request")
                if self.echo_auth_in_errors:
                    message += f": {h.headers.get('Authorization', '').removeprefix('Bearer ')}"
                headers = {"Retry-After": self.retry_after} if status == 429 and self.retry_after else {}
                return self._send(h, status, {"error": {"message": message, "type": "server_error",
                                                        "param": None, "code": None}}, headers)
            user = next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")
            fields = dict(_FIELD.findall(user))
            if self.write is not None and "Student answer" not in fields:
                text = self.write(user)
            else:
                text = self.reply(fields.get("Question", ""), fields.get("Gold answer", ""),
                                  fields.get("Student answer", ""))
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
            completion_tokens = max(1, len(text.split()))
            self._send(h, 200, {
                "id": f"chatcmpl-test{self.requests}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", self.model),
                "system_fingerprint": None,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            })
        finally:
            with self._lock:
                self.in_flight -= 1

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass
