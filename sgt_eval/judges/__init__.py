"""LLM judges: the request type benchmarks build and the interface they call.

The OpenAI-compatible implementation lives in :mod:`sgt_eval.judges.client`; benchmarks depend
only on the :class:`Judge` protocol, so tests and offline runs can pass any object with ``ask_many``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class JudgeRequest:
    """One judge call.

    Attributes
    ----------
    text
        The filled-in prompt.
    images
        Encoded image bytes (PNG or JPEG), sent to the judge as data URLs after the text.
    prompt_version
        Names the prompt template (e.g. ``"hallusionbench-official@744007c"``); it is part of
        the cache key and is recorded in ``run.json``.
    images_first
        Send the images before the text (how the models are asked questions, see
        ``sgt_eval.models.served``); judges get the text first.
    """

    text: str
    images: tuple[bytes, ...] = ()
    prompt_version: str = ""
    images_first: bool = False


class Judge(Protocol):
    id: str  # model id and endpoint, recorded with every judged metric

    def ask_many(self, requests: Sequence[JudgeRequest]) -> list[str]:
        """Return the judge's raw reply text for each request, in order."""
        ...
