"""The pretraining set of the demo's base model: ShapesWorld captions and scene questions on fresh scenes.

A tiny UMM trained from scratch on benchmark questions alone learns each question's answer prior
long before it learns to look: their answers are one or two tokens, mostly ``yes``/``no`` or a
letter, so the image explains little of the loss. A caption names every visible shape's colour,
kind and place in reading order ("red circle top left, blue star centre."), so every one of its
tokens depends on the image, as in the caption stage that precedes instruction tuning in real
UMMs. :func:`build_pretraining_data` writes, under one folder::

    img/<n>.jpg          fresh scenes of one to five shapes (not any benchmark's, not the evaluation world's)
    llava_ov.json        per image: one caption row and one row of scene questions (shapes.scene_turns)
    pretraining.json     manifest, written last

The base is trained on this file together with the benchmark-format rows of a ShapesWorld
training world (a training seed other than the demo's), see ``scripts/build_demo_base.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sgt_eval.paths import build_once
from sgt_eval.world import Layout
from sgt_eval.world.files import save_image, write_json
from sgt_eval.world.sampling import distinct_shapes, retry, scatter
from sgt_eval.world.scene import IMAGE_SIZE, Scene
from sgt_train.data.shapes import SFT_FILE, grid_cell, grid_place, scene_turns, sft_row

VERSION = "shapes-pretraining-v1"
MANIFEST = "pretraining.json"
CAPTION_PROMPT = "Describe the image."
MAX_SHAPES = 5


def caption(layout: Layout) -> str:
    """Every visible shape as ``<colour> <kind> <place>``, top row first, left to right within a row."""
    visible = layout.visible()
    visible.sort(key=lambda sr: (grid_cell(sr[1].centroid, layout.size)[0], sr[1].centroid[0]))
    return ", ".join(f"{s.color} {s.kind} {grid_place(r.centroid, layout.size)}" for s, r in visible) + "."


def fresh_scene(rng: np.random.Generator) -> Scene:
    """One to :data:`MAX_SHAPES` shapes with distinct names, none overlapping."""
    return retry(rng, lambda r: _placed(r, int(r.integers(1, MAX_SHAPES + 1))))


def _placed(rng: np.random.Generator, n: int) -> Scene | None:
    shapes = scatter(rng, distinct_shapes(rng, n))
    return None if shapes is None else Scene(tuple(shapes))


def build_pretraining_data(out: Path, seed: int, images: int) -> dict[str, Any]:
    """Write ``images`` fresh scenes with their caption and scene-question rows into ``out``."""
    rng = np.random.default_rng([seed, 2000])
    rows = []
    for k in range(images):
        layout = Layout(fresh_scene(rng), IMAGE_SIZE)
        image = f"img/{k:06d}.jpg"
        save_image(layout.image, Path(out) / image)
        rows.append(sft_row(f"cap-{k:06d}", image, [(CAPTION_PROMPT, caption(layout))]))
        rows.append(sft_row(f"qa-{k:06d}", image, scene_turns(layout, rng)))
    write_json(Path(out) / SFT_FILE, rows, indent=None)
    manifest = {"generator": "ShapesWorld pretraining data", "version": VERSION, "seed": seed, "images": images,
                "sft": SFT_FILE, "sft_rows": len(rows)}
    write_json(Path(out) / MANIFEST, manifest, indent=2)
    return manifest


def ensure_pretraining_data(cache: Path, seed: int, images: int) -> Path:
    """The folder of a finished pretraining set under ``cache``, built first if missing."""
    final = Path(cache) / f"{VERSION}-seed{seed}-n{images}"
    return build_once(final, lambda scratch: build_pretraining_data(scratch, seed, images), MANIFEST)
