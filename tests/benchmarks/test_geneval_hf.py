"""The ``hf`` detector end to end with tiny random Mask2Former and CLIP built from configs (no downloads):
the numbers are meaningless, the plumbing is real. Also the ``mmdet`` backend's missing-extra error."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from benchmarks.detectors import Detection, make_detector
from benchmarks.detectors.hf import HFDetector, build_tiny, clip_pixels, cv2_bilinear, masked_crop, zero_shot_weights
from benchmarks.geneval import GenEval
from sgt_eval.errors import UserError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    return build_tiny(tmp_path_factory.mktemp("tiny-geneval"))


@pytest.fixture(scope="module")
def detector(tiny) -> HFDetector:
    return HFDetector(str(tiny[0]), str(tiny[1]), batch_size=2)


def pictures() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    shapes = [(64, 64), (64, 64), (48, 80), (64, 64)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in shapes]


def test_labels_are_in_genevals_vocabulary(detector, tiny):
    assert detector.labels == {"cat", "dog", "computer mouse"}  # COCO's "mouse" renamed as object_names.txt
    assert detector.id == f"hf:{tiny[0]}+clip:{tiny[1]}"


def test_batching_does_not_change_detections(detector):
    images = pictures()[1:]  # two of one size share a forward pass; the third has its own
    batched = detector.detect(images)
    single = [detector.detect([image])[0] for image in images]
    assert [len(b) for b in batched] == [len(s) for s in single] and sum(map(len, batched)) > 0
    for image, b, s in zip(images, batched, single):
        for x, y in zip(b, s):
            assert (x.label, x.box) == (y.label, y.box) and np.array_equal(x.mask, y.mask)
            assert x.score == pytest.approx(y.score, abs=1e-5)
            assert x.mask.shape == (image.height, image.width)


def test_instances_follow_mmdet_post_processing_on_every_pair(detector):
    """A plain reading of mmdet's instance_postprocess (all top-100 pairs, no shortcut) keeps the same
    detections above 0.3 as the detector, which skips pairs that cannot pass."""
    image = pictures()[2]
    pixels, resized = detector._preprocess(image)
    with torch.inference_mode():
        out = detector.model(pixel_values=torch.from_numpy(pixels)[None])
    probs = out.class_queries_logits[0].softmax(-1)[:, :-1]
    top, index = probs.flatten().topk(min(100, probs.numel()))
    masks = F.interpolate(out.masks_queries_logits[0][index // probs.shape[1]][None], size=pixels.shape[1:],
                          mode="bilinear", align_corners=False)[..., :resized[0], :resized[1]]
    masks = F.interpolate(masks, size=(image.height, image.width), mode="bilinear", align_corners=False)[0]
    binary = masks > 0
    scores = top * (masks.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    expected = sorted((detector.names[int(i % probs.shape[1])], round(float(s), 5)) for i, s in zip(index, scores)
                      if s > 0.3)
    found = sorted((d.label, round(d.score, 5)) for d in detector.detect([image])[0] if d.score > 0.3)
    assert found == expected and found


def test_preprocessing_follows_mmdets_test_pipeline(detector):
    image = Image.new("RGB", (150, 100), (124, 116, 104))
    pixels, resized = detector._preprocess(image)
    assert resized == (800, 1200) and pixels.shape == (3, 800, 1216)  # scale min(1333/150, 800/100) = 8; pad /32
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    assert pixels[:, 5, 5] == pytest.approx((np.array([124, 116, 104]) - mean) / std, abs=1e-5)
    assert not pixels[:, :, 1200:].any()


def test_downscaling_is_plain_bilinear_like_mmcvs_cv2_resize(detector):
    """A 1000-pixel image shrinks to 800 (scale 0.8): output pixel x samples the source at (x + 0.5) * 1.25 - 0.5
    from its two neighbours only (OpenCV, no antialiasing; PIL's bilinear filter would blur 3 pixels)."""
    stripes = np.zeros((1000, 1000, 3), np.uint8)
    stripes[:, 1::2] = 200  # odd columns 200, even columns 0
    pixels, resized = detector._preprocess(Image.fromarray(stripes))
    assert resized == (800, 800) and pixels.shape == (3, 800, 800)
    # sources 0.125, 1.375, 2.625, 3.875, 5.125, 6.375 -> 0.125*200, 0.625*200, 0.625*200, 0.125*200, 0.875*200, 0.375*200
    want = np.array([25, 125, 125, 25, 175, 75], np.float32)
    assert pixels[0, 400, :6] == pytest.approx((want - 123.675) / 58.395, abs=1e-5)


def test_colour_crops_composite_on_grey_and_follow_open_clips_transform():
    image = Image.fromarray(np.full((20, 40, 3), 200, np.uint8))
    mask = np.zeros((20, 40), bool)
    mask[5:10, 10:30] = True
    mask[7, 12] = False
    crop = np.asarray(masked_crop(image, Detection("cat", 0.9, (10.0, 5.0, 30.0, 10.0), mask)))
    assert crop.shape == (5, 20, 3) and crop[2, 2].tolist() == [0x99] * 3 and crop[0, 0].tolist() == [200] * 3
    wide = Image.fromarray(np.arange(20 * 40 * 3, dtype=np.uint8).reshape(20, 40, 3))
    ones = np.ones(3, np.float32)
    got = clip_pixels(wide, 32, 0 * ones, ones)  # shortest side 20 -> 32 (long 64), centre crop from x=16
    want = np.asarray(wide.resize((64, 32), Image.BICUBIC).crop((16, 0, 48, 32)), np.float32) / 255
    assert got.shape == (3, 32, 32) and np.allclose(got, want.transpose(2, 0, 1))


def test_zero_shot_weights_average_unit_template_embeddings():
    def encode(texts: list[str]) -> torch.Tensor:  # template k -> (k + 1) * e_k, plus colour-specific scale
        return torch.stack([torch.eye(4)[k] * (k + 1) * (2 if "red" in t else 1) for k, t in enumerate(texts)])

    weights = zero_shot_weights(encode, "cat")
    assert weights.shape == (4, 10)
    assert torch.allclose(weights[:, 0], torch.tensor([1, 1, 1, 0]) / 3 ** 0.5)  # scale drops out
    assert torch.allclose(weights.norm(dim=0), torch.ones(10))


LINES = [{"tag": "single_object", "include": [{"class": "cat", "count": 1}], "prompt": "a photo of a cat"},
         {"tag": "counting", "include": [{"class": "cat", "count": 2}], "exclude": [{"class": "cat", "count": 3}],
          "prompt": "a photo of two cats"},
         {"tag": "two_object", "include": [{"class": "cat", "count": 1}, {"class": "computer mouse", "count": 1}],
          "prompt": "a photo of a cat and a computer mouse"},
         {"tag": "color_attr", "include": [{"class": "cat", "count": 1, "color": "red"},
                                           {"class": "dog", "count": 1, "color": "blue"}],
          "prompt": "a photo of a red cat and a blue dog"}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hf-images")
    for i, (line, image) in enumerate(zip(LINES, pictures())):
        (root / f"{i:05d}" / "samples").mkdir(parents=True)
        (root / f"{i:05d}" / "metadata.jsonl").write_text(json.dumps(line))
        image.save(root / f"{i:05d}" / "samples" / "0000.png")
    return root


def test_geneval_grades_a_folder_with_the_hf_detector(tiny, folder):
    bench = GenEval(detector="hf", detector_model=str(tiny[0]), clip_model=str(tiny[1]))
    dataset, outputs = bench.read_outputs(folder, None)
    bench.outputs_root = folder
    records = bench.grade(dataset.samples, [outputs[s.id] for s in dataset.samples])
    # the tiny head favours "cat" at ~0.5 confidence: enough for 0.3, never for counting's 0.9
    assert [r.correct for r in records[:3]] == [True, False, False]
    assert records[1].parsed == "expected cat>=2, found 0"
    assert records[2].parsed == "expected computer mouse>=1, found 0"
    assert records[3].correct is False and records[3].parsed.startswith(("expected red cat", "expected dog"))
    one_by_one = [bench.grade([s], [outputs[s.id]])[0] for s in dataset.samples]
    assert one_by_one == records
    assert bench.grader(None) == f"hf:{tiny[0]}+clip:{tiny[1]}"


def test_cli_scores_with_the_hf_detector(tiny, folder):
    result = subprocess.run([sys.executable, "-m", "sgt_eval", "score", "geneval", "--images", str(folder),
                             "--detector", "hf", "--detector-model", str(tiny[0]), "--clip-model", str(tiny[1]),
                             "--json"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["grader"] == f"hf:{tiny[0]}+clip:{tiny[1]}" and metrics["n"] == 4
    assert metrics["scores"]["tasks"]["single_object"] == 1.0 and metrics["scores"]["tasks"]["counting"] == 0.0


def test_coco_detector_refuses_classes_it_cannot_detect(tiny, folder, tmp_path):
    (tmp_path / "00000" / "samples").mkdir(parents=True)
    (tmp_path / "00000" / "metadata.jsonl").write_text(json.dumps({**LINES[0], "include": [{"class": "circle",
                                                                                            "count": 1}]}))
    pictures()[0].save(tmp_path / "00000" / "samples" / "0000.png")
    bench = GenEval(detector="hf", detector_model=str(tiny[0]), clip_model=str(tiny[1]))
    dataset, outputs = bench.read_outputs(tmp_path, None)
    bench.outputs_root = tmp_path
    with pytest.raises(UserError, match="--detector hf cannot detect 'circle'.*--detector shapes"):
        bench.grade(dataset.samples, list(outputs.values()))


@pytest.mark.skipif(importlib.util.find_spec("mmdet") is not None, reason="mmdet is installed here")
def test_mmdet_backend_without_mmdet_names_the_extra():
    with pytest.raises(UserError) as err:
        make_detector("mmdet", "/nowhere.pth", "openai/clip-vit-large-patch14")
    message = str(err.value)
    assert "pip install 'sgt-eval[mmdet]'" in message and "\n" not in message


def test_cv2_bilinear_is_bit_exact_against_opencv():
    cv2 = pytest.importorskip("cv2")  # installed with the mmdet extra (mmcv needs it)
    rng = np.random.default_rng(3)
    for (w, h), size in [((1024, 1024), (800, 800)), ((512, 384), (1067, 800)), ((1600, 900), (1333, 750))]:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        assert np.array_equal(cv2_bilinear(image, size), cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
