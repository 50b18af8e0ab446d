"""GEdit-Bench loading and layout: the official columns, the generation input size, SRCIMG, results folders."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gedit_data import BLUE, GREEN, GROUP_SIZES, RED, official_rows, png, raw_image, write_arrow, write_parquet
from PIL import Image

from benchmarks.gedit import GEditBench, edit_size
from sgt_eval.errors import UserError
from sgt_eval.runner import ImageError


@pytest.mark.parametrize("size, expected", [
    ((1000, 1000), (512, 512)),  # sqrt(512^2 * 1) = 512 exactly: no step
    ((1024, 768), (608, 448)),   # w 591.2 -> 18*32 = 576, h 443.4 -> 14*32 = 448; 576*448 < 512^2 -> w + 32
    ((768, 1024), (480, 576)),   # w 443.4 -> 448, h 591.2 -> 576; 258,048 < 262,144 -> w + 32 (only w moves)
    ((600, 400), (608, 416)),    # w 627.1 -> 640, h 418.0 -> 416; 266,240 > 262,144 -> w - 32
    ((1920, 1080), (704, 384)),  # w 682.7 -> 21*32 = 672, h 384.0 -> 384; 258,048 < 262,144 -> w + 32
])
def test_edit_size_is_upstream_calculate_dimensions(size, expected):
    assert edit_size(*size) == expected


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> tuple[GEditBench, Path]:
    """The hand-made rows split over two parquet files in nested folders (any *.parquet below counts)."""
    folder = tmp_path_factory.mktemp("gedit")
    rows = official_rows()
    write_parquet(folder / "data" / "train-00000-of-00002.parquet", rows[:700])
    write_parquet(folder / "data" / "more" / "train-00001-of-00002.parquet", rows[700:])
    return GEditBench(), folder


def test_loader_reads_606_rows_per_language_over_11_groups(official):
    bench, folder = official
    dataset = bench.load(folder)
    samples = dataset.samples
    assert len(samples) == 1212 and len({s.id for s in samples}) == 1212
    for language in ("en", "cn"):
        mine = [s for s in samples if s.meta["language"] == language]
        assert Counter(s.meta["task_type"] for s in mine) == GROUP_SIZES
        assert sum(s.meta["intersection"] for s in mine) == sum((n + 3) // 4 for n in GROUP_SIZES.values())
    # files in path order ("data/more/..." before "data/train-..."), rows in file order
    assert [f.relative_to(folder).as_posix() for f in dataset.files] == [
        "data/more/train-00001-of-00002.parquet", "data/train-00000-of-00002.parquet"]
    assert samples[0].id == "material_alter/cn/mate014" and samples[512].id == "background_change/en/back000"
    first = samples[512]
    assert first.question == "edit number 0"
    assert dict(first.meta) == {"task_type": "background_change", "language": "en", "intersection": True,
                                "key": "back000"}
    assert bench.prompt(first) == "edit number 0"
    assert bench.grader(judge=type("J", (), {"id": "gpt-4.1@api"})()) == "judge:gpt-4.1@api|prompt:sgt-eval-own-v1"


def test_arrow_files_load_like_parquet(official, tmp_path):
    bench, folder = official
    write_arrow(tmp_path / "train" / "data-00000-of-00001.arrow", official_rows())
    arrow = GEditBench()
    by_id = {s.id: s for s in bench.load(folder).samples}
    loaded = arrow.load(tmp_path).samples
    assert len(loaded) == 1212 and loaded == [by_id[s.id] for s in loaded]
    sample = arrow.load(tmp_path).samples[-1]
    assert arrow.source_image(sample, None).size == (608, 448)  # type: ignore[arg-type]


def test_source_image_is_the_raw_image_resized_and_srcimg_is_input_image(official, tmp_path):
    bench, folder = official
    dataset = bench.load(folder)
    sample = dataset.samples[1000]  # in the second file, past its first row group
    source = np.asarray(bench.source_image(sample, dataset))
    assert source.shape == (448, 608, 3)  # edit_size(1024, 768), from input_image_raw (1024 x 768)
    assert tuple(source[200, 100]) == BLUE and tuple(source[200, 500]) == GREEN
    bench.write_sidecars(sample, dataset, tmp_path)
    task, language, key = sample.id.split("/")
    srcimg = tmp_path / "images" / "fullset" / task / language / f"{key}_SRCIMG.png"
    assert bench.output_path(sample) == f"images/fullset/{task}/{language}/{key}.png"
    with Image.open(srcimg) as image:
        assert image.size == (40, 30) and image.convert("RGB").getpixel((5, 5)) == RED
    before = srcimg.stat().st_mtime_ns, srcimg.stat().st_ino
    bench.write_sidecars(sample, dataset, tmp_path)
    assert (srcimg.stat().st_mtime_ns, srcimg.stat().st_ino) == before  # written once


def test_images_with_an_exif_orientation_are_turned_upright_as_datasets_decodes_them(tmp_path):
    """``datasets`` >= 2.19 (what upstream's load_dataset runs) applies the EXIF orientation when decoding."""
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned 90 degrees clockwise, the stored left half on top
    rows = official_rows()[:1]
    for column, image in (("input_image_raw", raw_image()), ("input_image", Image.new("RGB", (40, 30), RED))):
        rows[0][column] = {"bytes": png(image, exif), "path": f"{column}.png"}
    bench = GEditBench()
    dataset = bench.load(write_parquet(tmp_path / "data" / "d.parquet", rows).parent)
    source = np.asarray(bench.source_image(dataset.samples[0], dataset))
    assert source.shape == (576, 480, 3)  # edit_size(768, 1024): the upright image is 768 wide, 1024 high
    assert tuple(source[100, 240]) == BLUE and tuple(source[500, 240]) == GREEN
    bench.write_sidecars(dataset.samples[0], dataset, tmp_path)
    with Image.open(tmp_path / bench.output_path(dataset.samples[0]).replace(".png", "_SRCIMG.png")) as srcimg:
        assert srcimg.size == (30, 40)


def test_an_undecodable_image_is_the_samples_image_error(tmp_path):
    rows = official_rows()[:1]
    rows[0]["input_image_raw"] = {"bytes": b"not an image", "path": "x.png"}
    bench = GEditBench()
    dataset = bench.load(write_parquet(tmp_path / "d.parquet", rows).parent)
    with pytest.raises(ImageError, match="unreadable input_image_raw of background_change/en/back000 in d.parquet"):
        bench.source_image(dataset.samples[0], dataset)


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("Intersection_exist"), "no column 'Intersection_exist'"),
    (lambda r: r.update(instruction_language="zh"), "field 'instruction_language' is 'zh', not one of en, cn"),
    (lambda r: r.update(key="../escape"), "field 'key' is '../escape', which is not a usable file name"),
    (lambda r: r.update(task_type=""), "field 'task_type' must be a non-empty string"),
    (lambda r: r.update(Intersection_exist=None), "field 'Intersection_exist' must be true or false"),
])
def test_unusable_rows_are_refused(tmp_path, change, message):
    rows = official_rows()[:3]
    for row in rows:
        change(row)
    write_parquet(tmp_path / "x.parquet", rows)
    with pytest.raises(UserError, match=message):
        GEditBench().load(tmp_path)


def test_duplicates_and_missing_data_are_refused(tmp_path):
    rows = official_rows()[:5]
    write_parquet(tmp_path / "a.parquet", rows)
    write_parquet(tmp_path / "copy" / "a.parquet", rows)
    with pytest.raises(UserError, match="id background_change/en/back000 appears twice"):
        GEditBench().load(tmp_path)
    with pytest.raises(UserError, match=r"no gedit data at .*sgt-eval data fetch --bench gedit"):
        GEditBench().load(tmp_path / "empty")


def test_read_outputs_finds_upstream_and_run_folders(official, tmp_path):
    bench, folder = official
    dataset = bench.load(folder)
    made = ["fullset/background_change/en/back000.png", "fullset/material_alter/cn/mate014.png"]
    for root, prefix in ((tmp_path / "results" / "model", ""), (tmp_path / "run" / "gedit", "images/")):
        for name in made:
            (root / prefix / name).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8)).save(root / prefix / name)
        (root / prefix / "fullset/background_change/en/stranger.png").write_bytes(b"not in the rows")
        got_dataset, outputs = bench.read_outputs(root, dataset)
        assert got_dataset is dataset
        assert outputs == {"background_change/en/back000": prefix + made[0], "material_alter/cn/mate014": prefix + made[1]}
    with pytest.raises(UserError, match="has no fullset/ folder"):
        bench.read_outputs(tmp_path, dataset)
    with pytest.raises(UserError, match="give the GEdit-Bench folder with --data PATH"):
        bench.read_outputs(tmp_path / "results" / "model", None)
    (tmp_path / "empty" / "fullset").mkdir(parents=True)
    with pytest.raises(UserError, match="holds none of the 1212 images"):
        bench.read_outputs(tmp_path / "empty", dataset)


def test_without_a_judge_real_data_needs_judge_model(official, tmp_path):
    bench, folder = official
    dataset = bench.load(folder)
    with pytest.raises(UserError, match="gedit needs an LLM judge to score edits .*--judge-model"):
        bench.grade(dataset.samples[:1], [bench.output_path(dataset.samples[0])])
    with pytest.raises(UserError, match="--judge-model"):
        bench.grader(None)
