"""Shared training fixtures: the ShapesWorld training set, small hand-made data folders, a short real run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sgt_eval.paths import cache_root

# A model smaller than the default for tests that exercise machinery rather than learning.
SMALL_MODEL = ["--model.size.hidden", "64", "--model.size.intermediate", "128", "--model.size.layers", "2",
               "--model.size.vision_hidden", "32", "--model.size.head_hidden", "64", "--model.size.head_layers", "2"]


@pytest.fixture(scope="session")
def shapes_data() -> Path:
    """The ShapesWorld training set at scale 1 (seed 1; also the tokenizer's corpus), built once."""
    from sgt_train.data.shapes import ensure_training_data

    return ensure_training_data(cache_root() / "train-data", seed=1, scale=1)


@pytest.fixture
def small_data(tmp_path: Path, shapes_data: Path) -> Path:
    """A copy of 12 proxy items and 12 SFT rows (with their images) that a test may break."""
    out = tmp_path / "data"
    lines = (shapes_data / "sam_sgt.txt").read_text().splitlines()[:12]
    for line in lines:
        for folder in ("sam_selection", "sam_mask", "sam_depth", "sam_edge", "sam_instances"):
            src = shapes_data / line.replace("sam_selection", folder).replace(".jpg", ".png" if folder != "sam_selection" else ".jpg")
            dst = out / src.relative_to(shapes_data)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    (out / "sam_sgt.txt").write_text("".join(f"{line}\n" for line in lines))
    rows = [r for r in json.loads((shapes_data / "llava_ov.json").read_text()) if "image" in r][:12]
    for row in rows:
        dst = out / row["image"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shapes_data / row["image"], dst)
    (out / "llava_ov.json").write_text(json.dumps(rows))
    return out


def data_flags(folder: Path) -> list[str]:
    return ["--data.seg_list", str(folder / "sam_sgt.txt"), "--data.sft", str(folder / "llava_ov.json")]
