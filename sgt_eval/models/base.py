"""The model adapter interface every backend implements (DESIGN.md section 3).

A backend implements the methods of the capabilities it declares: ``answer`` for questions,
``generate_images`` for text-to-image, ``edit_images`` for image editing, ``trace`` (capabilities
``hidden_states`` and ``attention``) for the probes.
"""

from __future__ import annotations

import hashlib
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


@dataclass(frozen=True)
class GenRequest:
    """One image to generate. ``seed`` alone fixes the image: batching or resuming never changes it.

    ``width``/``height`` of None mean the model's own default resolution.
    """

    prompt: str
    seed: int
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class EditRequest:
    """One edit: the instruction, the source image (already at the benchmark's input size) and a seed."""

    instruction: str
    image: Image.Image
    seed: int


class Model(Protocol):
    name: str
    capabilities: frozenset[str]  # subset of {"answer", "generate", "edit", "hidden_states", "attention", "train"}

    def answer(self, batch: Sequence[Query], *, max_new_tokens: int) -> list[str]:
        """Greedy answers, one per query, in order. Batch composition must not change any answer."""
        ...

    def generate_images(self, batch: Sequence[GenRequest]) -> list[Image.Image]:
        """One image per request, each from its own seeded generator (capability ``"generate"``)."""
        ...

    def edit_images(self, batch: Sequence[EditRequest]) -> list[Image.Image]:
        """One edited image per request, each from its own seeded generator (capability ``"edit"``)."""
        ...

    def trace(self, batch: Sequence[Query], reducers: Sequence[Any], *, answers: Sequence[str | None] | None = None,
              lexicon: Any = None) -> dict[str, Any]:
        """One teacher-forced pass (each answer appended to its prompt) with hooks on every decoder layer;
        returns the reducers' small per-sample tensors (see probes.reducers and probes.trace). ``lexicon``
        (a ``probes.categories.Lexicon``, default its documented default) sorts the prompt's words."""
        ...

    def describe(self) -> dict[str, Any]:
        """What identifies the weights and the inference settings (sampler steps, cfg, size), for run.json."""
        ...


def derive_seed(run_seed: int, benchmark: str, sample_id: str) -> int:
    """The seed of one generated image: a hash of (run seed, benchmark, sample id), in [0, 2**31).

    Every image has its own seed, so a resumed, re-batched or sharded run makes the same images.
    """
    digest = hashlib.sha256(f"{run_seed}\0{benchmark}\0{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def parse_model_args(text: str) -> dict[str, str]:
    """``"dtype=bfloat16,device=cuda"`` -> ``{"dtype": "bfloat16", "device": "cuda"}``."""
    args: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--model-args item {item!r} is not KEY=VALUE (e.g. dtype=bfloat16,device=cuda)")
        args[key.strip()] = value.strip()
    return args
