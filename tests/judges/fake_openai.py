"""A small OpenAI-compatible chat-completions server on 127.0.0.1 for judge tests (real HTTP, real SDK).

Each test scripts it: how a reply is derived from the request, failures to serve first, how long
every request is held (to make concurrency measurable). It records every request body and header
set, and the largest number of requests that were in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = ("/v1/chat/completions", "/chat/completions")
# The key the tests put in the environment; tests assert it never leaks into files, messages or logs.
KEY_ENV = "SGT_TEST_JUDGE_KEY"
SECRET_KEY = "sk-test-5ecret-0123456789abcdef"


@dataclass(frozen=True)
class Failure:
    """One scripted failure: an HTTP error, a 200 sent too late (``delay_s`` > 0) or one whose body is ``raw``."""

    status: int = 500
    message: str = "scripted failure"
    retry_after: str | None = None
    delay_s: float = 0.0
    raw: bytes | None = None


def echo_reply(body: dict[str, Any]) -> str:
    """``"judged: <text>"``, plus the number of images when there are any."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return f"judged: {content}"
    texts = [part["text"] for part in content if part["type"] == "text"]
    images = sum(part["type"] == "image_url" for part in content)
    return f"judged: {' '.join(texts)} [{images} images]"


class FakeOpenAI:
    """Start with ``with FakeOpenAI() as server:``; point the client at ``server.base_url``."""

    def __init__(self, reply: Callable[[dict[str, Any]], str] = echo_reply, hold_s: float = 0.0) -> None:
        self.reply = reply
        self.hold_s = hold_s
        self.failures: deque[Failure] = deque()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.responses: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def count(self) -> int:
        """Requests received so far, failed ones included."""
        with self.lock:
            return len(self.bodies)

    def fail_next(self, *failures: Failure) -> None:
        """Serve these failures, in order, before any normal reply."""
        with self.lock:
            self.failures.extend(failures)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()  # wakes handlers still holding a late reply
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Status, extra headers and body for one request."""
        if path not in PATHS:
            return 404, {}, error_body(f"no route {path}")
        body = json.loads(raw)
        with self.lock:
            self.bodies.append(body)
            self.headers.append(headers)
            failure = self.failures.popleft() if self.failures else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.stopping.wait(self.hold_s + (failure.delay_s if failure else 0.0))
            if failure is not None and failure.raw is not None:
                return 200, {}, failure.raw
            if failure is not None and failure.delay_s == 0:
                extra = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
                return failure.status, extra, error_body(failure.message)
            return 200, {}, json.dumps(self.completion(body)).encode()
        finally:
            with self.lock:
                self.in_flight -= 1

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        response = {"id": f"chatcmpl-{len(self.bodies)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"], "system_fingerprint": "fake-fp-1",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": self.reply(body)}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        with self.lock:
            self.responses.append(response)
        return response

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, extra, data = server.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **extra}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test); nothing to tell it

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
                pass

        return Handler


def error_body(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}}).encode()
