"""Seeded helpers that choose and place shapes.

Every function draws from the ``numpy.random.Generator`` it is given (never global state),
and positions are rounded to 1/1000 of the image side so scene files stay short and exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

import numpy as np

from sgt_eval.world.scene import COLORS, KINDS, Shape

T = TypeVar("T")

SIZE_RANGE = (0.07, 0.12)  # circumscribed radius, fraction of the image side
MARGIN = 0.02              # keep shapes this far from the image border


def pick(rng: np.random.Generator, seq: Sequence[T]) -> T:
    """One element, uniformly."""
    return seq[int(rng.integers(len(seq)))]


def sample(rng: np.random.Generator, seq: Sequence[T], n: int) -> list[T]:
    """``n`` distinct elements in random order."""
    return [seq[int(i)] for i in rng.permutation(len(seq))[:n]]


def balanced(rng: np.random.Generator, values: Sequence[T], n: int) -> list[T]:
    """``n`` values cycling through ``values`` then shuffled, so each occurs n/len(values) times (±1)."""
    cycle = [values[k % len(values)] for k in range(n)]
    return [cycle[int(i)] for i in rng.permutation(n)]


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 3)


def new_shape(rng: np.random.Generator, kind: str, color: str, size_range: tuple[float, float] = SIZE_RANGE,
              **fields: float) -> Shape:
    """A shape at the image centre with a random size and depth; place it with :func:`scatter`."""
    values = {"x": 0.5, "y": 0.5, "size": uniform(rng, *size_range), "depth": uniform(rng, 1.0, 10.0), **fields}
    return Shape(kind=kind, color=color, **values)


def distinct_shapes(rng: np.random.Generator, n: int, kinds: Sequence[str] = KINDS,
                    taken: Sequence[Shape] = (), size_range: tuple[float, float] = SIZE_RANGE) -> list[Shape]:
    """``n`` shapes whose names ("red circle") differ from each other and from ``taken``.

    Unique names let every question refer to a shape without ambiguity. Colours also differ
    from each other and, while the palette lasts, from ``taken``: two touching shapes of one
    colour would merge into one blob and hide their outline and depth order.
    """
    used = {s.color for s in taken}
    fresh = [c for c in COLORS if c not in used]
    colors = sample(rng, fresh, n) if len(fresh) >= n else sample(rng, list(COLORS), n)
    names = {s.name for s in taken}
    out = []
    for color in colors:
        kind = pick(rng, [k for k in kinds if f"{color} {k}" not in names])
        out.append(new_shape(rng, kind, color, size_range))
    return out


def fits(shape: Shape) -> bool:
    """Whether the shape's circle lies inside the image, with the margin."""
    lo, hi = shape.size + MARGIN, 1.0 - shape.size - MARGIN
    return lo <= shape.x <= hi and lo <= shape.y <= hi


def clear_of(shape: Shape, others: Sequence[Shape], gap: float) -> bool:
    """Whether the shape's circle keeps ``gap`` from every other shape's circle."""
    return all(math.hypot(shape.x - o.x, shape.y - o.y) >= shape.size + o.size + gap for o in others)


def scatter(rng: np.random.Generator, specs: Sequence[Shape], fixed: Sequence[Shape] = (),
            gap: float = 0.03, tries: int = 200) -> list[Shape] | None:
    """Give each spec a random position where it overlaps neither ``fixed`` nor the others.

    Returns the placed specs (in order), or ``None`` if some spec found no room.
    """
    placed, out = list(fixed), []
    for spec in specs:
        lo, hi = spec.size + MARGIN, 1.0 - spec.size - MARGIN
        for _ in range(tries):
            candidate = replace(spec, x=uniform(rng, lo, hi), y=uniform(rng, lo, hi))
            if clear_of(candidate, placed, gap):
                break
        else:
            return None
        placed.append(candidate)
        out.append(candidate)
    return out


def place_near(rng: np.random.Generator, anchor: Shape, spec: Shape, lo: float, hi: float,
               others: Sequence[Shape] = (), gap: float = 0.02, tries: int = 200) -> Shape | None:
    """Put ``spec`` with its centre ``lo``-``hi`` away from ``anchor``'s, clear of ``others``.

    The anchor itself may be overlapped (that is how occlusion scenes are made).
    """
    for _ in range(tries):
        theta, dist = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(lo, hi))
        x, y = round(anchor.x + dist * math.cos(theta), 3), round(anchor.y + dist * math.sin(theta), 3)
        candidate = replace(spec, x=x, y=y)
        if fits(candidate) and clear_of(candidate, others, gap):
            return candidate
    return None


def retry(rng: np.random.Generator, build: Callable[[np.random.Generator], T | None], tries: int = 500) -> T:
    """Call ``build`` until it returns something; the writers' rejection-sampling loop."""
    for _ in range(tries):
        result = build(rng)
        if result is not None:
            return result
    raise RuntimeError(f"ShapesWorld: {getattr(build, '__name__', 'a builder')} found no valid scene "
                       f"in {tries} tries (a generator bug)")
