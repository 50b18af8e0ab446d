"""GEdit-Bench, ShapesWorld edition, in the stepfun-ai/GEdit-Bench Hugging Face layout.

``data/train-00000-of-00001.parquet`` has the official columns: ``task_type``, ``key``,
``instruction``, ``instruction_language`` ("en" or "cn"), ``input_image`` and ``input_image_raw``
(image structs ``{"bytes": PNG, "path": name}``; the raw one is larger, 512 x 512, the size the
official preprocessing gives) and ``Intersection_exist``. Each edit item is one source scene and
one edit, asked in English and in Chinese: two rows with the same key and images. Five official
task groups are used: color_alter (recolour a shape), subject-add, subject-remove, subject-replace
and motion_change (move a shape to a corner).

``shapesworld_truth.jsonl`` has one line per row: ``key``, ``instruction_language``, ``task_type``,
``source`` and ``target`` (``Scene.to_json()``; the target is :func:`apply_edit` of the source) and
``edit``, indices referring to the source's shapes:

- ``{"op": "recolour", "index": i, "color": c}``
- ``{"op": "add", "shape": Shape.to_json()}`` (the new shape comes last)
- ``{"op": "remove", "index": i}``
- ``{"op": "replace", "index": i, "shape": Shape.to_json()}`` (same centre, size and depth)
- ``{"op": "move", "index": i, "corner": "top-left", "x": x, "y": y}``

Source scenes hold two to four shapes with distinct names and colours, apart from each other, so
an instruction names its shape unambiguously and an edit never uncovers a hidden one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from sgt_eval.world.files import Sink, png_bytes, write_jsonl
from sgt_eval.world.sampling import balanced, clear_of, distinct_shapes, pick, retry, scatter
from sgt_eval.world.scene import COLORS, KINDS, Scene, Shape, render, with_article

ITEMS = 8           # edit items a task group at scale 1 (each asked in both languages)
RAW_SIZE = 512      # side of input_image_raw; input_image has the world's image size
LANGUAGES = ("en", "cn")
PARQUET = "data/train-00000-of-00001.parquet"
TRUTH = "shapesworld_truth.jsonl"
# official task group -> edit operation
TASKS = {"color_alter": "recolour", "subject-add": "add", "subject-remove": "remove",
         "subject-replace": "replace", "motion_change": "move"}
CORNERS = {"top-left": (0, 0), "top-right": (1, 0), "bottom-left": (0, 1), "bottom-right": (1, 1)}
CORNER_INSET = 0.04  # a moved shape's circle keeps this much from the two borders of its corner
MIN_MOVE = 0.3       # a move carries the shape's centre at least this far
GAP = 0.03           # as scatter's default: shapes stay this far apart

ZH_COLORS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "绿色", "blue": "蓝色",
             "purple": "紫色", "pink": "粉色", "brown": "棕色", "black": "黑色", "white": "白色"}
ZH_KINDS = {"circle": "圆形", "square": "正方形", "triangle": "三角形", "diamond": "菱形", "pentagon": "五边形",
            "hexagon": "六边形", "star": "星形", "cross": "十字形", "arrow": "箭头", "heart": "心形"}
ZH_CORNERS = {"top-left": "左上角", "top-right": "右上角", "bottom-left": "左下角", "bottom-right": "右下角"}
TEMPLATES = {
    "en": {"recolour": "Change the colour of the {old} to {color}.", "add": "Add {new} to the picture.",
           "remove": "Remove the {old}.", "replace": "Replace the {old} with {new}.",
           "move": "Move the {old} to the {corner} corner."},
    "cn": {"recolour": "把{old}改成{color}。", "add": "在图片中添加一个{new}。", "remove": "删除{old}。",
           "replace": "把{old}替换成{new}。", "move": "把{old}移到图片的{corner}。"},
}
# Hugging Face `datasets` reads the column types from this schema metadata (images as Image features).
HF_FEATURES = {"info": {"features": {
    "task_type": {"dtype": "string", "_type": "Value"}, "key": {"dtype": "string", "_type": "Value"},
    "instruction": {"dtype": "string", "_type": "Value"},
    "instruction_language": {"dtype": "string", "_type": "Value"},
    "input_image": {"_type": "Image"}, "input_image_raw": {"_type": "Image"},
    "Intersection_exist": {"dtype": "bool", "_type": "Value"},
}}}

Edit = dict[str, Any]


def apply_edit(scene: Scene, edit: Mapping[str, Any]) -> Scene:
    """The scene after an edit (format in the module docstring)."""
    shapes, op = list(scene.shapes), edit["op"]
    if op == "add":
        shapes.append(Shape.from_json(edit["shape"]))
    elif op == "remove":
        del shapes[edit["index"]]
    elif op == "replace":
        shapes[edit["index"]] = Shape.from_json(edit["shape"])
    elif op == "recolour":
        shapes[edit["index"]] = replace(shapes[edit["index"]], color=edit["color"])
    elif op == "move":
        shapes[edit["index"]] = replace(shapes[edit["index"]], x=edit["x"], y=edit["y"])
    else:
        raise ValueError(f"unknown edit op {op!r}; choose from {', '.join(TASKS.values())}")
    return Scene(tuple(shapes))


def instruction(scene: Scene, edit: Mapping[str, Any], language: str) -> str:
    """The edit in words: ``"Change the colour of the red circle to blue."`` / ``"把红色的圆形改成蓝色。"``."""
    def name(shape: Shape, article: bool = False) -> str:
        if language == "cn":
            return f"{ZH_COLORS[shape.color]}的{ZH_KINDS[shape.kind]}"
        return with_article(shape.name) if article else shape.name

    words: dict[str, str] = {}
    if "index" in edit:
        words["old"] = name(scene.shapes[edit["index"]])
    if "shape" in edit:
        words["new"] = name(Shape.from_json(edit["shape"]), article=True)
    if "color" in edit:
        words["color"] = ZH_COLORS[edit["color"]] if language == "cn" else edit["color"]
    if "corner" in edit:
        words["corner"] = ZH_CORNERS[edit["corner"]] if language == "cn" else edit["corner"]
    return TEMPLATES[language][edit["op"]].format(**words)


# -- edits: each picks one for a source scene, or None if this scene does not allow it -------------
def _recolour(rng: np.random.Generator, shapes: list[Shape]) -> Edit:
    free = [c for c in COLORS if c not in {s.color for s in shapes}]  # a new name, and no same-colour pair
    return {"op": "recolour", "index": int(rng.integers(len(shapes))), "color": pick(rng, free)}


def _add(rng: np.random.Generator, shapes: list[Shape]) -> Edit | None:
    placed = scatter(rng, distinct_shapes(rng, 1, taken=shapes), fixed=shapes, gap=GAP)
    return None if placed is None else {"op": "add", "shape": placed[0].to_json()}


def _remove(rng: np.random.Generator, shapes: list[Shape]) -> Edit:
    return {"op": "remove", "index": int(rng.integers(len(shapes)))}


def _replace(rng: np.random.Generator, shapes: list[Shape]) -> Edit:
    i = int(rng.integers(len(shapes)))
    old = shapes[i]
    (new,) = distinct_shapes(rng, 1, kinds=[k for k in KINDS if k != old.kind], taken=shapes)
    new = replace(new, x=old.x, y=old.y, size=old.size, depth=old.depth)  # same circle: still clear of others
    return {"op": "replace", "index": i, "shape": new.to_json()}


def _move(rng: np.random.Generator, shapes: list[Shape]) -> Edit | None:
    i = int(rng.integers(len(shapes)))
    shape, others = shapes[i], shapes[:i] + shapes[i + 1:]
    options = []
    for corner, (right, down) in CORNERS.items():
        near, far = shape.size + CORNER_INSET, 1.0 - shape.size - CORNER_INSET
        x, y = round(far if right else near, 3), round(far if down else near, 3)
        if math.hypot(x - shape.x, y - shape.y) >= MIN_MOVE and clear_of(replace(shape, x=x, y=y), others, GAP):
            options.append({"op": "move", "index": i, "corner": corner, "x": x, "y": y})
    return pick(rng, options) if options else None


EDITS: dict[str, Callable[[np.random.Generator, list[Shape]], Edit | None]] = {
    "recolour": _recolour, "add": _add, "remove": _remove, "replace": _replace, "move": _move,
}


class Item(NamedTuple):
    task_type: str
    key: str
    source: Scene
    edit: Edit
    intersection: bool


def _item(rng: np.random.Generator, op: str) -> tuple[Scene, Edit] | None:
    shapes = scatter(rng, distinct_shapes(rng, int(rng.integers(2, 5))), gap=GAP)
    edit = shapes and EDITS[op](rng, shapes)
    return (Scene(tuple(shapes)), edit) if shapes and edit else None


def _image(scene: Scene, size: int, name: str) -> dict[str, Any]:
    return {"bytes": png_bytes(render(scene, size)[0]), "path": name}


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    # imported here so that importing the world (every CLI command does) stays light
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("task_type", pa.string()), ("key", pa.string()), ("instruction", pa.string()),
                        ("instruction_language", pa.string()), ("input_image", image),
                        ("input_image_raw", image), ("Intersection_exist", pa.bool_())],
                       metadata={"huggingface": json.dumps(HF_FEATURES)})
    path.parent.mkdir(parents=True, exist_ok=True)
    # parquet footers carry no timestamp; the writer version string is fixed by the installed pyarrow
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="snappy")


def write(sink: Sink, rng: np.random.Generator, scale: int) -> int:
    """Write the GEdit folder; returns the number of rows (both languages)."""
    items = []
    for task_type, op in TASKS.items():
        for flag in balanced(rng, (True, False), ITEMS * scale):
            source, edit = retry(rng, lambda r: _item(r, op))
            items.append(Item(task_type, rng.bytes(16).hex(), source, edit, flag))
    images = [(_image(it.source, sink.image_size, f"{it.key}.png"), _image(it.source, RAW_SIZE, f"{it.key}_raw.png"))
              for it in items]
    rows, truth = [], []
    for language in LANGUAGES:
        for it, (shown, raw) in zip(items, images):
            rows.append({"task_type": it.task_type, "key": it.key,
                         "instruction": instruction(it.source, it.edit, language), "instruction_language": language,
                         "input_image": shown, "input_image_raw": raw, "Intersection_exist": it.intersection})
            truth.append({"key": it.key, "instruction_language": language, "task_type": it.task_type,
                          "source": it.source.to_json(), "target": apply_edit(it.source, it.edit).to_json(),
                          "edit": it.edit})
    _write_parquet(sink.root / PARQUET, rows)
    write_jsonl(sink.root / TRUTH, truth)
    sink.mark(classes=list(KINDS), truth=TRUTH)
    return len(rows)
