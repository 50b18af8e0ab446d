"""A programmatic VIEScore judge for ShapesWorld's GEdit-mini: SC and PQ from the known scenes, offline.

ShapesWorld writes, for every GEdit row, the source scene and the target scene (the source with
the instructed edit applied) in ``shapesworld_truth.jsonl``. An edited image is compared with both,
rendered at a working size of :data:`SIDE` pixels; each pixel of the edited image is read as one of
the 11 palette colours (background and the 10 shape colours) when it lies within
:data:`TOLERANCE` of it, else as off-palette. A pixel *agrees* with the target when its colour is
the target's colour at that pixel or at one of its 8 neighbours (so a 1-pixel shift from resizing
costs nothing). Like VIEScore's judge, it gives two whole numbers 0..10 per question:

- SC: ``[edit success, minimal editing]``. The edit region is every pixel where the source and
  target scenes differ. Edit success = 10 x the share of the region that agrees with the target
  (the unedited source scores about 0: it differs from the target everywhere in the region).
  Minimal editing = 10 x (1 - 2 x the share of the pixels outside the region that do not agree),
  taking the worse of the other shapes' pixels and the background's, so changing half of what
  should stay gives 0 and a blank image is not a minimal edit.
- PQ: ``[clean colours, no speckle]``. Clean colours = 10 x (2 x the share of on-palette pixels - 1):
  a rendering uses palette colours only, noise mostly does not. No speckle = 10 x (1 - 10 x the
  share of on-palette pixels with fewer than 3 same-coloured neighbours): renders have almost none
  (< 0.03 %), noise is all speckle.

Scores are rounded half up; SC and PQ are then the minimum of their two, as in VIEScore. The exact
target rendering at any size scores 10/10/10; the whole computation is deterministic.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.world import BACKGROUND, COLORS, Scene, render

GRADER = "shapes-programmatic-v1"
SIDE = 256  # working resolution; scenes are resolution independent
# RGB distance within which a pixel counts as a palette colour; the palette colours are >= 86 apart
TOLERANCE = 40
SPECKLE_NEIGHBOURS = 3  # an on-palette pixel with fewer same-coloured neighbours than this is speckle
PALETTE = np.array([BACKGROUND, *COLORS.values()], dtype=np.int32)  # label i = PALETTE[i]; -1 = off-palette
_COLOR_LABEL = {name: i + 1 for i, name in enumerate(COLORS)}


@dataclass(frozen=True)
class Truth:
    """The scenes of one GEdit row: before and after the instructed edit."""

    source: Scene
    target: Scene


def read_truth(path: Path) -> dict[tuple[str, str], Truth]:
    """``shapesworld_truth.jsonl`` as ``{(key, instruction_language): Truth}``.

    Raises
    ------
    UserError
        When a line is not JSON or lacks a field, naming the file and line.
    """
    truth: dict[tuple[str, str], Truth] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            truth[(str(row["key"]), str(row["instruction_language"]))] = Truth(
                Scene.from_json(row["source"]), Scene.from_json(row["target"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise UserError(f"{path}:{number}: not a ShapesWorld truth line ({type(err).__name__}: {err}); "
                            f"rebuild the world") from None
    return truth


def score_edit(edited: Image.Image, truth: Truth) -> tuple[list[int], list[int]]:
    """The SC pair ``[edit success, minimal editing]`` and PQ pair ``[clean colours, no speckle]``."""
    seen = colour_labels(edited.convert("RGB").resize((SIDE, SIDE), Image.Resampling.NEAREST))
    target, source = scene_labels(truth.target), scene_labels(truth.source)
    region = target != source
    agree = seen == target
    for shifted in _shifts(target):
        agree |= seen == shifted
    # what should stay: the other shapes and the background, each on its own (shapes are a small
    # share of the image, so a blank image must not pass as a minimal edit)
    kept = min(_share(agree, ~region & (target != 0)), _share(agree, ~region & (target == 0)))
    success = _share(agree, region)
    on_palette = seen >= 0
    same = sum((shifted == seen).astype(np.int32) for shifted in _shifts(seen))
    speckle = (on_palette & (same < SPECKLE_NEIGHBOURS)).sum() / max(int(on_palette.sum()), 1)
    sc = [_score(success), _score(1 - 2 * (1 - kept))]
    pq = [_score(2 * on_palette.mean() - 1), _score(1 - 10 * speckle)]
    return sc, pq


def colour_labels(image: Image.Image) -> np.ndarray:
    """Per pixel the index of the nearest palette colour within :data:`TOLERANCE`, else -1 (H x W int)."""
    channels = np.asarray(image, dtype=np.int32).transpose(2, 0, 1)  # (3, H, W)
    labels = np.full(channels.shape[1:], -1, dtype=np.int64)
    for index, colour in enumerate(PALETTE):  # colours are > 2 x TOLERANCE apart: at most one is close
        distance = sum((channel - value) ** 2 for channel, value in zip(channels, colour))
        labels[distance <= TOLERANCE ** 2] = index
    return labels


def scene_labels(scene: Scene, side: int = SIDE) -> np.ndarray:
    """The palette label of every pixel of the rendered scene (``side`` x ``side``)."""
    _, mask = render(scene, side)
    lookup = np.array([0, *(_COLOR_LABEL[s.color] for s in scene.shapes)], dtype=np.int64)
    return lookup[mask]


def _shifts(labels: np.ndarray) -> list[np.ndarray]:
    """The 8 one-pixel shifts of a label map; pixels shifted in from outside are -2, which matches no label."""
    padded = np.pad(labels, 1, constant_values=-2)
    h, w = labels.shape
    return [padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _share(agree: np.ndarray, where: np.ndarray) -> float:
    """The share of ``where`` that agrees (1 when ``where`` is empty: nothing there to get wrong)."""
    return float(agree[where].mean()) if where.any() else 1.0


def _score(share: float) -> int:
    """A share in [0, 1] (clipped) as a whole score 0..10, rounded half up."""
    return math.floor(10 * min(max(float(share), 0.0), 1.0) + 0.5)
