"""The ShapesWorld scene model: coloured shapes with a depth order, rendered with exact instance masks.

Coordinates are resolution independent: a shape's centre ``(x, y)`` and circumscribed radius
``size`` are fractions of the image side (y points down, as in images). :func:`render`
rasterises without anti-aliasing, so every pixel belongs to exactly one shape or to the
background and its colour is exactly the shape's palette colour.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

# GenEval's ten colour words with fixed, well separated RGB values.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 135, 20),
    "yellow": (245, 220, 35),
    "green": (40, 160, 60),
    "blue": (35, 75, 215),
    "purple": (135, 55, 175),
    "pink": (245, 150, 195),
    "brown": (125, 80, 40),
    "black": (15, 15, 15),
    "white": (250, 250, 250),
}
# Side in pixels of the world's images (scene coordinates do not depend on it; GEdit's raw inputs are larger).
IMAGE_SIZE = 224
# A neutral mid grey: no hue (unlike the eight chromatic colours) and far from black and white.
BACKGROUND: tuple[int, int, int] = (128, 128, 128)

KINDS: tuple[str, ...] = (
    "circle", "square", "triangle", "diamond", "pentagon",
    "hexagon", "star", "cross", "arrow", "heart",
)

Point = tuple[float, float]


def plural(kind: str) -> str:
    """English plural of a kind name: ``"cross"`` -> ``"crosses"``."""
    return kind + ("es" if kind.endswith(("s", "x", "ch", "sh")) else "s")


def with_article(kind: str) -> str:
    """A kind name with its indefinite article: ``"an arrow"``, ``"a star"``."""
    return ("an " if kind[0] in "aeiou" else "a ") + kind


@dataclass(frozen=True)
class Shape:
    """One coloured shape.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    color
        One of the keys of :data:`COLORS`.
    x, y
        Centre, as fractions of the image width and height (y grows downwards).
    size
        Radius of the circle the shape is inscribed in, as a fraction of the image side.
    angle
        Counter-clockwise rotation in degrees; an arrow at 0 points right.
    depth
        Distance from the camera: larger is farther. Far shapes are drawn first, so a near
        shape hides the parts of far shapes it overlaps. Ties are drawn in list order.
    points
        Number of points of a star (other kinds ignore it).
    heads
        Number of heads of an arrow, 1 or 2 (other kinds ignore it).
    """

    kind: str
    color: str
    x: float
    y: float
    size: float
    angle: float = 0.0
    depth: float = 0.0
    points: int = 5
    heads: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown shape kind {self.kind!r}; choose from {', '.join(KINDS)}")
        if self.color not in COLORS:
            raise ValueError(f"unknown colour {self.color!r}; choose from {', '.join(COLORS)}")
        if self.size <= 0:
            raise ValueError(f"shape size must be positive, not {self.size}")

    @property
    def name(self) -> str:
        """How questions refer to the shape: ``"red circle"``."""
        return f"{self.color} {self.kind}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Shape:
        return cls(**row)


@dataclass(frozen=True)
class Scene:
    """An ordered collection of shapes; instance ``i`` of a rendered mask is ``shapes[i]``."""

    shapes: tuple[Shape, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", tuple(self.shapes))

    def draw_order(self) -> list[int]:
        """Shape indices from farthest to nearest (the order they are painted in)."""
        return sorted(range(len(self.shapes)), key=lambda i: (-self.shapes[i].depth, i))

    def kinds(self) -> set[str]:
        return {s.kind for s in self.shapes}

    def to_json(self) -> dict[str, Any]:
        return {"shapes": [s.to_json() for s in self.shapes]}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Scene:
        return cls(tuple(Shape.from_json(s) for s in row["shapes"]))


# -- outlines: unit-circle polygons for angle 0, y pointing up ---------------------------------
def _regular(n: int, start_deg: float) -> list[Point]:
    return [(math.cos(math.radians(start_deg + 360 * k / n)), math.sin(math.radians(start_deg + 360 * k / n)))
            for k in range(n)]


def _star(shape: Shape) -> list[Point]:
    outer = _regular(shape.points, 90)
    inner = [(0.45 * x, 0.45 * y) for x, y in _regular(shape.points, 90 + 180 / shape.points)]
    return [p for pair in zip(outer, inner) for p in pair]


def _arrow(shape: Shape) -> list[Point]:
    shaft, head, neck = 0.22, 0.6, 0.2
    right = [(neck, -head), (1.0, 0.0), (neck, head), (neck, shaft)]
    if shape.heads == 1:
        return [(-1.0, -shaft), (neck, -shaft), *right, (-1.0, shaft)]
    return [(-1.0, 0.0), (-neck, -head), (-neck, -shaft), (neck, -shaft), *right,
            (-neck, shaft), (-neck, head)]


def _cross(_: Shape) -> list[Point]:
    w = 0.3
    quarter = [(w, w), (w, 1.0), (-w, 1.0)]
    # the same three corners turned by 0, 90, 180 and 270 degrees
    return [(x * c - y * s, x * s + y * c) for c, s in ((1, 0), (0, 1), (-1, 0), (0, -1)) for x, y in quarter]


def _heart(_: Shape) -> list[Point]:
    pts = []
    for k in range(32):
        t = 2 * math.pi * k / 32
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((x / 18.0, (y + 2.5) / 18.0))
    return pts


_OUTLINES: dict[str, Callable[[Shape], list[Point]]] = {
    "square": lambda s: [(c * 0.7071, d * 0.7071) for c, d in ((1, 1), (-1, 1), (-1, -1), (1, -1))],
    "diamond": lambda s: [(0.65, 0.0), (0.0, 1.0), (-0.65, 0.0), (0.0, -1.0)],
    "triangle": lambda s: _regular(3, 90),
    "pentagon": lambda s: _regular(5, 90),
    "hexagon": lambda s: _regular(6, 0),
    "star": _star,
    "cross": _cross,
    "arrow": _arrow,
    "heart": _heart,
}


def outline(shape: Shape, size: int) -> list[tuple[int, int]]:
    """The shape's polygon in integer pixel coordinates of a ``size`` x ``size`` image.

    Integer vertices keep rasterisation identical on every platform. Circles have no
    polygon: :func:`shape_mask` draws them as an ellipse.
    """
    cx, cy, r = shape.x * size, shape.y * size, shape.size * size
    c, s = math.cos(math.radians(shape.angle)), math.sin(math.radians(shape.angle))
    return [(math.floor(cx + r * (u * c - v * s) + 0.5), math.floor(cy - r * (u * s + v * c) + 0.5))
            for u, v in _OUTLINES[shape.kind](shape)]


def shape_mask(shape: Shape, size: int) -> np.ndarray:
    """All pixels the shape covers when drawn alone, as a ``(size, size)`` bool array."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    if shape.kind == "circle":
        cx, cy, r = shape.x * size, shape.y * size, shape.size * size
        box = [math.floor(v + 0.5) for v in (cx - r, cy - r, cx + r, cy + r)]
        draw.ellipse(box, fill=1)
    else:
        draw.polygon(outline(shape, size), fill=1)
    return np.asarray(canvas, dtype=bool)


def render(scene: Scene, size: int = IMAGE_SIZE) -> tuple[Image.Image, np.ndarray]:
    """Paint a scene far-to-near.

    Parameters
    ----------
    scene
        The shapes to draw.
    size
        Side of the square image in pixels.

    Returns
    -------
    image, mask
        The RGB image and an ``int32`` ``(size, size)`` array where each pixel holds
        ``i + 1`` for the visible shape ``scene.shapes[i]`` and 0 for the background.
        The image is the palette looked up through the mask, so the two always agree.
    """
    return compose(scene, [shape_mask(s, size) for s in scene.shapes], size)


def compose(scene: Scene, masks: list[np.ndarray], size: int) -> tuple[Image.Image, np.ndarray]:
    """:func:`render` from the shapes' own masks (``masks[i]`` = ``shape_mask(scene.shapes[i], size)``)."""
    mask = np.zeros((size, size), dtype=np.int32)
    for i in scene.draw_order():
        mask[masks[i]] = i + 1
    palette = np.array([BACKGROUND] + [COLORS[s.color] for s in scene.shapes], dtype=np.uint8)
    return Image.fromarray(palette[mask], "RGB"), mask
