"""What a rendered scene shows: visible regions and decisive spatial relations between shapes.

Every benchmark answer in ShapesWorld is read from the rendered instance mask through this
module, so answers are true of the pixels a model sees, not of scene parameters that the
rendering may hide (occlusion, shapes that do not fill their circle).

A relation is *decisive* only with a clear margin; :meth:`Layout.relation` returns ``None``
in the grey zone, and the writers never ask about such cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

from sgt_eval.world.scene import Scene, Shape, compose, shape_mask

# Thresholds as fractions of the image side.
NEAR_GAP = 0.06        # "near": the closest visible pixels are at most this far apart
FAR_DISTANCE = 0.5     # "far from": centres at least this far apart
SEPARATED_GAP = 0.08   # "touching" is false only when the shapes are at least this far apart
MIN_OVERLAP = 0.05     # share of the smaller shape two shapes must overlap by to show depth order

RELATIONS: tuple[str, ...] = (
    "left of", "right of", "above", "below", "in front of", "behind", "near", "far from", "touching",
)
# Relations whose truth flips when subject and object are swapped.
CONVERSE: dict[str, str] = {
    "left of": "right of", "right of": "left of", "above": "below", "below": "above",
    "in front of": "behind", "behind": "in front of",
}


@dataclass(frozen=True)
class Region:
    """The visible pixels of one shape: area, inclusive bbox ``(x0, y0, x1, y1)``, centroid."""

    area: int
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]


def region_of(pixels: np.ndarray) -> Region | None:
    """Summarise a bool mask; ``None`` when it is empty."""
    ys, xs = np.nonzero(pixels)
    if xs.size == 0:
        return None
    return Region(int(xs.size), (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())),
                  (float(xs.mean()), float(ys.mean())))


def boundary(pixels: np.ndarray) -> np.ndarray:
    """``(k, 2)`` array of the (x, y) pixels of a bool mask that touch a pixel outside it."""
    padded = np.pad(pixels, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    ys, xs = np.nonzero(pixels & ~inner)
    return np.stack([xs, ys], axis=1).astype(np.float64)


class Layout:
    """A scene rendered once, with the measurements the benchmark writers need.

    Parameters
    ----------
    scene
        The scene.
    size
        Image side in pixels.
    """

    def __init__(self, scene: Scene, size: int) -> None:
        self.scene = scene
        self.size = size
        self.full = [shape_mask(s, size) for s in scene.shapes]
        self.image: Image.Image
        self.image, self.mask = compose(scene, self.full, size)
        self.regions = [region_of(self.mask == i + 1) for i in range(len(scene.shapes))]
        self._rank = {i: r for r, i in enumerate(scene.draw_order())}

    def visible(self) -> list[tuple[Shape, Region]]:
        """The shapes any pixel of which shows, with their regions, in scene order."""
        return [(s, r) for s, r in zip(self.scene.shapes, self.regions) if r is not None]

    @cached_property
    def _edges(self) -> list[np.ndarray]:
        return [boundary(self.mask == i + 1) for i in range(len(self.scene.shapes))]

    def visible_fraction(self, i: int) -> float:
        """Share of shape ``i``'s own pixels that no nearer shape hides."""
        total = int(self.full[i].sum())
        region = self.regions[i]
        return (region.area if region else 0) / total if total else 0.0

    def gap(self, i: int, j: int) -> float:
        """Distance in pixels between the closest visible pixels of two shapes (1.0 = adjacent)."""
        a, b = self._edges[i], self._edges[j]
        if not len(a) or not len(b):
            return float("inf")
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
        return float(np.sqrt(d2.min()))

    def distance(self, i: int, j: int) -> float:
        """Distance in pixels between the centroids of the visible parts of two shapes."""
        a, b = self.regions[i], self.regions[j]
        if a is None or b is None:
            return float("inf")
        return float(np.hypot(a.centroid[0] - b.centroid[0], a.centroid[1] - b.centroid[1]))

    def in_front(self, i: int, j: int) -> bool | None:
        """Whether ``i`` hides part of ``j`` (True) or ``j`` hides part of ``i`` (False).

        ``None`` when they do not overlap enough for the depth order to be visible.
        """
        overlap = int((self.full[i] & self.full[j]).sum())
        smaller = min(int(self.full[i].sum()), int(self.full[j].sum()))
        if smaller == 0 or overlap < MIN_OVERLAP * smaller:
            return None
        return self._rank[i] > self._rank[j]

    def _side(self, i: int, j: int, axis: int) -> bool | None:
        """True if ``i`` lies wholly before ``j`` along ``axis`` (0 = x, 1 = y), False if after."""
        a, b = self.regions[i], self.regions[j]
        if a is None or b is None:
            return None
        along = abs(a.centroid[axis] - b.centroid[axis])
        across = abs(a.centroid[1 - axis] - b.centroid[1 - axis])
        if across >= 0.8 * along:  # diagonal or mostly offset on the other axis: not clear-cut
            return None
        if a.bbox[axis + 2] < b.bbox[axis]:
            return True
        if b.bbox[axis + 2] < a.bbox[axis]:
            return False
        return None

    def relation(self, rel: str, i: int, j: int) -> bool | None:
        """Truth of "shape ``i`` is ``rel`` shape ``j``", or ``None`` when not clear-cut.

        ``rel`` is one of :data:`RELATIONS`.
        """
        if rel in ("right of", "below", "behind"):
            return self.relation(CONVERSE[rel], j, i)
        if rel == "left of":
            return self._side(i, j, 0)
        if rel == "above":
            return self._side(i, j, 1)
        if rel == "in front of":
            return self.in_front(i, j)
        gap, dist = self.gap(i, j), self.distance(i, j)
        if rel == "touching":
            return True if gap <= 1.0 else False if gap >= SEPARATED_GAP * self.size else None
        near, far = gap <= NEAR_GAP * self.size, dist >= FAR_DISTANCE * self.size
        if rel in ("near", "far from"):
            if near == far:  # neither clearly near nor clearly far (or, for huge shapes, both)
                return None
            return near if rel == "near" else far
        raise ValueError(f"unknown relation {rel!r}; choose from {', '.join(RELATIONS)}")
