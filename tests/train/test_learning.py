"""The default recipe, run for its full length: the generated segmentation masks resemble their targets.

Slow (the default 300 steps). Resemblance is measured, not eyeballed: the foreground (non-black pixels) of
the mask drawn for an image overlaps that image's target mask far more than it overlaps the targets of the
other images (a model that ignored its input would score the same on both).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import transformers

from sgt_train.cli import main
from sgt_train.data.encode import Encoder
from sgt_train.data.sam import read_list
from sgt_train.models.generate import draw
from sgt_train.models.umm import load_umm
from sgt_train.proxies import make_proxy

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[2] / "sgt_train" / "configs" / "tiny_shapes.yaml"
ITEMS = 24


def foreground(image) -> np.ndarray:
    return np.asarray(image).max(-1) > 60


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_generated_masks_resemble_their_targets(tmp_path: Path, shapes_data):
    out = tmp_path / "run"
    assert main(["--config", str(CONFIG), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert np.mean([r["loss_image"] for r in rows[-50:]]) < 0.5 * np.mean([r["loss_image"] for r in rows[:10]])
    final = out / "final"
    model = load_umm(final, weights="ema").eval()
    encoder = Encoder(transformers.AutoTokenizer.from_pretrained(final),
                      transformers.AutoImageProcessor.from_pretrained(final), max_length=4096)
    folder = Path(json.loads((out / "run.json").read_text())["data"]["shapesworld"]["folder"])
    items = read_list(folder / "sam_sgt.txt")[-ITEMS:]
    proxy = make_proxy("segmentation")
    from PIL import Image

    inputs = [Image.open(i.image).convert("RGB") for i in items]
    targets = [foreground(proxy.target(i, im, 64)) for i, im in zip(items, inputs)]
    drawn = [foreground(g) for g in draw(model, encoder, ["Colour every instance in the image differently."] * ITEMS,
                                         [[im] for im in inputs], list(range(ITEMS)), steps=20)]
    matched = np.mean([iou(d, t) for d, t in zip(drawn, targets)])
    shuffled = np.mean([iou(d, targets[(k + 1) % ITEMS]) for k, d in enumerate(drawn)])
    print(f"foreground IoU with its own target {matched:.3f}, with another image's {shuffled:.3f}")
    assert matched > 0.25 and matched > 1.5 * shuffled
    assert (out / "samples" / "seg_grid.png").is_file()
