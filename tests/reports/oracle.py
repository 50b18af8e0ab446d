"""A test model that knows ShapesWorld's answers and gives them with a chosen accuracy.

``oracle:<accuracy>`` answers a question right with probability ``accuracy`` (decided by a hash of
the run seed and the question, so it is the same in every process); otherwise, half the time a wrong
answer the rules can read and half the time text they cannot. With ``--model-args payload=1`` the wrong
answers are HTML/script injections, for the report's escaping tests. Images: GenEval prompts get an
image the GenEval rules pass (right) or a blank canvas; edits return the source image unchanged.
It goes through the real ``sgt-eval run`` so the run directories are exactly what users get.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from benchmarks import BENCHMARKS, UNDERSTANDING
from sgt_eval.models.base import EditRequest, GenRequest, Query
from sgt_eval.paths import cache_root
from sgt_eval.runner import load_images
from sgt_eval.world import BACKGROUND, IMAGE_SIZE, ensure_world, render_geneval_truth

CANDIDATES = ("Yes", "No", "(A)", "(B)", "(C)", "(D)", "(E)", "(F)")
UNREADABLE = "I cannot tell from this picture."
PAYLOADS = ('<img src=x onerror="document.title=\'pwned-img\'">',
            '</script><script>document.title="pwned-script"</script>')


def digest(images: Sequence[Image.Image]) -> str:
    h = hashlib.sha256()
    for image in images:
        h.update(image.tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def answer_book() -> dict[tuple[str, str], tuple[str, str]]:
    """(prompt, image digest) -> (an output graded right, an output graded wrong but read)."""
    root = ensure_world(cache_root() / "world")
    book = {}
    for name in UNDERSTANDING:
        cls = BENCHMARKS.load(name)
        dataset = cls().load(root / name)
        for sample in dataset.samples:
            graded = cls().grade([sample] * len(CANDIDATES), list(CANDIDATES))
            right = next(c for c, g in zip(CANDIDATES, graded) if g.correct)
            wrong = next(c for c, g in zip(CANDIDATES, graded) if not g.correct and g.method != "none")
            pixels = digest(load_images(dataset.root, sample))
            for protocol in cls.protocols:  # each protocol may word the prompt its own way
                book[(cls(protocol).prompt(sample), pixels)] = (right, wrong)
    return book


@functools.lru_cache(maxsize=1)
def geneval_lines() -> dict[str, dict[str, Any]]:
    bench = BENCHMARKS.load("geneval")()
    dataset = bench.load(ensure_world(cache_root() / "world") / "geneval")
    return {bench.prompt(s): dict(s.meta) for s in dataset.samples}


class Oracle:
    capabilities = frozenset({"answer", "generate", "edit"})

    def __init__(self, accuracy: float, seed: int, payload: bool) -> None:
        self.name, self.accuracy, self.seed, self.payload = f"oracle:{accuracy}", accuracy, seed, payload

    def _draw(self, *key: str) -> float:
        """A uniform number fixed by the model, seed and question: runs of two oracles are independent."""
        h = hashlib.sha256("\0".join((self.name, str(self.seed), *key)).encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    def answer(self, batch: Sequence[Query], *, max_new_tokens: int) -> list[str]:
        outputs = []
        for query in batch:
            key = (query.text, digest(query.images))
            right, wrong = answer_book()[key]
            u = self._draw(*key)
            if u < self.accuracy:
                outputs.append(right)
            elif u < (1 + self.accuracy) / 2:
                outputs.append(PAYLOADS[int(u * 1000) % 2] if self.payload else wrong)
            else:
                outputs.append(UNREADABLE)
        return outputs

    def generate_images(self, batch: Sequence[GenRequest]) -> list[Image.Image]:
        images = []
        for request in batch:
            if self._draw(request.prompt, str(request.seed)) < self.accuracy:
                images.append(render_geneval_truth(geneval_lines()[request.prompt], np.random.default_rng(request.seed)))
            else:
                images.append(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND))
        return images

    def edit_images(self, batch: Sequence[EditRequest]) -> list[Image.Image]:
        return [request.image for request in batch]

    def describe(self) -> dict[str, Any]:
        return {"checkpoint": {"kind": "test-oracle", "sha256": hashlib.sha256(self.name.encode()).hexdigest()},
                "dtype": "float32", "attn_implementation": "eager"}


def load_oracle(arg: str, model_args: dict[str, str], seed: int) -> Oracle:
    return Oracle(float(arg), seed, model_args.get("payload") == "1")
