"""CV-Bench, ShapesWorld edition, in the nyu-visionx raw layout.

Writes ``test_2d.jsonl`` (Count and Relation, sources "ADE20K" and "COCO"), ``test_3d.jsonl``
(Depth and Distance, source "Omni3D") and ``img/{2D,3D}/<task>/<source>_<k>.png``, with the
official row fields so the source-balanced CV-Bench formula applies unchanged.

"ADE20K" rows are busy scenes (many other shapes), "COCO" rows sparse ones. Depth is shown
two ways at once: the nearer shape hides part of the farther one and is drawn larger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sgt_eval.world.files import Sink, write_jsonl
from sgt_eval.world.layout import Layout
from sgt_eval.world.sampling import (
    balanced,
    distinct_shapes,
    new_shape,
    pick,
    place_near,
    retry,
    sample,
    scatter,
    uniform,
)
from sgt_eval.world.scene import COLORS, KINDS, Scene, Shape, plural

LETTERS = "ABCDEF"
PER_SOURCE_2D = 20   # Count and Relation items per 2D source at scale 1
PER_TASK_3D = 30     # Depth and Distance items at scale 1
OTHERS = {"ADE20K": (2, 5), "COCO": (0, 2)}  # how many unrelated shapes a scene gets
SOURCE_DATASET = "ShapesWorld"


def _prompt(question: str, choices: Sequence[str]) -> str:
    return question + " Select from the following choices." + "".join(
        f"\n({LETTERS[k]}) {c}" for k, c in enumerate(choices))


def _row(task: str, question: str, choices: list[str], answer: int, filename: str, source: str,
         **extra: Any) -> dict[str, Any]:
    """One row with the official fields; ``idx`` is set when the rows are numbered."""
    return {
        "idx": -1, "type": "3D" if source == "Omni3D" else "2D", "task": task,
        "question": question, "choices": choices, "answer": f"({LETTERS[answer]})",
        "prompt": _prompt(question, choices), "filename": filename, "source": source,
        "source_dataset": SOURCE_DATASET, "source_filename": filename.rsplit("/", 1)[-1],
        "target_class": extra.get("target_class"), "target_size": extra.get("target_size"),
        "bbox": extra.get("bbox"),
    }


def _with_others(rng: np.random.Generator, main: list[Shape], source: str,
                 kinds: Sequence[str] = KINDS) -> Scene | None:
    """The main shapes plus a source-dependent number of unrelated, non-overlapping shapes."""
    lo, hi = OTHERS[source]
    others = scatter(rng, distinct_shapes(rng, int(rng.integers(lo, hi + 1)), kinds=kinds, taken=main,
                                          size_range=(0.05, 0.09)), fixed=main)
    return None if others is None else Scene(tuple(main) + tuple(others))


def _count(sink: Sink, rng: np.random.Generator, n: int, source: str) -> tuple[Layout, str] | None:
    kind = pick(rng, KINDS)
    placed = scatter(rng, [new_shape(rng, kind, c, (0.05, 0.09)) for c in sample(rng, list(COLORS), n)])
    scene = placed and _with_others(rng, placed, source, kinds=[k for k in KINDS if k != kind])
    return (sink.layout(scene), kind) if scene else None


def _relation(sink: Sink, rng: np.random.Generator, answer: str, source: str) -> Layout | None:
    a, b = distinct_shapes(rng, 2)
    axis = 0 if answer in ("left", "right") else 1
    first, second = uniform(rng, 0.15, 0.38), uniform(rng, 0.62, 0.85)
    if answer in ("right", "below"):
        first, second = second, first
    across = uniform(rng, 0.25, 0.75)
    across_b = round(min(max(across + uniform(rng, -0.12, 0.12), 0.15), 0.85), 3)
    coords = ((first, across), (second, across_b)) if axis == 0 else ((across, first), (across_b, second))
    a, b = replace(a, x=coords[0][0], y=coords[0][1]), replace(b, x=coords[1][0], y=coords[1][1])
    scene = _with_others(rng, [a, b], source)
    if scene is None:
        return None
    layout = sink.layout(scene)
    want = answer in ("left", "above")
    return layout if layout.relation("left of" if axis == 0 else "above", 0, 1) is want else None


def _depth(sink: Sink, rng: np.random.Generator, near_first: bool) -> Layout | None:
    far, near = distinct_shapes(rng, 2, size_range=(0.08, 0.11))
    far = replace(far, depth=uniform(rng, 6.0, 10.0))
    near = replace(near, size=round(far.size * uniform(rng, 1.15, 1.4), 3), depth=uniform(rng, 1.0, 4.0))
    placed = scatter(rng, [far])
    if placed is None:
        return None
    reach = far.size + near.size
    near = place_near(rng, placed[0], near, 0.6 * reach, 0.85 * reach)
    pair = [near, placed[0]] if near_first else [placed[0], near]
    scene = near and _with_others(rng, pair, "COCO")
    if not scene:
        return None
    layout = sink.layout(scene)
    n, f = (0, 1) if near_first else (1, 0)
    ok = layout.in_front(n, f) is True and layout.visible_fraction(f) >= 0.45 and layout.visible_fraction(n) == 1.0
    return layout if ok else None


def _distance(sink: Sink, rng: np.random.Generator, close_first: bool) -> Layout | None:
    ref, close, far = distinct_shapes(rng, 3, size_range=(0.06, 0.09))
    placed = scatter(rng, [ref])
    if placed is None:
        return None
    ref = placed[0]
    close = place_near(rng, ref, close, ref.size + close.size + 0.05, 0.3, others=[ref], gap=0.03)
    far = close and place_near(rng, ref, far, 0.5, 0.85, others=[ref, close], gap=0.03)
    scene = far and _with_others(rng, [ref, close, far] if close_first else [ref, far, close], "COCO")
    if not scene:
        return None
    layout = sink.layout(scene)
    d1, d2 = layout.distance(0, 1), layout.distance(0, 2)
    return layout if (d1 <= 0.6 * d2 if close_first else d2 <= 0.6 * d1) else None


def _box(layout: Layout, i: int) -> list[int]:
    region = layout.regions[i]
    assert region is not None
    return list(region.bbox)


def _rows_2d(sink: Sink, rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    rows = []
    for source in ("ADE20K", "COCO"):
        prefix = source.lower()
        for k, (count, letter) in enumerate(zip(balanced(rng, range(1, 7), n), balanced(rng, range(4), n)), 1):
            layout, kind = retry(rng, lambda r: _count(sink, r, count, source))
            pool = [v for v in range(max(0, count - 3), count + 4) if v != count]
            choices = [str(v) for v in sample(rng, pool, 3)]
            choices.insert(letter, str(count))
            filename = f"img/2D/count/{prefix}_{k}.png"
            sink.save(layout, filename)
            area = sum(r.area for r, s in zip(layout.regions, layout.scene.shapes) if r and s.kind == kind)
            extra = {"target_class": kind, "target_size": area} if source == "COCO" else {}
            rows.append(_row("Count", f"How many {plural(kind)} are in the image?", choices, letter,
                             filename, source, **extra))
        for k, answer in enumerate(balanced(rng, ["left", "right", "above", "below"], n), 1):
            layout = retry(rng, lambda r: _relation(sink, r, answer, source))
            a, b = (s.name for s in layout.scene.shapes[:2])
            choices = ["left", "right"] if answer in ("left", "right") else ["above", "below"]
            filename = f"img/2D/relation/{prefix}_{k}.png"
            sink.save(layout, filename)
            question = (f"Considering the positions of the {a} and the {b} in the image, "
                        f"where is the {a} located with respect to the {b}?")
            region = layout.regions[0]
            extra = {"target_class": layout.scene.shapes[0].kind, "target_size": region.area if region else 0}
            rows.append(_row("Relation", question, choices, choices.index(answer), filename, source,
                             **(extra if source == "COCO" else {})))
    return rows


def _rows_3d(sink: Sink, rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    rows = []
    for k, first in enumerate(balanced(rng, [True, False], n), 1):
        layout = retry(rng, lambda r: _depth(sink, r, first))
        x, y = (s.name for s in layout.scene.shapes[:2])
        filename = f"img/3D/depth/omni3d_{k}.png"
        sink.save(layout, filename)
        rows.append(_row("Depth", f"Which shape is closer to the camera, the {x} or the {y}?", [x, y],
                         0 if first else 1, filename, "Omni3D", bbox=[_box(layout, 0), _box(layout, 1)]))
    for k, first in enumerate(balanced(rng, [True, False], n), 1):
        layout = retry(rng, lambda r: _distance(sink, r, first))
        ref, x, y = (s.name for s in layout.scene.shapes[:3])
        filename = f"img/3D/distance/omni3d_{k}.png"
        sink.save(layout, filename)
        question = (f"Judging the distances between the shapes in the image, which shape is closer "
                    f"to the {ref}, the {x} or the {y}?")
        rows.append(_row("Distance", question, [x, y], 0 if first else 1, filename, "Omni3D",
                         bbox=[_box(layout, i) for i in range(3)]))
    return rows


def write(sink: Sink, rng: np.random.Generator, scale: int) -> int:
    """Write the CV-Bench folder; returns the number of questions."""
    rows_2d = _rows_2d(sink, rng, PER_SOURCE_2D * scale)
    rows_3d = _rows_3d(sink, rng, PER_TASK_3D * scale)
    for idx, row in enumerate(rows_2d + rows_3d):
        row["idx"] = idx
    write_jsonl(sink.root / "test_2d.jsonl", rows_2d)
    write_jsonl(sink.root / "test_3d.jsonl", rows_3d)
    return len(rows_2d) + len(rows_3d)
