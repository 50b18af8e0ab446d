"""The data readers: SAM-SGT lists, LLaVA-OneVision SFT files, instruction phrasings, the ShapesWorld emitter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.paths import cache_root
from sgt_train.data import instructions
from sgt_train.data.common import BadSample, SkipLog
from sgt_train.data.sam import map_path, read_list
from sgt_train.data.sft import read_sft
from sgt_train.proxies import PALETTE


def test_mask_path_follows_the_sgt_rule():
    assert map_path("data/SAM-SGT/sam_selection/sa_1.jpg", "mask") == "data/SAM-SGT/sam_mask/sa_1.png"
    assert map_path("/abs/sam_selection/sub/x.JPEG", "depth") == "/abs/sam_depth/sub/x.png"
    assert map_path("sam_selection/a.png", "edge") == "sam_edge/a.png"
    with pytest.raises(ValueError, match="no 'sam_selection' folder"):
        map_path("images/a.jpg", "mask")


def test_list_lines_resolve_under_the_root_and_report_bad_lines(small_data: Path, tmp_path: Path):
    items = read_list(small_data / "sam_sgt.txt")
    assert len(items) == 12 and items[0].map_path("mask").is_file() and items[0].where.endswith("sam_sgt.txt:1")
    moved = tmp_path / "lists" / "list.txt"
    moved.parent.mkdir()
    moved.write_text("# comment\n\n" + (small_data / "sam_sgt.txt").read_text())
    assert [i.image for i in read_list(moved, root=small_data)] == [i.image for i in items]  # root configurable
    escape = tmp_path / "escape.txt"
    escape.write_text("../../etc/sam_selection/x.jpg\n")
    with pytest.raises(UserError, match=r"escape\.txt:1: path .* climbs out of its root"):
        read_list(escape)


def test_a_missing_mask_names_its_line_and_skipping_counts_it(small_data: Path):
    lines = (small_data / "sam_sgt.txt").read_text().splitlines()
    Path(small_data / map_path(lines[4], "mask")).unlink()
    with pytest.raises(BadSample, match=r"sam_sgt\.txt:5: mask file .*sam_mask/.*\.png for image .* does not exist"
                                        r"; fix or remove it, or pass --skip-bad-samples"):
        read_list(small_data / "sam_sgt.txt")
    log = SkipLog()
    assert len(read_list(small_data / "sam_sgt.txt", skip=log)) == 11
    assert log.counts() == {"missing mask": 1} and log.summary() == "skipped 1 bad sample (1 missing mask)"


def test_an_empty_list_file_is_refused(tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# nothing\n")
    with pytest.raises(UserError, match=r"SAM-SGT list file .*empty\.txt is empty; it needs one image path a line"):
        read_list(empty)


def test_sft_reads_json_arrays_and_lines_with_images_and_multiple_turns(small_data: Path, tmp_path: Path):
    items = read_sft(small_data / "llava_ov.json")
    assert len(items) == 12 and all(i.images and i.images[0].is_file() for i in items)
    rows = json.loads((small_data / "llava_ov.json").read_text())
    lines = small_data / "rows.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [i.turns for i in read_sft(lines)] == [i.turns for i in items]
    multi = max(items, key=lambda i: len(i.turns))
    assert len(multi.turns) > 2 and [t.role for t in multi.turns[:2]] == ["user", "assistant"]
    no_placeholder = tmp_path / "np.json"
    row = {"id": "a", "image": str(items[0].images[0]), "conversations": [
        {"from": "human", "value": "What is it?"}, {"from": "gpt", "value": "a star"}]}
    no_placeholder.write_text(json.dumps([row]))
    assert read_sft(no_placeholder)[0].turns[0].text == "<image>\nWhat is it?"  # LLaVA's convention


@pytest.mark.parametrize("row, message", [
    ({"id": "q7", "conversations": [{"from": "human", "value": "Hi"}]},
     r"bad\.json row 2 \(id 'q7'\) has no assistant turn \('from': 'gpt'\)"),
    ({"id": "q8", "image": "missing.png", "conversations": [{"from": "human", "value": "<image>x"},
                                                           {"from": "gpt", "value": "y"}]},
     r"bad\.json row 2 \(id 'q8'\): image .*missing\.png does not exist"),
    ({"id": "q9", "conversations": [{"from": "human", "value": "<image> <image>"}, {"from": "gpt", "value": "y"}]},
     r"has 2 <image> placeholder\(s\) for 0 image\(s\)"),
    ({"id": "q10", "conversations": [{"from": "robot", "value": "x"}]}, r"turn 1 has 'from': 'robot'"),
])
def test_bad_sft_rows_name_the_row_and_can_be_skipped(tmp_path: Path, row, message):
    good = {"id": "ok", "conversations": [{"from": "human", "value": "Is it?"}, {"from": "gpt", "value": "yes"}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([good, row]))
    with pytest.raises(UserError, match=message):
        read_sft(path)
    log = SkipLog()
    assert [i.id for i in read_sft(path, skip=log)] == ["ok"] and len(log.entries) == 1


def test_sft_files_that_are_not_json_or_empty_are_refused(tmp_path: Path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1, "conversations": []}\n{not json\n')
    with pytest.raises(UserError, match=r"broken\.jsonl:2: not valid JSON"):
        read_sft(broken)
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(UserError, match="it has no rows"):
        read_sft(empty)


def test_instructions_are_many_and_drawn_reproducibly():
    for proxy, phrasings in instructions.PHRASINGS.items():
        assert len(set(phrasings)) == len(phrasings) >= 16, proxy
    assert len(instructions.SEGMENTATION) >= 36
    drawn = [instructions.draw("segmentation", 0, p) for p in range(400)]
    assert drawn == [instructions.draw("segmentation", 0, p) for p in range(400)]
    assert len(set(drawn)) == len(instructions.SEGMENTATION)          # all of them get used
    assert drawn != [instructions.draw("segmentation", 1, p) for p in range(400)]


def test_shapesworld_emits_both_formats_with_exact_maps(shapes_data: Path):
    manifest = json.loads((shapes_data / "shapes_train.json").read_text())
    items = read_list(shapes_data / "sam_sgt.txt", needs=("mask", "depth", "edge"))
    assert len(items) == manifest["seg_items"] > 300
    rows = read_sft(shapes_data / "llava_ov.json")
    assert len(rows) == manifest["sft_rows"] and any(not r.images for r in rows)  # HallusionBench's text-only rows
    image = np.asarray(Image.open(items[0].image))
    mask = np.asarray(Image.open(items[0].map_path("mask")))
    colours = {tuple(c) for c in mask.reshape(-1, 3)} - {(0, 0, 0)}
    assert colours and colours <= set(PALETTE)
    background = (np.abs(image.astype(int) - 128).sum(-1) < 20)               # the world's grey background
    assert ((mask.sum(-1) == 0) == background).mean() > 0.97                   # (JPEG blurs a few pixels)
    edges = np.asarray(Image.open(items[0].map_path("edge")))[..., 0] > 0
    assert 0 < edges.mean() < 0.2


def test_the_training_world_shares_no_scene_with_the_evaluation_world(shapes_data: Path):
    from sgt_eval.world import ensure_world, read_scenes

    evaluation = ensure_world(cache_root() / "world")
    for bench in ("cvbench", "pope", "vsr", "mmvp", "hallusionbench"):
        train = {json.dumps(s.to_json(), sort_keys=True) for s in read_scenes(shapes_data / "world", bench).values()}
        test = {json.dumps(s.to_json(), sort_keys=True) for s in read_scenes(evaluation, bench).values()}
        assert train and test and not train & test, bench
