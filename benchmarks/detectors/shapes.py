"""The ``shapes`` detector: exact instances, kinds and colours of ShapesWorld images.

ShapesWorld paints palette colours (:data:`sgt_eval.world.scene.COLORS`) on a flat grey
background without anti-aliasing. This backend:

1. maps every pixel to the nearest palette colour or the background (pixels far from all of
   them are left unassigned),
2. takes each connected region of one colour as a candidate instance; specks (under 48 pixels,
   where a one-pixel tolerance would fit any outline) and regions that are not flat (pixels on
   average far from their palette colour: noise drifting near a colour) are dropped, so an
   untrained generator's noise is never read as a shape,
3. fits every kind's outline (:func:`sgt_eval.world.scene.outline`, at a few rotations) to the
   region: a pose from the region's box, refined by coordinate descent on centre, radius and
   angle, maximising the IoU between template and region. Pixels of *other palette* colours are
   free for the template to cover, because a nearer shape may hide that part (occlusion);
   unassigned pixels are not;
4. merges same-coloured regions that one template explains better together (a shape cut in two
   by a nearer shape), and
5. reports the best kind with score = the fit's IoU forgiving one pixel along the outline
   (rasterisation), so a true fit scores ~1.0 and clears even the counting threshold of 0.9.

The colour of a detection is the palette colour most of its pixels are nearest to. Two touching
shapes of one colour stay one region (ShapesWorld avoids drawing them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from benchmarks.detectors import ColorQuery, Detection, box_of
from sgt_eval.world.scene import BACKGROUND, COLORS, KINDS, Shape, outline

VERSION = "shapes@1"
COLOR_NAMES = tuple(COLORS)
PALETTE = np.array([BACKGROUND] + [COLORS[c] for c in COLOR_NAMES], dtype=np.int32)  # index 0 = background
UNASSIGNED = -1
MAX_DISTANCE = 60.0     # RGB distance beyond which a pixel is no palette colour at all
MIN_AREA = 0.0005       # regions smaller than this share of the image are specks, not shapes
MIN_PIXELS = 48         # ... or than this many pixels: below ~4 px radius a one-pixel tolerance fits anything
FLATNESS = 24.0         # mean RGB distance to its palette colour above which a region is a blob of paint, not a shape
MERGE_GAIN = 0.0        # a merged fit must be at least this much better than its parts
MAX_MERGE_PARTS = 12    # regions of one colour beyond which merging is not tried
STEPS = (2.0, 1.0, 0.5, 0.25)  # coordinate-descent steps in pixels (angle: 3 degrees per pixel step)
REFINED = 4             # at most this many forms are refined after the coarse fit ...
CONTENDER = 0.15        # ... those whose coarse IoU is within this of the best
EXPLAINED = 0.95        # a region fitted this well is one whole shape: no merging
EIGHT = np.ones((3, 3), dtype=bool)
# rotational symmetry of each kind's outline in degrees (stars: 360 / points; circles need no turn)
PERIOD = {"circle": 0, "square": 90, "triangle": 120, "diamond": 180, "pentagon": 72, "hexagon": 60,
          "cross": 90, "arrow": 360, "heart": 360}
STAR_POINTS = (4, 5, 6, 7, 8)
COARSE_STEP = 15.0      # about this many degrees between the rotations tried before refining


@dataclass(frozen=True)
class Variant:
    """One kind at one rotation, with its outline's bounds at radius 1 (x right, y down)."""

    kind: str
    angle: float
    heads: int
    points: int
    bounds: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax


def _variants() -> list[Variant]:
    unit = 1000.0
    out = []
    for kind in KINDS:
        forms = [(1, p, 360 / p) for p in STAR_POINTS] if kind == "star" else \
            [(1, 5, 360), (2, 5, 180)] if kind == "arrow" else [(1, 5, PERIOD[kind])]
        for heads, points, period in forms:
            turns = max(1, round(period / COARSE_STEP))
            for angle in (k * period / turns for k in range(turns)):
                if kind == "circle":
                    bounds = (-1.0, 1.0, -1.0, 1.0)
                else:
                    shape = Shape(kind, "red", 0.0, 0.0, unit, angle, points=points, heads=heads)
                    pts = np.array(outline(shape, 1)) / unit
                    bounds = (pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())
                out.append(Variant(kind, float(angle), heads, points, tuple(map(float, bounds))))
    return out


VARIANTS = _variants()


@dataclass(frozen=True)
class Pose:
    x: float
    y: float
    r: float
    angle: float

    def moved(self, dx: float, dy: float, dr: float, da: float) -> Pose:
        return Pose(self.x + dx, self.y + dy, self.r + dr, self.angle + da)


class Region:
    """One candidate instance: its pixels in a window of the image and what may hide it there."""

    def __init__(self, pixels: np.ndarray, free: np.ndarray, origin: tuple[int, int]) -> None:
        self.pixels = pixels    # (h, w) bool: this region
        self.free = free        # (h, w) bool: other colours (may be a nearer shape over this one)
        self.origin = origin    # window's (x0, y0) in the image
        self.area = int(pixels.sum())

    def render(self, variant: Variant, pose: Pose) -> np.ndarray:
        """The template's pixels in this window, rasterised exactly as ShapesWorld draws shapes."""
        h, w = self.pixels.shape
        canvas = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(canvas)
        ox, oy = self.origin
        if variant.kind == "circle":
            box = [math.floor(v + 0.5) for v in (pose.x - pose.r, pose.y - pose.r, pose.x + pose.r, pose.y + pose.r)]
            draw.ellipse([box[0] - ox, box[1] - oy, box[2] - ox, box[3] - oy], fill=1)
        else:
            shape = Shape(variant.kind, "red", pose.x, pose.y, pose.r, pose.angle, points=variant.points,
                          heads=variant.heads)
            draw.polygon([(px - ox, py - oy) for px, py in outline(shape, 1)], fill=1)
        return np.asarray(canvas, dtype=bool)

    def iou(self, template: np.ndarray) -> float:
        """Overlap over union, where template pixels on other colours cost nothing (maybe hidden)."""
        inter = np.count_nonzero(template & self.pixels)
        union = np.count_nonzero(self.pixels | (template & ~self.free))
        return inter / union if union else 0.0

    def tolerant_score(self, template: np.ndarray) -> float:
        """:meth:`iou` that forgives disagreements within one pixel of the template's outline."""
        inter = np.count_nonzero(template & self.pixels)
        grown = ndimage.binary_dilation(template, EIGHT)
        shrunk = ndimage.binary_erosion(template, EIGHT)
        errors = np.count_nonzero(self.pixels & ~grown) + np.count_nonzero(shrunk & ~self.pixels & ~self.free)
        return inter / (inter + errors) if inter + errors else 0.0


@dataclass(frozen=True)
class Fit:
    kind: str
    score: float
    iou: float


def initial_pose(region: Region, variant: Variant) -> Pose:
    """Centre and radius that make the template's box match the region's (the larger side wins,
    since a hidden part only ever shrinks the visible box)."""
    ys, xs = np.nonzero(region.pixels)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    xmin, xmax, ymin, ymax = variant.bounds
    r = max((x1 - x0) / (xmax - xmin), (y1 - y0) / (ymax - ymin), 1.0)
    cx = region.origin[0] + (x0 + x1) / 2 - r * (xmin + xmax) / 2
    cy = region.origin[1] + (y0 + y1) / 2 - r * (ymin + ymax) / 2
    return Pose(float(cx), float(cy), float(r), variant.angle)


def refine(region: Region, variant: Variant, pose: Pose) -> tuple[Pose, float]:
    """Coordinate descent on (x, y, r, angle) from ``pose``, coarse steps first."""
    best = region.iou(region.render(variant, pose))
    spins = variant.kind != "circle"
    for step in STEPS:
        moves = [(step, 0, 0, 0), (-step, 0, 0, 0), (0, step, 0, 0), (0, -step, 0, 0), (0, 0, step, 0),
                 (0, 0, -step, 0)] + ([(0, 0, 0, 3 * step), (0, 0, 0, -3 * step)] if spins else [])
        for _ in range(12):  # bounded: each round must improve, and the window bounds the drift
            trials = [(region.iou(region.render(variant, p)), p) for p in (pose.moved(*m) for m in moves) if p.r > 1]
            value, candidate = max(trials, key=lambda t: t[0])
            if value <= best:
                break
            best, pose = value, candidate
        if best >= 1.0:
            break
    return pose, best


def fit(region: Region) -> Fit:
    """The kind whose refined template explains the region best: every form (kind, star points,
    arrow heads) is tried at a few rotations, and the best few forms are refined."""
    coarse: dict[tuple[str, int, int], tuple[float, Variant, Pose]] = {}
    for variant in VARIANTS:
        pose = initial_pose(region, variant)
        value = region.iou(region.render(variant, pose))
        form = (variant.kind, variant.points, variant.heads)
        if form not in coarse or value > coarse[form][0]:
            coarse[form] = (value, variant, pose)
    ranked = sorted(coarse.values(), key=lambda t: t[0], reverse=True)
    best: Fit | None = None
    for value, variant, pose in ranked[:REFINED]:
        if value < ranked[0][0] - CONTENDER:
            break
        pose, value = refine(region, variant, pose)
        if best is None or value > best.iou:
            best = Fit(variant.kind, region.tolerant_score(region.render(variant, pose)), value)
    assert best is not None
    return best


def quantize(rgb: np.ndarray) -> np.ndarray:
    """Index of the nearest palette entry per pixel (0 = background), or -1 when none is near."""
    best = np.full(rgb.shape[:2], np.iinfo(np.int32).max, dtype=np.int64)
    index = np.zeros(rgb.shape[:2], dtype=np.int8)
    pixels = rgb.astype(np.int64)
    for k, color in enumerate(PALETTE):
        dist = ((pixels - color) ** 2).sum(axis=-1)
        closer = dist < best
        best[closer], index[closer] = dist[closer], k
    index[best > MAX_DISTANCE ** 2] = UNASSIGNED
    return index


class ShapesDetector:
    """Detector for ShapesWorld images (see the module docstring). Models are not used."""

    labels = frozenset(KINDS)

    def __init__(self, detector_model: str = "", clip_model: str = "") -> None:
        self.id = VERSION

    @staticmethod
    def describe(detector_model: str, clip_model: str) -> str:
        return VERSION

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        return [self._detect(np.asarray(image.convert("RGB"))) for image in images]

    def colors(self, queries: Sequence[ColorQuery]) -> list[list[str]]:
        out = []
        for query in queries:
            rgb = np.asarray(query.image.convert("RGB")).astype(np.int64)
            out.append([_majority_color(rgb[d.mask]) for d in query.objects])
        return out

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        index = quantize(rgb)
        min_area = max(MIN_PIXELS, int(MIN_AREA * index.size))
        detections = []
        for k in range(1, len(PALETTE)):
            labels, n = ndimage.label(index == k, structure=EIGHT)
            areas = np.bincount(labels.ravel(), minlength=n + 1)
            parts = [part for m in range(1, n + 1) if areas[m] >= min_area and _flat(rgb, part := labels == m, k)]
            free = (index > 0) & (index != k)  # other palette colours may hide this shape; unassigned pixels may not
            for pixels, result in _merged_fits(parts, free):
                detections.append(Detection(result.kind, float(np.float32(result.score)), box_of(pixels), pixels))
        return detections


def _flat(rgb: np.ndarray, pixels: np.ndarray, k: int) -> bool:
    """ShapesWorld paints flat colours: smooth noise that merely drifts near a palette colour is not a shape."""
    spread = np.sqrt(((rgb[pixels].astype(np.float64) - PALETTE[k]) ** 2).sum(axis=-1)).mean()
    return bool(spread <= FLATNESS)


def _window(pixels: np.ndarray, free: np.ndarray) -> Region:
    """The region cut out with room around it for a template that extends under other shapes."""
    ys, xs = np.nonzero(pixels)
    pad = max(xs.max() - xs.min(), ys.max() - ys.min()) // 2 + 3
    x0, y0 = max(xs.min() - pad, 0), max(ys.min() - pad, 0)
    x1, y1 = min(xs.max() + pad + 1, pixels.shape[1]), min(ys.max() + pad + 1, pixels.shape[0])
    return Region(pixels[y0:y1, x0:x1], free[y0:y1, x0:x1], (int(x0), int(y0)))


def _merged_fits(parts: list[np.ndarray], free: np.ndarray) -> list[tuple[np.ndarray, Fit]]:
    """Fit each region; then, greedily, join two regions that one template fits better together."""
    fits = [(p, fit(_window(p, free))) for p in parts]
    merged = len(fits) <= MAX_MERGE_PARTS  # past that the image is no ShapesWorld scene: skip the pairs
    while merged and len(fits) > 1:
        merged = False
        for a in range(len(fits)):
            for b in range(a + 1, len(fits)):
                if max(fits[a][1].iou, fits[b][1].iou) >= EXPLAINED or not _near(fits[a][0], fits[b][0]):
                    continue
                union = fits[a][0] | fits[b][0]
                joint = fit(_window(union, free))
                if joint.iou > max(fits[a][1].iou, fits[b][1].iou) + MERGE_GAIN:
                    fits = [f for n, f in enumerate(fits) if n not in (a, b)] + [(union, joint)]
                    merged = True
                    break
            if merged:
                break
    return fits


def _near(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two regions are close enough to be pieces of one shape: their boxes are at most
    the larger region's box side apart."""
    box_a, box_b = box_of(a), box_of(b)
    gap_x = max(box_a[0] - box_b[2], box_b[0] - box_a[2], 0)
    gap_y = max(box_a[1] - box_b[3], box_b[1] - box_a[3], 0)
    side = max(box_a[2] - box_a[0], box_a[3] - box_a[1], box_b[2] - box_b[0], box_b[3] - box_b[1])
    return max(gap_x, gap_y) <= side


def _majority_color(pixels: np.ndarray) -> str:
    """The palette colour (never the background) most of ``pixels`` are nearest to."""
    if not len(pixels):
        return COLOR_NAMES[0]
    dist = ((pixels[:, None, :] - PALETTE[None, 1:, :]) ** 2).sum(axis=-1)
    return COLOR_NAMES[int(np.bincount(dist.argmin(axis=1), minlength=len(COLOR_NAMES)).argmax())]
