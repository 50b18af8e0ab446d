"""Fixtures of the judge tests: a fresh fake OpenAI server per test and a judge factory pointed at it."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import KEY_ENV, SECRET_KEY, FakeOpenAI
from PIL import Image

from sgt_eval.judges.client import JudgeConfig, OpenAIJudge


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    """Every backoff wait the judge asked for (the judge's sleep is this list's append)."""
    return []


@pytest.fixture
def make_judge(server: FakeOpenAI, tmp_path: Path, sleeps: list[float],
               monkeypatch: pytest.MonkeyPatch) -> Callable[..., OpenAIJudge]:
    """``make_judge(**config_overrides)``: a judge on the fake server, its cache under ``tmp_path / "cache"``."""
    monkeypatch.setenv(KEY_ENV, SECRET_KEY)

    def make(**overrides: Any) -> OpenAIJudge:
        fields = {"base_url": server.base_url, "model": "judge-model", "api_key_env": KEY_ENV, "timeout_s": 5.0,
                  "backoff_initial_s": 0.01, **overrides}
        return OpenAIJudge(JudgeConfig(**fields), tmp_path / "cache", sleep=sleeps.append, rng=random.Random(0))

    return make


def encode(fmt: str, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def png() -> bytes:
    return encode("PNG", (255, 0, 0))


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    return encode("JPEG", (0, 0, 255))
