"""``openai:<served-model-name>``: a model behind any OpenAI-compatible chat-completions server.

vLLM (``vllm serve Qwen/Qwen2.5-VL-7B-Instruct``), SGLang, or a hosted API answer the benchmark
questions; the images go with each question as PNG data URLs, before the text (the order our
local adapters use). Requests run through the judge client (:mod:`sgt_eval.judges.client`): the
same bounded concurrency, retries with backoff for 429/5xx/timeouts, and on-disk cache, so a
resumed run never asks the server again for an answer it already has. Decoding is greedy by
default (``temperature=0``); the API key is read from the environment and never recorded.

The runner's ``--batch-size`` is the number of questions in flight at once (up to ``concurrency``).

The cache trusts that a model name at an endpoint names one set of weights. Restarting the server
with other weights under the same name needs ``cache_tag=<new tag>`` (part of every cache key) or
``cache=false``.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.judges import JudgeRequest
from sgt_eval.judges.client import JudgeConfig, OpenAIJudge
from sgt_eval.models import options
from sgt_eval.models.base import Query
from sgt_eval.paths import cache_root

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"  # where `vllm serve` and SGLang listen by default
PROMPT_VERSION = "sgt-eval-answer-v1"  # names this request layout in the cache (images first, no system prompt)


def _temperature(name: str, value: str) -> float | None:
    return None if value.lower() == "none" else options.number(name, value)


OPTIONS: dict[str, options.Parser] = {
    "base_url": options.text, "api_key_env": options.text, "concurrency": options.count,
    "max_retries": options.count, "timeout": options.number, "temperature": _temperature,
    "cache": options.flag, "cache_tag": options.text,
}


class ServedAnswerer(OpenAIJudge):
    """The judge client with the messages of a model: errors say "model request", keys go by ``--model-args``."""

    role = "model"
    key_flag = "--model-args api_key_env=NAME"


class ServedModel:
    """Answers from an OpenAI-compatible endpoint.

    Parameters
    ----------
    model
        The model name the server knows (``vllm serve`` uses the checkpoint path or ``--served-model-name``).
    base_url
        The API root, e.g. ``http://127.0.0.1:8000/v1``.
    api_key_env
        Environment variable holding the key (not needed for localhost servers).
    concurrency, max_retries, timeout
        Requests in flight, retries after the first attempt, seconds per attempt.
    temperature
        0 (greedy, default) or None to send none (the server's default).
    cache, cache_tag
        Keep answers on disk (default), keyed by endpoint, model, ``cache_tag`` and the request.
    """

    capabilities = frozenset({"answer"})

    def __init__(self, model: str, *, base_url: str = DEFAULT_BASE_URL, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, max_retries: int = 6, timeout: float = 120.0,
                 temperature: float | None = 0.0, cache: bool = True, cache_tag: str = "") -> None:
        self.name = model
        self.settings = {"base_url": base_url, "api_key_env": api_key_env, "concurrency": concurrency,
                         "max_retries": max_retries, "timeout": timeout, "temperature": temperature,
                         "cache_tag": cache_tag}
        JudgeConfig(base_url=base_url, model=model)  # refuse a bad URL now, not at the first batch
        # The endpoint and tag are in the prompt version, which is part of every cache key.
        self.layout = f"{PROMPT_VERSION}@{base_url}#{cache_tag}"
        self.cache_dir = cache_root() / "served" if cache else Path(tempfile.mkdtemp(prefix="sgt-eval-served-"))
        self._clients: dict[int, ServedAnswerer] = {}

    def answer(self, batch: Sequence[Query], *, max_new_tokens: int) -> list[str]:
        requests = [JudgeRequest(q.text, tuple(png(image) for image in q.images), self.layout, images_first=True)
                    for q in batch]
        return [reply.strip() for reply in self._client(max_new_tokens).ask_many(requests)]

    def describe(self) -> dict[str, Any]:
        """The served model by name and endpoint (the weights behind it cannot be fingerprinted from here)."""
        kept = ("base_url", "temperature", "cache_tag")  # the rest changes how, not what, is asked
        return {"served_model": self.name, "api": "openai-chat-completions", "request_layout": PROMPT_VERSION,
                **{k: self.settings[k] for k in kept}}

    def _client(self, max_tokens: int) -> ServedAnswerer:
        """One client per answer length: ``max_tokens`` is part of every request and of its cache key."""
        if max_tokens not in self._clients:
            s = self.settings
            config = JudgeConfig(base_url=s["base_url"], model=self.name, api_key_env=s["api_key_env"],
                                 max_concurrency=s["concurrency"], max_retries=s["max_retries"],
                                 timeout_s=s["timeout"], temperature=s["temperature"], max_tokens=max_tokens)
            self._clients[max_tokens] = ServedAnswerer(config, cache_dir=self.cache_dir)
        return self._clients[max_tokens]


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def load_served(arg: str, model_args: Mapping[str, str], seed: int) -> ServedModel:
    """Backend entry for ``openai:<served-model-name>`` (``seed`` is unused: decoding is greedy)."""
    if not arg:
        raise UserError("--model openai needs the served model's name: openai:<name> "
                        "(e.g. openai:Qwen/Qwen2.5-VL-7B-Instruct --model-args base_url=http://127.0.0.1:8000/v1)")
    return ServedModel(arg, **options.parse_options("openai", OPTIONS, model_args))
