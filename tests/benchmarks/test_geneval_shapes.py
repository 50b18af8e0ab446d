"""The ``shapes`` detector on ShapesWorld renderings: it must recover the visible shapes."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from benchmarks.detectors import ColorQuery, Detection
from benchmarks.detectors.shapes import ShapesDetector
from sgt_eval.paths import cache_root
from sgt_eval.world import ensure_world
from sgt_eval.world.files import read_scenes
from sgt_eval.world.layout import Layout
from sgt_eval.world.sampling import new_shape, place_near, scatter
from sgt_eval.world.scene import COLORS, KINDS, Scene, Shape, render

DETECTOR = ShapesDetector()


def seen(image: Image.Image) -> tuple[Counter, list[Detection]]:
    """(kind, colour) of every detection above GenEval's lowest threshold."""
    found = [d for d in DETECTOR.detect([image])[0] if d.score > 0.3]
    colors = DETECTOR.colors([ColorQuery(image, tuple(found), "")])[0]
    return Counter(zip((d.label for d in found), colors)), found


def visible(layout: Layout) -> Counter:
    return Counter((s.kind, s.color) for i, s in enumerate(layout.scene.shapes) if layout.regions[i] is not None)


def test_every_kind_and_colour_apart_is_recovered_with_its_exact_box():
    rng = np.random.default_rng(0)
    for n in range(10):
        specs = [new_shape(rng, KINDS[(n + k) % 10], list(COLORS)[(3 * n + k) % 10]) for k in range(4)]
        layout = Layout(Scene(tuple(scatter(rng, specs))), 224)
        found, detections = seen(layout.image)
        assert found == visible(layout)
        assert all(d.score > 0.9 for d in detections)  # a true fit clears even the counting threshold
        boxes = sorted(tuple(float(v) for v in (*r.bbox[:2], r.bbox[2] + 1, r.bbox[3] + 1)) for r in layout.regions)
        assert sorted(d.box for d in detections) == boxes


@pytest.fixture(scope="module")
def world():
    return ensure_world(cache_root() / "world")


@pytest.mark.parametrize("bench", ["cvbench", "vsr", "mmvp", "hallusionbench"])
def test_world_scenes_are_recovered_when_each_shape_is_mostly_visible(world, bench):
    checked = 0
    for scene in read_scenes(world, bench).values():
        layout = Layout(scene, 224)
        if min(layout.visible_fraction(i) for i in range(len(scene.shapes))) < 0.8:
            continue
        assert seen(layout.image)[0] == visible(layout), scene
        checked += 1
        if checked == 12:
            break
    assert checked == 12


def test_overlapping_pairs_and_rotations_are_recovered():
    rng = np.random.default_rng(1)
    checked = 0
    while checked < 16:
        colors = [list(COLORS)[int(i)] for i in rng.permutation(10)[:2]]
        far = replace(new_shape(rng, KINDS[int(rng.integers(10))], colors[0], angle=float(rng.integers(360))),
                      x=0.4, y=0.5)
        near = place_near(rng, far, new_shape(rng, KINDS[int(rng.integers(10))], colors[1],
                                              angle=float(rng.integers(360))), 0.12, 0.2)
        if near is None:
            continue
        layout = Layout(Scene((far, near)), 224)
        if min(layout.visible_fraction(i) for i in range(2)) < 0.75:
            continue
        assert seen(layout.image)[0] == visible(layout), layout.scene
        checked += 1


@pytest.mark.parametrize("kind", ["circle", "hexagon", "star", "heart"])
def test_a_shape_cut_in_two_by_a_nearer_band_is_one_instance(kind):
    image, _ = render(Scene((Shape(kind, "red", 0.5, 0.5, 0.15),)))
    pixels = np.array(image)
    pixels[106:114, 20:204] = COLORS["blue"]  # splits the red shape into two regions
    found, _ = seen(Image.fromarray(pixels))
    assert found[(kind, "red")] == 1 and sum(n for (_, c), n in found.items() if c == "red") == 1


def test_nothing_is_found_on_an_empty_background():
    image, _ = render(Scene(()))
    assert DETECTOR.detect([image]) == [[]]


@pytest.mark.parametrize("spread", [8, 40, 128])
def test_noise_is_never_read_as_a_shape(spread):
    """Untrained generators paint noise around the background grey: no detection may pass GenEval's 0.3."""
    rng = np.random.default_rng(spread)
    images = []
    for _ in range(4):
        noise = rng.normal(128, spread, size=(64, 64, 3))
        blobs = ndimage.gaussian_filter(noise, sigma=(2, 2, 0))  # smooth irregular colour blobs
        blobs = 128 + (blobs - 128) * spread / max(blobs.std(), 1e-6)
        for pixels in (noise, blobs):
            images.append(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)))
    found = [d for detections in ShapesDetector().detect(images) for d in detections if d.score > 0.3]
    assert found == []
