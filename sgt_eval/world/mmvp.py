"""MMVP, ShapesWorld edition, in the MMVP/MMVP layout.

``Questions.csv`` (Index, Question, Options, Correct Answer) and ``MMVP Images/<Index>.jpg``.
Rows (1, 2), (3, 4), ... are pairs: one question and its two options asked of two images that
differ in one thing only (a colour, a count, an arrow's direction, a position, the presence of a
shape, or which of two shapes is in front), with opposite answers.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from sgt_eval.world.files import Sink
from sgt_eval.world.layout import Layout
from sgt_eval.world.sampling import (
    balanced,
    distinct_shapes,
    new_shape,
    place_near,
    retry,
    sample,
    scatter,
    uniform,
)
from sgt_eval.world.scene import COLORS, KINDS, Scene, Shape, plural, with_article

PAIRS = 36  # pairs at scale 1


class Pair(NamedTuple):
    """A question, its two options, and the images whose answers are option (a) and option (b)."""

    question: str
    options: tuple[str, str]
    image_a: Layout
    image_b: Layout


def _others(rng: np.random.Generator, main: list[Shape], avoid: str, n: tuple[int, int] = (1, 3),
            fixed: tuple[Shape, ...] = ()) -> list[Shape] | None:
    """Main shapes plus a few shapes of other kinds, clear of each other (only depth pairs overlap)."""
    specs = distinct_shapes(rng, int(rng.integers(n[0], n[1] + 1)), kinds=[k for k in KINDS if k != avoid],
                            taken=main)
    placed = scatter(rng, specs, fixed=[*main, *fixed])
    return None if placed is None else [*main, *placed]


def _colour(sink: Sink, rng: np.random.Generator) -> Pair | None:
    (target,) = distinct_shapes(rng, 1)
    shapes = _others(rng, [target], target.kind)
    if shapes is None:
        return None
    other = sample(rng, [c for c in COLORS if c not in {s.color for s in shapes}], 1)[0]
    a = Scene(tuple(shapes))
    b = Scene((replace(shapes[0], color=other), *shapes[1:]))
    return Pair(f"What colour is the {target.kind}?", (target.color, other), sink.layout(a), sink.layout(b))


def _count(sink: Sink, rng: np.random.Generator) -> Pair | None:
    kind, n = sample(rng, KINDS, 1)[0], int(rng.integers(1, 4))
    colors = sample(rng, list(COLORS), n + 1)
    placed = scatter(rng, [new_shape(rng, kind, c) for c in colors])
    shapes = placed and _others(rng, placed[:n], kind, fixed=(placed[n],))
    if not shapes:
        return None
    a, b = Scene(tuple(shapes)), Scene((*shapes, placed[n]))
    return Pair(f"How many {plural(kind)} are in the image?", (str(n), str(n + 1)), sink.layout(a), sink.layout(b))


def _orientation(sink: Sink, rng: np.random.Generator) -> Pair | None:
    (arrow,) = distinct_shapes(rng, 1, kinds=["arrow"])
    shapes = _others(rng, [arrow], "arrow")
    if shapes is None:
        return None
    (opt_a, angle_a), (opt_b, angle_b) = (("left", 180), ("right", 0)) if rng.random() < 0.5 \
        else (("up", 90), ("down", 270))
    a = Scene((replace(arrow, angle=angle_a), *shapes[1:]))
    b = Scene((replace(arrow, angle=angle_b), *shapes[1:]))
    return Pair("Which direction is the arrow pointing?", (opt_a, opt_b), sink.layout(a), sink.layout(b))


def _position(sink: Sink, rng: np.random.Generator) -> Pair | None:
    (target,) = distinct_shapes(rng, 1)
    x, y = uniform(rng, 0.15, 0.3), uniform(rng, 0.2, 0.8)
    left, right = replace(target, x=x, y=y), replace(target, x=round(1 - x, 3), y=y)
    shapes = _others(rng, [left], target.kind, fixed=(right,))
    if shapes is None:
        return None
    a, b = Scene(tuple(shapes)), Scene((right, *shapes[1:]))
    pair = Pair(f"Is the {target.name} on the left or the right side of the image?", ("left", "right"),
                sink.layout(a), sink.layout(b))
    half = sink.image_size / 2
    ra, rb = pair.image_a.regions[0], pair.image_b.regions[0]
    return pair if ra and rb and ra.bbox[2] < half < rb.bbox[0] else None


def _presence(sink: Sink, rng: np.random.Generator) -> Pair | None:
    (target,) = distinct_shapes(rng, 1)
    shapes = _others(rng, [target], target.kind, n=(2, 4))
    if shapes is None:
        return None
    a, b = Scene(tuple(shapes)), Scene(tuple(shapes[1:]))
    return Pair(f"Is there {with_article(target.kind)} in the image?", ("Yes", "No"), sink.layout(a), sink.layout(b))


def _depth(sink: Sink, rng: np.random.Generator) -> Pair | None:
    front, back = distinct_shapes(rng, 2, size_range=(0.09, 0.12))
    placed = scatter(rng, [back])
    reach = front.size + back.size
    front = placed and place_near(rng, placed[0], front, 0.6 * reach, 0.8 * reach)
    shapes = front and _others(rng, [replace(front, depth=2.0), replace(placed[0], depth=8.0)], "")
    if not shapes:
        return None
    a = Scene(tuple(shapes))
    b = Scene((replace(shapes[0], depth=8.0), replace(shapes[1], depth=2.0), *shapes[2:]))
    pair = Pair(f"Is the {front.name} in front of or behind the {back.name}?", ("in front", "behind"),
                sink.layout(a), sink.layout(b))
    ok = pair.image_a.in_front(0, 1) is True and pair.image_b.in_front(0, 1) is False
    return pair if ok and min(pair.image_a.visible_fraction(1), pair.image_b.visible_fraction(0)) >= 0.5 else None


BUILDERS: dict[str, Callable[[Sink, np.random.Generator], Pair | None]] = {
    "colour": _colour, "count": _count, "orientation": _orientation,
    "position": _position, "presence": _presence, "depth": _depth,
}


def write(sink: Sink, rng: np.random.Generator, scale: int) -> int:
    """Write the MMVP folder; returns the number of questions (two per pair)."""
    n = PAIRS * scale
    rows = []
    for attribute, a_first in zip([list(BUILDERS)[k % len(BUILDERS)] for k in range(n)],
                                  balanced(rng, [True, False], n)):
        pair = retry(rng, lambda r: BUILDERS[attribute](sink, r))
        options = f"(a) {pair.options[0]} (b) {pair.options[1]}"
        order = [(pair.image_a, "(a)"), (pair.image_b, "(b)")]
        for layout, answer in order if a_first else order[::-1]:
            index = len(rows) + 1
            sink.save(layout, f"MMVP Images/{index}.jpg")
            rows.append([index, pair.question, options, answer])
    sink.root.mkdir(parents=True, exist_ok=True)
    with open(sink.root / "Questions.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["Index", "Question", "Options", "Correct Answer"])
        writer.writerows(rows)
    return len(rows)
