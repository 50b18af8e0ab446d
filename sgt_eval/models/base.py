"""The model adapter interface every backend implements (DESIGN.md section 3).

This issue's backends answer questions; image generation, editing and traced forward passes
join the protocol as their capabilities land.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from sgt_eval.errors import UserError


@dataclass(frozen=True)
class Query:
    """One question for a model: the prompt text and the images that go before it."""

    text: str
    images: tuple[Image.Image, ...] = ()


class Model(Protocol):
    name: str
    capabilities: frozenset[str]  # subset of {"answer", "generate", "edit", "hidden_states", "attention", "train"}

    def answer(self, batch: Sequence[Query], *, max_new_tokens: int) -> list[str]:
        """Greedy answers, one per query, in order. Batch composition must not change any answer."""
        ...

    def describe(self) -> dict[str, Any]:
        """What identifies the weights and the inference settings, for run.json."""
        ...


def parse_model_args(text: str) -> dict[str, str]:
    """``"dtype=bfloat16,device=cuda"`` -> ``{"dtype": "bfloat16", "device": "cuda"}``."""
    args: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--model-args item {item!r} is not KEY=VALUE (e.g. dtype=bfloat16,device=cuda)")
        args[key.strip()] = value.strip()
    return args
