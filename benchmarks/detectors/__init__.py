"""Object detectors for GenEval: one interface, three backends chosen by ``--detector``.

A backend finds object instances (class, confidence, box, mask) and names the colour of the
objects GenEval asks about. The rules in :mod:`benchmarks.geneval_rules` only see
:class:`Detection` objects, so every backend is scored by the same code.

Backends (imported only when used; each is documented in its module):

- ``shapes``: exact for ShapesWorld images (palette colours on a flat grey background).
- ``hf``: transformers Mask2Former (COCO instances) + CLIP ViT-L/14 colour; CPU or GPU; close to official.
- ``mmdet``: the official mmdet 2.x Mask2Former checkpoint + open_clip, as ``evaluate_images.py``; GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.registry import Registry

BACKENDS: Registry = Registry("GenEval detector")
BACKENDS.add("shapes", "benchmarks.detectors.shapes:ShapesDetector",
             "exact instances, kinds and palette colours of ShapesWorld images")
BACKENDS.add("hf", "benchmarks.detectors.hf:HFDetector",
             "transformers Mask2Former COCO instance model + CLIP zero-shot colour (close to official)")
BACKENDS.add("mmdet", "benchmarks.detectors.mmdet:MMDetDetector",
             "the official mmdet 2.x Mask2Former + open_clip ViT-L-14 (pip install sgt-eval[mmdet], GPU)")

# GenEval's object_names.txt renames three COCO classes; detectors trained on COCO report the COCO names.
COCO_TO_GENEVAL = {"mouse": "computer mouse", "remote": "tv remote", "keyboard": "computer keyboard"}


@dataclass(frozen=True)
class Detection:
    """One detected object instance.

    Attributes
    ----------
    label
        Class name in GenEval's vocabulary (``"dog"``, ``"tv remote"``, ``"circle"``).
    score
        Confidence in [0, 1], as a float32 value (the rules compare it in float32, as upstream).
    box
        ``(x0, y0, x1, y1)`` in pixels; ``x1``/``y1`` are one past the last pixel, as mmdet's ``mask2bbox``.
    mask
        ``(height, width)`` bool array of the instance's pixels, or None for box-only detectors.
    """

    label: str
    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ColorQuery:
    """A request to name the colour of ``objects`` (all of class ``classname``) in ``image``."""

    image: Image.Image
    objects: tuple[Detection, ...]
    classname: str


class Detector(Protocol):
    """What every backend provides."""

    id: str          # backend and model ids, recorded as the benchmark's grader
    labels: frozenset[str]  # the class names it can report

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        """All candidate instances of each RGB image, in one batched call (any order, any score)."""
        ...

    def colors(self, queries: Sequence[ColorQuery]) -> list[list[str]]:
        """For each query, one of GenEval's ten colour words per object, in one batched call."""
        ...


def geneval_label(name: str) -> str:
    """A detector's class name in GenEval's vocabulary (COCO's ``mouse`` -> ``computer mouse``)."""
    return COCO_TO_GENEVAL.get(name, name)


def detector_id(backend: str, detector_model: str, clip_model: str) -> str:
    """The id a backend records, computed without loading any model."""
    return BACKENDS.load(backend).describe(detector_model, clip_model)


def make_detector(backend: str, detector_model: str, clip_model: str) -> Detector:
    """Build a backend by name (``shapes``, ``hf`` or ``mmdet``) with the models the options name."""
    return BACKENDS.load(backend)(detector_model, clip_model)


def box_of(mask: np.ndarray) -> tuple[float, float, float, float]:
    """The tight box of a bool mask with exclusive far edges (mmdet's ``mask2bbox``); zeros if empty."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if not cols.size or not rows.size:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def missing_extra(package: str, extra: str, backend: str) -> UserError:
    """The one-line error for a backend whose optional dependency is not installed."""
    return UserError(f"--detector {backend} needs the {package} package: pip install 'sgt-eval[{extra}]' "
                     f"(or choose --detector hf)")
