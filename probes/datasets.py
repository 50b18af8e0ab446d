"""Probe datasets: labelled (image, question, answer) samples, grouped by source image.

A ``--data`` spec names one of three sources:

- ``shapes`` or ``shapes:N`` — ShapesWorld, N images (default 2,000): one shape per image, its
  kind is the class (the confusable pair is pentagon vs hexagon, as grand vs upright piano in the
  SGT paper), random colour, size, position and angle, and a second, smaller distractor shape of
  another kind in half of them. Each image is asked two phrasings of "what shape", so samples
  come in groups of two and a probe must be cross-validated by image. Rendered on demand from a
  seed: nothing is written.
- ``folder:PATH`` — an image folder per class (``PATH/grand_piano/*.jpg``, ``PATH/upright_piano/…``);
  the question is ``--question`` (default "Describe the image."), no answer.
- ``bench:NAME`` — a registry benchmark's samples (``--data-root`` as for ``run``, default the
  embedded ShapesWorld benchmarks), labelled by their gold answer and grouped by image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sgt_eval.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SHAPES_VERSION = "probe-shapes-v2"
SHAPE_QUESTIONS = ("What shape is the largest object in the image?", "Name the shape of the big object.")
CONFUSABLE = ("pentagon", "hexagon")


@dataclass(frozen=True)
class ProbeSample:
    """One traced item. ``group`` is the source image: samples of one image never straddle a CV split."""

    id: str
    question: str
    label: str
    group: str
    answer: str | None = None
    image: Callable[[], Image.Image] = field(repr=False, compare=False, default=lambda: Image.new("RGB", (1, 1)))

    def load_image(self) -> Image.Image:
        return self.image()


def load_probe_data(spec: str, *, question: str = "Describe the image.", data_root: Path | None = None
                    ) -> tuple[list[ProbeSample], dict[str, Any]]:
    """Samples and a description (for the capture plan) of a ``--data`` spec."""
    kind, _, arg = spec.partition(":")
    if kind == "shapes":
        n = int(arg) if arg else 2000
        return shapes_samples(n), {"spec": spec, "version": SHAPES_VERSION, "n_images": n}
    if kind == "folder":
        return folder_samples(Path(arg), question), {"spec": spec, "question": question}
    if kind == "bench":
        return bench_samples(arg, data_root), {"spec": spec}
    raise UserError(f"--data {spec!r}: use shapes[:N], folder:PATH (one sub-folder per class) or bench:NAME")


def shapes_samples(n_images: int, seed: int = 0) -> list[ProbeSample]:
    from sgt_eval.world import KINDS

    samples = []
    for i in range(n_images):
        kind = KINDS[i % len(KINDS)]                                   # balanced classes, the pair among them
        render = _shape_renderer(seed, i, kind)
        for q, text in enumerate(SHAPE_QUESTIONS):
            samples.append(ProbeSample(f"{i:05d}-{q}", text, kind, f"{i:05d}", kind, render))
    return samples


def _shape_renderer(seed: int, index: int, kind: str) -> Callable[[], Image.Image]:
    def render_one() -> Image.Image:
        from sgt_eval.world import COLORS, KINDS, Scene, Shape, render

        rng = np.random.default_rng([seed, index])
        colors = list(COLORS)
        main = Shape(kind, colors[rng.integers(len(colors))], x=float(rng.uniform(0.35, 0.65)),
                     y=float(rng.uniform(0.35, 0.65)), size=float(rng.uniform(0.2, 0.3)),
                     angle=float(rng.uniform(0, 360)), depth=1.0)
        shapes = [main]
        if rng.random() < 0.5:
            other = [k for k in KINDS if k != kind]
            corner = rng.integers(4)
            shapes.append(Shape(other[rng.integers(len(other))], colors[rng.integers(len(colors))],
                                x=0.12 if corner % 2 else 0.88, y=0.12 if corner < 2 else 0.88, size=0.08, depth=2.0))
        return render(Scene(tuple(shapes)), 112)[0]
    return render_one


def folder_samples(root: Path, question: str) -> list[ProbeSample]:
    if not root.is_dir():
        raise UserError(f"--data folder:{root}: not a directory; give a folder with one sub-folder of images per class")
    samples = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            rel = path.relative_to(root).as_posix()
            samples.append(ProbeSample(rel, question, class_dir.name, rel, None, _opener(path)))
    if len({s.label for s in samples}) < 2:
        raise UserError(f"--data folder:{root}: found {len(samples)} images in fewer than 2 class sub-folders; "
                        "put each class's images in its own sub-folder")
    return samples


def bench_samples(name: str, data_root: Path | None) -> list[ProbeSample]:
    from benchmarks import BENCHMARKS
    from benchmarks.base import AnswerBenchmark
    from sgt_eval.paths import cache_root
    from sgt_eval.world import ensure_world

    bench = BENCHMARKS.load(name)()
    if not isinstance(bench, AnswerBenchmark):
        raise UserError(f"--data bench:{name}: only question-answering benchmarks can be probed")
    dataset = bench.load((data_root or ensure_world(cache_root() / "world")) / name)
    return [ProbeSample(s.id, bench.prompt(s), s.answer, s.image, s.answer, _opener(dataset.root / s.image))
            for s in dataset.samples if s.image is not None]


def _opener(path: Path) -> Callable[[], Image.Image]:
    def open_rgb() -> Image.Image:
        with Image.open(path) as image:
            return image.convert("RGB")
    return open_rgb
