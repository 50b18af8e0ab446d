"""GenEval end to end on ShapesWorld: images drawn for the prompts score correct, wrong ones do not,
in process and through ``sgt-eval score geneval --images DIR``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.geneval import GenEval, metadata_line
from sgt_eval.errors import UserError
from sgt_eval.paths import cache_root
from sgt_eval.runner import save_image
from sgt_eval.world import ensure_world
from sgt_eval.world.geneval import render_geneval_truth
from sgt_eval.world.scene import COLORS, KINDS

OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def wrong_line(line: dict[str, Any]) -> dict[str, Any]:
    """A metadata line an image can satisfy only by failing ``line``: another class, one object
    more, another colour, the opposite relation, or the two colours swapped."""
    tag, include = line["tag"], [dict(c) for c in line["include"]]
    exclude = []
    if tag in ("single_object", "two_object"):
        exclude = [{"class": include[-1]["class"], "count": 1}]  # nor drawn as a distractor
        include[-1]["class"] = next(k for k in KINDS if k not in {c["class"] for c in line["include"]})
    elif tag == "counting":
        include[0]["count"] += 1
    elif tag == "colors":
        include[0]["color"] = next(c for c in COLORS if c != include[0]["color"])
    elif tag == "position":
        include[1]["position"] = [OPPOSITE[include[1]["position"][0]], 0]
    else:
        include[0]["color"], include[1]["color"] = include[1]["color"], include[0]["color"]
    if tag == "counting":
        exclude = [{"class": include[0]["class"], "count": include[0]["count"] + 1}]
    return {"tag": tag, "include": include, "exclude": exclude}


@pytest.fixture(scope="module")
def data() -> Path:
    return ensure_world(cache_root() / "world") / "geneval"


def draw(bench: GenEval, data: Path, root: Path, wrong: bool, every: int = 1) -> list:
    """Images for every ``every``-th prompt in the official layout under ``root``; the samples drawn."""
    dataset = bench.load(data)
    rng = np.random.default_rng(0)
    samples = [s for s in dataset.samples if s.meta["prompt_index"] % every == 0]
    for sample in samples:
        line = metadata_line(sample.meta, sample.question)
        save_image(render_geneval_truth(wrong_line(line) if wrong else line, rng), root / bench.output_path(sample))
        bench.write_sidecars(sample, dataset, root)
    return samples


@pytest.mark.parametrize("wrong", [False, True])
def test_drawn_images_score_all_correct_and_wrong_images_all_wrong(data, tmp_path, wrong):
    bench = GenEval(images_per_prompt="1")
    samples = draw(bench, data, tmp_path, wrong)
    assert bench.detector_backend() == "shapes" and bench.grader(None) == "shapes@1"  # auto, from the marker
    bench.outputs_root = tmp_path
    records = bench.grade(samples, [bench.output_path(s) for s in samples])
    assert len(records) == len(samples) == 60
    assert [r.correct for r in records] == [not wrong] * 60, [r.parsed for r in records if r.correct == wrong]
    assert all(r.method == "rule" and r.parsed for r in records)
    overall = bench.aggregate(records)["headline"]["value"]
    assert overall == (0.0 if wrong else 1.0)


def test_unreadable_images_are_errors_scored_wrong(data, tmp_path):
    bench = GenEval(images_per_prompt="1")
    samples = draw(bench, data, tmp_path, wrong=False, every=30)
    (tmp_path / bench.output_path(samples[0])).write_bytes(b"not a png")
    bench.outputs_root = tmp_path
    records = bench.grade(samples, [bench.output_path(s) for s in samples])
    assert records[0].error and records[0].correct is False and records[1].correct is True


def test_coco_prompts_with_the_shapes_detector_are_refused(shared_data, tmp_path):
    bench = GenEval(detector="shapes", images_per_prompt="1")
    dataset = bench.load(shared_data / "geneval")
    bench.outputs_root = tmp_path
    with pytest.raises(UserError, match="--detector shapes cannot detect 'bench'"):
        bench.grade(dataset.samples[:1], ["images/00000/samples/0000.png"])


def score(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sgt_eval", "score", "geneval", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("wrong", [False, True])
def test_cli_scores_an_image_folder(data, tmp_path, wrong):
    bench = GenEval(images_per_prompt="2")
    samples = draw(bench, data, tmp_path, wrong, every=5)  # 12 prompts, two per task
    result = score("--images", str(tmp_path / "images"), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["grader"] == "shapes@1" and metrics["n"] == len(samples) == 24
    assert metrics["headline"] == {"metric": "overall", "value": 0.0 if wrong else 1.0}
    assert metrics["scores"]["prompts_correct"] == (0.0 if wrong else 1.0)
    # the label says what was scored: the folder's own prompts, 2 images each, the resolved detector
    assert metrics["settings"]["options"] == {"prompt_set": "from folders", "images_per_prompt": "2",
                                              "detector": "shapes"}
    assert set(metrics["scores"]["tasks"]) == {"single_object", "two_object", "counting", "colors", "position",
                                               "color_attr"}


def test_cli_with_data_reports_the_missing_images(data, tmp_path):
    draw(GenEval(images_per_prompt="2"), data, tmp_path, wrong=False, every=5)
    result = score("--images", str(tmp_path), "--data", str(data), "--images-per-prompt", "2", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 24 and metrics["n_dataset"] == 120 and metrics["headline"]["value"] == 1.0
    assert "96 of 120 samples have no prediction" in result.stderr
    result = score("--images", str(tmp_path), "--detector", "mmdet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pip install 'sgt-eval[mmdet]'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
