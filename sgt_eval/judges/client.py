"""An LLM judge behind any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, SGLang, ...).

The SDK's own retries are off (``max_retries=0``): this module owns the retry policy so that it is
explicit and tested. HTTP 429, 5xx, timeouts and dropped connections are retried with exponential
backoff and jitter (a ``Retry-After`` header wins over the backoff); any other 4xx is a
:class:`JudgeError` at once, because asking again cannot fix a bad key, model name or request.

The API key is read from the environment on each :meth:`OpenAIJudge.ask_many` call that has to reach
the server and lives only in that call's client; it is never kept on the judge, written to the
cache, logged or put into an error message.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import openai

from sgt_eval.errors import UserError
from sgt_eval.judges import JudgeRequest
from sgt_eval.judges.cache import CacheKey, JudgeCache

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Local vLLM/SGLang servers accept any key; the SDK insists on a non-empty one.
PLACEHOLDER_KEY = "EMPTY"
SERVER_MESSAGE_CHARS = 300


class JudgeError(UserError):
    """The judge endpoint refused a request or kept failing; the message names endpoint, model and status."""


@dataclass(frozen=True)
class JudgeConfig:
    """How to reach the judge and how hard to try.

    Attributes
    ----------
    base_url
        The OpenAI-compatible API root, e.g. ``"https://api.openai.com/v1"`` or ``"http://127.0.0.1:8000/v1"``.
    model
        The model name sent in every request; part of the cache key.
    api_key_env
        The environment variable holding the API key (not needed for localhost endpoints).
    max_concurrency
        Requests in flight at once.
    max_retries
        Retries after the first attempt, for 429, 5xx, timeouts and connection errors.
    timeout_s
        Per-attempt timeout in seconds.
    temperature, max_tokens
        Sampling settings sent with each request; both are part of the cache key.
    backoff_initial_s, backoff_max_s
        The first backoff delay and the cap on any single wait (including ``Retry-After``).
    """

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 8
    max_retries: int = 6
    timeout_s: float = 60.0
    temperature: float | None = 0.0  # None: not sent, the server's default applies (upstream GEdit does this)
    max_tokens: int = 1024
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        parsed = urlparse(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UserError(f"judge base URL {self.base_url!r} is not an http(s) URL; "
                            f"pass e.g. --judge-base-url https://api.openai.com/v1")
        if parsed.username or parsed.password:  # it would end up in run.json and logs
            raise UserError("the judge base URL contains credentials; put the key in the environment variable "
                            "named by --judge-api-key-env instead")
        if not self.model:
            raise UserError("the judge model name is empty; pass --judge-model")
        if self.max_concurrency < 1 or self.max_retries < 0:
            raise UserError(f"judge max_concurrency must be >= 1 and max_retries >= 0 "
                            f"(got {self.max_concurrency} and {self.max_retries})")


class OpenAIJudge:
    """A :class:`sgt_eval.judges.Judge` calling chat completions through the ``openai`` SDK, with a disk cache.

    Parameters
    ----------
    config
        Endpoint, model, sampling and retry settings.
    cache_dir
        Root of the reply cache (see :mod:`sgt_eval.judges.cache`); a cached request never reaches the server.
    sleep
        Called with the number of seconds to wait before a retry (tests pass a recorder).
    rng
        Source of backoff jitter.
    """

    role = "judge"  # what messages call the endpoint (sgt_eval.models.served asks models, not judges)
    key_flag = "--judge-api-key-env"  # how the user names another key variable

    def __init__(self, config: JudgeConfig, cache_dir: Path, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.cache = JudgeCache(cache_dir)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()  # guards the rng and the prompt versions across worker threads
        self._prompt_versions: set[str] = set()

    @property
    def id(self) -> str:
        return f"{self.config.model}@{self.config.base_url}"

    def describe(self) -> dict[str, Any]:
        """What ``run.json`` records about the judge: everything that can change a reply, never the key."""
        with self._lock:
            versions = sorted(self._prompt_versions)
        return {"id": self.id, "model": self.config.model, "base_url": self.config.base_url,
                "temperature": self.config.temperature, "max_tokens": self.config.max_tokens,
                "prompt_versions": versions}

    def ask_many(self, requests: Sequence[JudgeRequest]) -> list[str]:
        """Return the judge's reply text for each request, in request order.

        Cached replies are returned without touching the network; the rest are sent with at most
        ``max_concurrency`` in flight, identical requests only once. An empty reply is returned
        as ``""`` (the benchmark records it unparsed) and not cached.

        Raises
        ------
        JudgeError
            A request was refused (4xx other than 429) or failed ``max_retries + 1`` times. Replies
            that arrived before are already cached, so running again resumes.
        UserError
            The API key variable is unset for a non-local endpoint.
        """
        cfg = self.config
        keys = [CacheKey.of(cfg.model, r, cfg.temperature, cfg.max_tokens) for r in requests]
        with self._lock:
            self._prompt_versions.update(r.prompt_version for r in requests)
        replies: dict[CacheKey, str] = {}
        todo: dict[CacheKey, JudgeRequest] = {}
        for key, request in dict(zip(keys, requests)).items():  # identical requests are asked once
            cached = self.cache.get(key)
            if cached is None:
                todo[key] = request
            else:
                replies[key] = cached
        if todo:
            replies.update(self._fetch_all(todo))
        return [replies[key] for key in keys]

    def _fetch_all(self, todo: dict[CacheKey, JudgeRequest]) -> dict[CacheKey, str]:
        api_key = self._api_key()
        client = openai.OpenAI(base_url=self.config.base_url, api_key=api_key, max_retries=0,
                               timeout=self.config.timeout_s)
        pool = ThreadPoolExecutor(max_workers=min(self.config.max_concurrency, len(todo)),
                                  thread_name_prefix="judge")
        try:
            futures = {key: pool.submit(self._ask_one, client, api_key, key, request)
                       for key, request in todo.items()}
            return {key: future.result() for key, future in futures.items()}
        finally:
            # On a failure, queued requests are dropped instead of hammering a refusing server.
            pool.shutdown(wait=True, cancel_futures=True)
            client.close()

    def _api_key(self) -> str:
        key = os.environ.get(self.config.api_key_env)
        if key:
            return key
        if urlparse(self.config.base_url).hostname in LOCAL_HOSTS:
            return PLACEHOLDER_KEY
        raise UserError(f"the {self.role} at {self.config.base_url} needs an API key in the environment variable "
                        f"{self.config.api_key_env}, which is not set; export it (or name another variable "
                        f"with {self.key_flag})")

    def _ask_one(self, client: openai.OpenAI, api_key: str, key: CacheKey, request: JudgeRequest) -> str:
        cfg = self.config
        messages = [{"role": "user", "content": message_content(request)}]
        attempts, attempt = cfg.max_retries + 1, 0
        while True:
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model=cfg.model, messages=messages, max_tokens=cfg.max_tokens,
                    temperature=openai.NOT_GIVEN if cfg.temperature is None else cfg.temperature)
            except openai.APIStatusError as err:
                status, message = err.status_code, server_message(err.response)
                if status != 429 and status < 500:
                    raise JudgeError(self._failure(f"HTTP {status}: {message}", api_key)) from None
                reason, delay = f"HTTP {status}: {message}", retry_after(err.response.headers.get("retry-after"))
            except openai.APIConnectionError as err:  # includes APITimeoutError
                reason, delay = _connection_reason(err, cfg.timeout_s), None
            else:
                return self._accept(key, raw.http_response, api_key)
            attempt += 1
            if attempt == attempts:
                raise JudgeError(self._failure(f"gave up after {attempts} attempts; last: {reason}", api_key))
            wait = self._backoff(attempt, delay)
            log.warning("%s %s: %s; retry %d/%d in %.3g s", self.role, self.id, _redact(reason, api_key),
                        attempt, cfg.max_retries, wait)
            self._sleep(wait)

    def _accept(self, key: CacheKey, http_response: Any, api_key: str) -> str:
        try:
            response = http_response.json()
        except ValueError:  # a 200 whose body is not JSON: a broken proxy or server, not worth retrying
            raise JudgeError(self._failure("HTTP 200 with a body that is not JSON", api_key)) from None
        reply = reply_text(response)
        if not reply:  # e.g. a reasoning model that spent max_tokens before answering
            log.warning("%s %s returned an empty reply (finish_reason %s); it is not cached", self.role, self.id,
                        _first_choice(response).get("finish_reason"))
        self.cache.put(key, reply, response)
        return reply

    def _backoff(self, retry: int, retry_after_s: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (counted from 1).

        The server's ``Retry-After`` is used as given; otherwise the delay doubles from
        ``backoff_initial_s`` and is drawn from its upper half ("equal jitter"), so parallel workers
        that failed together do not return together. No wait exceeds ``backoff_max_s``.
        """
        cfg = self.config
        if retry_after_s is not None:
            return min(retry_after_s, cfg.backoff_max_s)
        base = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** (retry - 1))
        with self._lock:
            return base / 2 + self._rng.uniform(0, base / 2)

    def _failure(self, what: str, api_key: str) -> str:
        endpoint = self.config.base_url.rstrip("/") + "/chat/completions"
        return _redact(f"{self.role} request to {endpoint} (model {self.config.model}) failed: {what}", api_key)


def message_content(request: JudgeRequest) -> str | list[dict[str, Any]]:
    """The user message: plain text, or the text and each image as a data URL (text first unless
    ``images_first``)."""
    if not request.images:
        return request.text
    parts: list[dict[str, Any]] = []
    for index, image in enumerate(request.images):
        encoded = base64.b64encode(image).decode("ascii")
        url = f"data:{image_mime(image, index, request.prompt_version)};base64,{encoded}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    text = {"type": "text", "text": request.text}
    return [*parts, text] if request.images_first else [text, *parts]


def image_mime(image: bytes, index: int, prompt_version: str) -> str:
    """``image/png`` or ``image/jpeg`` from the file signature; anything else is refused."""
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if image.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    raise JudgeError(f"judge request ({prompt_version or 'no prompt version'}): image {index} is neither PNG nor "
                     f"JPEG (it starts with {image[:8]!r}); re-encode it before judging")


def reply_text(response: Any) -> str:
    """The first choice's message text, or ``""`` when the completion carries none."""
    message = _first_choice(response).get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def _first_choice(response: Any) -> dict[str, Any]:
    choices = response.get("choices") if isinstance(response, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    return first if isinstance(first, dict) else {}


def server_message(response: Any) -> str:
    """The error message in an error response body, on one line and cut short."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        error = body.get("error", body)
        body = error.get("message", error) if isinstance(error, dict) else error
    text = " ".join(str(body).split()) or "(empty body)"
    return text[:SERVER_MESSAGE_CHARS] + ("..." if len(text) > SERVER_MESSAGE_CHARS else "")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _connection_reason(err: openai.APIConnectionError, timeout_s: float) -> str:
    if isinstance(err, openai.APITimeoutError):
        return f"no reply within {timeout_s:g} s"
    cause = err.__cause__
    return f"connection failed ({cause or err})"


def _redact(text: str, api_key: str) -> str:
    # Servers sometimes echo the key they were given (e.g. "Incorrect API key provided: ...").
    return text.replace(api_key, "***") if api_key and api_key != PLACEHOLDER_KEY else text
