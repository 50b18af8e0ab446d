"""The programmatic ShapesWorld judge: the target scene scores 10/10, the unedited source low SC, noise low PQ."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from gedit_data import world_gedit  # noqa: F401 (a fixture)
from PIL import Image

from benchmarks.gedit import GEditBench
from benchmarks.gedit_shapes_judge import read_truth, score_edit
from sgt_eval.errors import UserError
from sgt_eval.runner import save_image
from sgt_eval.world import BACKGROUND, render


@pytest.fixture(scope="module")
def truth(world_gedit):  # noqa: F811
    return read_truth(world_gedit / "shapesworld_truth.jsonl")


def test_the_target_scene_scores_ten_at_any_size(truth):
    for t in truth.values():
        for size in (224, 512):
            assert score_edit(render(t.target, size)[0], t) == ([10, 10], [10, 10])


def test_the_unedited_source_scores_low_sc_but_clean_pq(truth):
    for t in truth.values():
        (success, minimal), pq = score_edit(render(t.source, 512)[0], t)
        assert success <= 3 and minimal == 10 and pq == [10, 10]  # nothing was done, nothing else changed


def test_noise_scores_low_pq_and_a_blank_image_is_not_a_minimal_edit(truth):
    noise = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    for t in list(truth.values())[:10]:
        sc, pq = score_edit(Image.fromarray(noise), t)
        assert pq == [0, 0] and sc == [0, 0]
        sc, pq = score_edit(Image.new("RGB", (512, 512), BACKGROUND), t)
        assert sc[1] == 0 and pq == [10, 10]  # every other shape was wiped out


def test_grading_a_run_folder_without_a_judge(world_gedit, tmp_path):  # noqa: F811
    bench = GEditBench()
    dataset = bench.load(world_gedit)
    bench.outputs_root = tmp_path
    target, source, noise, missing = dataset.samples[:4]
    for sample, scene in ((target, "target"), (source, "source")):
        t = bench.truth[(sample.meta["key"], sample.meta["language"])]
        save_image(render(getattr(t, scene), 512)[0], tmp_path / bench.output_path(sample))
    save_image(Image.fromarray(np.full((64, 64, 3), 77, np.uint8)), tmp_path / bench.output_path(noise))
    chosen = [target, source, noise, missing]
    records = {r.id: r for r in bench.grade(chosen, [bench.output_path(s) for s in chosen])}
    assert records[target.id].values == {"SC": 10.0, "PQ": 10.0, "O": 10.0} and records[target.id].method == "rule"
    assert records[source.id].values["SC"] <= 3 and records[source.id].values["PQ"] == 10
    assert records[noise.id].values["PQ"] == 0  # one off-palette grey
    assert records[missing.id].error.startswith("missing image images/fullset/") and records[missing.id].correct is None
    assert bench.grader(None) == "shapes-programmatic-v1" and dataset.version == "shapesworld-v2"
    metrics = bench.aggregate(list(records.values()))
    assert metrics["scores"]["en"]["fullset"]["n"] == 3 and metrics["scores"]["en"]["fullset"]["n_errors"] == 1


def test_truth_must_cover_every_row(world_gedit, tmp_path):  # noqa: F811
    folder = tmp_path / "gedit"
    shutil.copytree(world_gedit, folder)
    lines = (folder / "shapesworld_truth.jsonl").read_text().splitlines()
    (folder / "shapesworld_truth.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(UserError, match=r"shapesworld_truth.jsonl: no line for .*/cn/.* \(1 rows lack one\)"):
        GEditBench().load(folder)
    (folder / "shapesworld_truth.jsonl").write_text(lines[0] + "\n{not json\n")
    with pytest.raises(UserError, match=r"shapesworld_truth.jsonl:2: not a ShapesWorld truth line"):
        GEditBench().load(folder)
