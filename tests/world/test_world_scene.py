"""The scene model: exact masks, occlusion by depth, colours, shape geometry, relations."""

from __future__ import annotations

import numpy as np
import pytest

from sgt_eval.world import (
    BACKGROUND,
    COLORS,
    KINDS,
    Layout,
    Scene,
    Shape,
    render,
    shape_mask,
)
from sgt_eval.world.scene import outline


def random_scene(rng: np.random.Generator, n: int) -> Scene:
    """Big shapes crowded into the middle so that many overlap; some share a depth (ties)."""
    return Scene(tuple(
        Shape(kind=KINDS[int(rng.integers(len(KINDS)))], color=list(COLORS)[int(rng.integers(len(COLORS)))],
              x=float(rng.uniform(0.3, 0.7)), y=float(rng.uniform(0.3, 0.7)), size=float(rng.uniform(0.1, 0.3)),
              angle=float(rng.choice([0, 30, 90, 180])), depth=float(rng.integers(0, 4)))
        for _ in range(n)))


def test_visible_mask_is_own_pixels_minus_the_shapes_in_front() -> None:
    rng = np.random.default_rng(7)
    hidden_somewhere = 0
    for _ in range(20):
        scene = random_scene(rng, 5)
        image, mask = render(scene, 96)
        alone = [render(Scene((s,)), 96)[1] > 0 for s in scene.shapes]
        for i, s in enumerate(scene.shapes):
            # in front: nearer, or as near and later in the list
            front = [j for j, t in enumerate(scene.shapes) if t.depth < s.depth or (t.depth == s.depth and j > i)]
            covered = np.zeros_like(alone[i])
            for j in front:
                covered |= alone[j]
            expected = alone[i] & ~covered
            assert np.array_equal(mask == i + 1, expected)
            assert (np.asarray(image)[expected] == COLORS[s.color]).all()
            hidden_somewhere += int((alone[i] & covered).sum())
        assert np.array_equal(mask == 0, ~np.logical_or.reduce(alone))
        assert (np.asarray(image)[mask == 0] == BACKGROUND).all()
    assert hidden_somewhere > 1000  # the scenes really overlapped


def test_nearer_shape_wins_whatever_the_list_order() -> None:
    far = Shape("circle", "red", 0.45, 0.5, 0.3, depth=5.0)
    near = Shape("square", "blue", 0.55, 0.5, 0.3, depth=1.0)
    centre = (50, 50)
    for scene, near_id in ((Scene((far, near)), 2), (Scene((near, far)), 1)):
        _, mask = render(scene, 100)
        assert mask[centre[1], centre[0]] == near_id


def test_square_pixels_hand_computed() -> None:
    # radius 20 px: corners at 50 +- 14.14, rounded to 36 and 64; filled inclusively: 29 x 29 pixels
    shape = Shape("square", "green", 0.5, 0.5, 0.2)
    assert sorted(outline(shape, 100)) == [(36, 36), (36, 64), (64, 36), (64, 64)]
    pixels = shape_mask(shape, 100)
    ys, xs = np.nonzero(pixels)
    assert pixels.sum() == 29 * 29
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (36, 64, 36, 64)


def test_palette_is_distinct_and_background_is_none_of_it() -> None:
    values = list(COLORS.values())
    assert len(set(values)) == len(COLORS) == 10
    assert BACKGROUND not in values
    assert min(np.abs(np.subtract(v, BACKGROUND)).sum() for v in values) > 60


@pytest.mark.parametrize("angle, tip", [(0, "right"), (180, "left"), (90, "up"), (270, "down")])
def test_arrow_points_where_its_angle_says(angle: float, tip: str) -> None:
    pixels = shape_mask(Shape("arrow", "black", 0.5, 0.5, 0.35, angle=angle), 100)
    profile = pixels.sum(axis=0 if tip in ("left", "right") else 1)
    nonzero = np.nonzero(profile)[0]
    first, last = profile[nonzero[0]], profile[nonzero[-1]]
    # the tip end of the arrow is a point, the tail end is the full width of the shaft
    assert (last < first) if tip in ("right", "down") else (first < last)


def test_star_and_arrow_variants_change_the_outline() -> None:
    assert len(outline(Shape("star", "red", 0.5, 0.5, 0.3, points=6), 100)) == 12
    assert len(outline(Shape("star", "red", 0.5, 0.5, 0.3), 100)) == 10
    single = shape_mask(Shape("arrow", "red", 0.5, 0.5, 0.3), 100)
    double = shape_mask(Shape("arrow", "red", 0.5, 0.5, 0.3, heads=2), 100)
    assert not np.array_equal(single, double)


def test_shapes_validate_and_round_trip() -> None:
    with pytest.raises(ValueError, match="unknown shape kind"):
        Shape("blob", "red", 0.5, 0.5, 0.1)
    with pytest.raises(ValueError, match="unknown colour"):
        Shape("circle", "teal", 0.5, 0.5, 0.1)
    scene = random_scene(np.random.default_rng(1), 4)
    assert Scene.from_json(scene.to_json()) == scene


def test_empty_scene_is_all_background() -> None:
    image, mask = render(Scene(), 32)
    assert image.size == (32, 32) and not mask.any()
    assert (np.asarray(image) == BACKGROUND).all()


def square(x: float, y: float, depth: float = 1.0, color: str = "red") -> Shape:
    return Shape("square", color, x, y, 0.1, depth=depth)


def test_layout_relations_on_hand_placed_shapes() -> None:
    side = Layout(Scene((square(0.2, 0.5), square(0.8, 0.52, color="blue"))), 100)
    assert side.relation("left of", 0, 1) is True and side.relation("right of", 0, 1) is False
    assert side.relation("right of", 1, 0) is True
    assert side.relation("above", 0, 1) is None  # offset is horizontal: not a vertical relation
    assert side.relation("far from", 0, 1) is True and side.relation("near", 0, 1) is False
    assert side.relation("touching", 0, 1) is False

    stacked = Layout(Scene((square(0.5, 0.2), square(0.5, 0.8, color="blue"))), 100)
    assert stacked.relation("above", 0, 1) is True and stacked.relation("below", 0, 1) is False

    overlap = Layout(Scene((square(0.5, 0.5, depth=5.0), square(0.58, 0.5, depth=1.0, color="blue"))), 100)
    assert overlap.relation("in front of", 1, 0) is True and overlap.relation("behind", 0, 1) is True
    assert overlap.relation("in front of", 0, 1) is False
    assert overlap.relation("touching", 0, 1) is True and overlap.relation("near", 0, 1) is True
    assert overlap.visible_fraction(1) == 1.0 and overlap.visible_fraction(0) < 1.0
    assert side.relation("in front of", 0, 1) is None  # no overlap, no visible depth order
    with pytest.raises(ValueError, match="unknown relation"):
        side.relation("inside", 0, 1)
