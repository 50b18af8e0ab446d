"""The ``mmdet`` backend's own logic without mmdet or a GPU: a stand-in for ``inference_detector`` (same
call and result format as mmdet 2.x's Mask2Former: per class an (N, 5) float32 array and N masks)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks.detectors import Detection
from benchmarks.detectors.mmdet import MMDetDetector, same_size

NAMES = ["cat", "dog", "computer mouse"]


def fake_inference(calls: list[list[tuple[int, ...]]]):
    """Like upstream, results depend on each image alone; mmdet would pad a mixed-size batch to its largest
    image, so a call with images of different sizes is refused here."""
    def infer(model: object, arrays: list[np.ndarray]) -> list[tuple[list[np.ndarray], list[list[np.ndarray]]]]:
        calls.append([a.shape for a in arrays])
        assert len({a.shape for a in arrays}) == 1, "mmdet would pad these images to one size"
        out = []
        for a in arrays:
            h, w = a.shape[:2]
            blue = float(a[0, 0, 0])  # BGR, as mmcv reads files: channel 0 is blue
            boxes = [np.zeros((0, 5), np.float32) for _ in NAMES]
            boxes[1] = np.array([[0, 0, w, h, 0.5], [1, 1, 2, 2, blue / 255]], np.float32)
            masks = [[] for _ in NAMES]
            masks[1] = [np.ones((h, w), bool), np.zeros((h, w), bool)]
            out.append((boxes, masks))
        return out
    return infer


@pytest.fixture
def detector() -> MMDetDetector:
    det = MMDetDetector.__new__(MMDetDetector)  # no mmdet, no GPU: only detect()'s own code runs
    det.model, det.names = object(), NAMES
    return det


def test_images_go_to_mmdet_one_size_at_a_time_and_come_back_in_order(detector):
    sizes = [(64, 48), (32, 32), (64, 48), (32, 32), (50, 50)]
    images = [Image.new("RGB", size, (10, 20, 30 + n)) for n, size in enumerate(sizes)]
    calls: list[list[tuple[int, ...]]] = []
    detector._infer = fake_inference(calls)
    found = detector.detect(images)
    assert calls == [[(48, 64, 3)] * 2, [(32, 32, 3)] * 2, [(50, 50, 3)]]
    for n, (image, dets) in enumerate(zip(images, found)):
        w, h = image.size
        assert dets == [Detection("dog", 0.5, (0.0, 0.0, float(w), float(h))),
                        Detection("dog", float(np.float32((30 + n) / 255)), (1.0, 1.0, 2.0, 2.0))]
        assert dets[0].mask.shape == (h, w) and dets[0].mask.all() and not dets[1].mask.any()


def test_same_size_groups_in_first_seen_order():
    images = [Image.new("RGB", s) for s in [(2, 2), (3, 3), (2, 2), (4, 4), (3, 3)]]
    assert same_size(images) == [[0, 2], [1, 4], [3]]
