"""GEdit-mini: the official Hugging Face parquet layout, and targets that are exactly the edits.

Each edit is checked on rendered pixels: outside the edited shape's old and new pixels nothing
changes, and inside them the image shows what the instruction asks.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from sgt_eval.world import BACKGROUND, COLORS, KINDS, WORLD_VERSION, Scene, Shape, render, shape_mask
from sgt_eval.world.gedit import apply_edit, instruction

COLUMNS = ["task_type", "key", "instruction", "instruction_language", "input_image", "input_image_raw",
           "Intersection_exist"]
# the first character of each colour's Chinese name
ZH = {"red": "红", "orange": "橙", "yellow": "黄", "green": "绿", "blue": "蓝", "purple": "紫", "pink": "粉",
      "brown": "棕", "black": "黑", "white": "白"}
OPS = {"color_alter": "recolour", "subject-add": "add", "subject-remove": "remove",
       "subject-replace": "replace", "motion_change": "move"}


def rows(world: Path) -> list[dict[str, Any]]:
    return pq.read_table(world / "gedit" / "data" / "train-00000-of-00001.parquet").to_pylist()


def truth(world: Path) -> list[dict[str, Any]]:
    text = (world / "gedit" / "shapesworld_truth.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_parquet_has_the_official_columns_and_types(world: Path) -> None:
    schema = pq.read_schema(world / "gedit" / "data" / "train-00000-of-00001.parquet")
    assert schema.names == COLUMNS
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert [schema.field(c).type for c in COLUMNS] == [pa.string()] * 4 + [image, image, pa.bool_()]
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert list(features) == COLUMNS and features["input_image"] == {"_type": "Image"}
    assert sorted(p.relative_to(world / "gedit").as_posix() for p in (world / "gedit").rglob("*") if p.is_file()) \
        == ["data/train-00000-of-00001.parquet", "shapesworld.json", "shapesworld_truth.jsonl"]


def test_rows_cover_five_groups_in_both_languages_with_shared_items(world: Path) -> None:
    table = rows(world)
    assert Counter((r["task_type"], r["instruction_language"]) for r in table) == \
        {(t, lang): 8 for t in OPS for lang in ("en", "cn")}
    item = lambda r: (r["task_type"], r["key"], r["input_image"]["bytes"], r["Intersection_exist"])  # noqa: E731
    en = [item(r) for r in table if r["instruction_language"] == "en"]
    cn = [item(r) for r in table if r["instruction_language"] == "cn"]
    assert en == cn and len({k for _, k, _, _ in en}) == len(en)
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["key"]) for r in table)
    assert all(r["input_image"]["path"] == f"{r['key']}.png" for r in table)
    for task in OPS:  # the intersection flag splits every group about in half
        assert Counter(flag for t, _, _, flag in en if t == task) == {True: 4, False: 4}
    for r in table:
        text = r["instruction"]
        if r["instruction_language"] == "cn":
            assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"[A-Za-z]", text), text
        else:
            assert text.isascii() and text.endswith("."), text


def test_images_are_the_source_scene_at_both_sizes(world: Path) -> None:
    for row, line in zip(rows(world), truth(world)):
        source = Scene.from_json(line["source"])
        assert np.array_equal(pixels(row["input_image"]["bytes"]), np.asarray(render(source, 224)[0]))
        raw = pixels(row["input_image_raw"]["bytes"])
        assert raw.shape == (512, 512, 3)  # the official preprocessing (~512^2 area, sides /32) keeps it
        assert np.array_equal(raw, np.asarray(render(source, 512)[0]))


def test_truth_lines_align_with_rows_and_the_marker(world: Path) -> None:
    table, lines = rows(world), truth(world)
    assert [(r["key"], r["instruction_language"], r["task_type"]) for r in table] == \
        [(t["key"], t["instruction_language"], t["task_type"]) for t in lines]
    assert all(list(t) == ["key", "instruction_language", "task_type", "source", "target", "edit"] for t in lines)
    assert all(t["edit"]["op"] == OPS[t["task_type"]] for t in lines)
    marker = json.loads((world / "gedit" / "shapesworld.json").read_text())
    assert marker == {"version": WORLD_VERSION, "seed": 0, "classes": list(KINDS), "truth": "shapesworld_truth.jsonl"}


def named(scene: Scene, name: str) -> int:
    (i,) = [i for i, s in enumerate(scene.shapes) if s.name == name]
    return i


def check_edit(text: str, source: Scene, target: Scene, edit: dict[str, Any]) -> None:
    """The English instruction, read by regex, is what the pixels of source and target show."""
    before, old_mask = render(source)
    after, new_mask = render(target)
    a, b = np.asarray(before), np.asarray(after)
    names = [s.name for s in source.shapes]
    assert len(set(names)) == len(names)
    if m := re.fullmatch(r"Change the colour of the (\w+ \w+) to (\w+)\.", text):
        i = named(source, m.group(1))
        assert np.array_equal(old_mask, new_mask) and m.group(2) not in {s.color for s in source.shapes}
        assert (b[old_mask == i + 1] == COLORS[m.group(2)]).all()
        edited = old_mask == i + 1
    elif m := re.fullmatch(r"Remove the (\w+ \w+)\.", text):
        i = named(source, m.group(1))
        edited = old_mask == i + 1
        assert (b[edited] == BACKGROUND).all() and len(target.shapes) == len(source.shapes) - 1
    elif m := re.fullmatch(r"Add an? (\w+) (\w+) to the picture\.", text):
        assert f"{m.group(1)} {m.group(2)}" not in names
        new = target.shapes[named(target, f"{m.group(1)} {m.group(2)}")]
        edited = new_mask == len(target.shapes)
        assert (old_mask[edited] == 0).all() and (b[edited] == COLORS[new.color]).all()
        assert edited.sum() == shape_mask(new, 224).sum() and len(target.shapes) == len(source.shapes) + 1
    elif m := re.fullmatch(r"Replace the (\w+ \w+) with an? (\w+) (\w+)\.", text):
        i, (color, kind) = named(source, m.group(1)), m.group(2, 3)
        old, new = source.shapes[i], target.shapes[i]
        assert (new.kind, new.color) == (kind, color) and kind != old.kind
        assert (new.x, new.y, new.size) == (old.x, old.y, old.size)
        edited = (old_mask == i + 1) | (new_mask == i + 1)
        assert (new_mask == i + 1).sum() == shape_mask(new, 224).sum()
        assert (b[new_mask == i + 1] == COLORS[color]).all() and (b[edited & (new_mask == 0)] == BACKGROUND).all()
    else:
        m = re.fullmatch(r"Move the (\w+ \w+) to the (top|bottom)-(left|right) corner\.", text)
        assert m, text
        i = named(source, m.group(1))
        edited = (old_mask == i + 1) | (new_mask == i + 1)
        ys, xs = np.nonzero(new_mask == i + 1)
        assert (ys.mean() < 224 / 3) == (m.group(2) == "top") and (ys.mean() > 2 * 224 / 3) == (m.group(2) == "bottom")
        assert (xs.mean() < 224 / 3) == (m.group(3) == "left") and (xs.mean() > 2 * 224 / 3) == (m.group(3) == "right")
        assert np.abs(np.array(np.nonzero(old_mask == i + 1)).mean(axis=1) - (ys.mean(), xs.mean())).max() > 40
        assert (new_mask == i + 1).sum() == shape_mask(target.shapes[i], 224).sum()  # nothing hides it there
    assert np.array_equal(a[~edited], b[~edited]), text  # nothing else changed
    assert not np.array_equal(a, b)


def test_every_target_is_exactly_its_instruction_applied(world: Path) -> None:
    table, lines = rows(world), truth(world)
    english = {r["key"]: r["instruction"] for r in table if r["instruction_language"] == "en"}
    seen: Counter = Counter()
    for row, line in zip(table, lines):
        if row["instruction_language"] == "en":
            source, target = Scene.from_json(line["source"]), Scene.from_json(line["target"])
            check_edit(row["instruction"], source, target, line["edit"])
            seen[line["edit"]["op"]] += 1
        else:  # the Chinese instruction names the same colours in the same order
            colours = [w for w in re.findall(r"[a-z]+", english[row["key"]]) if w in ZH]
            assert re.search(".*".join(ZH[c] for c in colours), row["instruction"]), row["instruction"]
    assert seen == {op: 8 for op in OPS.values()}


# -- the public helpers, by hand ----------------------------------------------------------------
RED = Shape("circle", "red", 0.3, 0.3, 0.1)
GREEN = Shape("square", "green", 0.7, 0.7, 0.1)
SCENE = Scene((RED, GREEN))


@pytest.mark.parametrize(("edit", "expected"), [
    ({"op": "recolour", "index": 0, "color": "blue"}, (Shape("circle", "blue", 0.3, 0.3, 0.1), GREEN)),
    ({"op": "remove", "index": 0}, (GREEN,)),
    ({"op": "add", "shape": Shape("star", "pink", 0.2, 0.8, 0.1).to_json()},
     (RED, GREEN, Shape("star", "pink", 0.2, 0.8, 0.1))),
    ({"op": "replace", "index": 1, "shape": Shape("heart", "white", 0.7, 0.7, 0.1).to_json()},
     (RED, Shape("heart", "white", 0.7, 0.7, 0.1))),
    ({"op": "move", "index": 1, "corner": "top-right", "x": 0.86, "y": 0.14},
     (RED, Shape("square", "green", 0.86, 0.14, 0.1))),
])
def test_apply_edit_by_hand(edit: dict[str, Any], expected: tuple[Shape, ...]) -> None:
    assert apply_edit(SCENE, edit).shapes == expected


def test_apply_edit_refuses_an_unknown_op() -> None:
    with pytest.raises(ValueError, match="unknown edit op 'rotate'"):
        apply_edit(SCENE, {"op": "rotate", "index": 0})


@pytest.mark.parametrize(("edit", "en", "cn"), [
    ({"op": "recolour", "index": 0, "color": "blue"}, "Change the colour of the red circle to blue.",
     "把红色的圆形改成蓝色。"),
    ({"op": "remove", "index": 1}, "Remove the green square.", "删除绿色的正方形。"),
    ({"op": "add", "shape": Shape("arrow", "orange", 0.2, 0.8, 0.1).to_json()}, "Add an orange arrow to the picture.",
     "在图片中添加一个橙色的箭头。"),
    ({"op": "replace", "index": 0, "shape": Shape("star", "pink", 0.3, 0.3, 0.1).to_json()},
     "Replace the red circle with a pink star.", "把红色的圆形替换成粉色的星形。"),
    ({"op": "move", "index": 1, "corner": "bottom-left", "x": 0.14, "y": 0.86},
     "Move the green square to the bottom-left corner.", "把绿色的正方形移到图片的左下角。"),
])
def test_instructions_by_hand(edit: dict[str, Any], en: str, cn: str) -> None:
    assert instruction(SCENE, edit, "en") == en
    assert instruction(SCENE, edit, "cn") == cn


def test_the_edit_check_catches_a_target_that_changes_more(world: Path) -> None:
    table, lines = rows(world), truth(world)
    for op in OPS.values():
        row, line = next((r, t) for r, t in zip(table, lines) if t["edit"]["op"] == op)
        source, target = Scene.from_json(line["source"]), Scene.from_json(line["target"])
        # nudge a shape the edit does not touch
        j = next(j for j, s in enumerate(target.shapes) if s in source.shapes)
        shapes = list(target.shapes)
        shapes[j] = Shape(**{**shapes[j].to_json(), "x": shapes[j].x + 0.03})
        with pytest.raises(AssertionError):
            check_edit(row["instruction"], source, Scene(tuple(shapes)), line["edit"])
