"""ShapesWorld training data in the two SGT formats, so the whole recipe runs offline.

:func:`build_training_data` writes, under one folder::

    world/<bench>/...            the understanding benchmarks' writers run with a *training* seed
    sam_selection/sw_<n>.jpg     every image of that world (SAM-SGT layout, JPEG q95)
    sam_mask/sw_<n>.png          its colour instance mask (sgt_train.proxies.colour_instances)
    sam_instances/sw_<n>.png     its instance ids (16-bit; 0 = background, i + 1 = scene shape i)
    sam_depth/sw_<n>.png         exact depth: near bright, far dark, background black
    sam_edge/sw_<n>.png          exact instance boundaries, white on black
    sam_sgt.txt                  the SAM-SGT list file (paths relative to the folder)
    llava_ov.json                LLaVA-OneVision SFT rows (JSON array; image paths relative to the folder)
    shapes_train.json            manifest, written last

VQA rows are of two kinds. Single-turn rows ask each benchmark question of the training world in its
benchmark's official prompt and answer in the form its official parser reads (CV-Bench ``(B)``,
MMVP ``B``, ``yes``/``no``), like an SFT set that covers those question types. One multi-turn row
per image asks short questions answered from its scene (:func:`scene_turns`). The training seed's scenes are not the evaluation world's (``sgt-eval run`` uses seed 0):
every benchmark draws its scenes from its own random stream of ``(seed, stream)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks import BENCHMARKS, UNDERSTANDING
from benchmarks.base import Dataset
from sgt_eval.errors import UserError
from sgt_eval.paths import build_once
from sgt_eval.records import Sample
from sgt_eval.world import KINDS, Layout, read_scenes
from sgt_eval.world.build import WORLD_VERSION, WRITERS
from sgt_eval.world.files import Sink, save_image, write_json
from sgt_eval.world.scene import IMAGE_SIZE, with_article
from sgt_train.proxies import colour_instances

VERSION = f"shapes-train-v3+{WORLD_VERSION}"
MANIFEST = "shapes_train.json"
SEG_LIST = "sam_sgt.txt"
SFT_FILE = "llava_ov.json"
# How each benchmark's ground truth is said so that its own official parser reads it back.
REPLIES: dict[str, Callable[[Sample], str]] = {
    "cvbench": lambda s: s.answer,
    "mmvp": lambda s: s.answer,
    "vsr": lambda s: s.answer,
    "pope": lambda s: s.answer,
    "hallusionbench": lambda s: {"1": "yes", "0": "no"}[s.answer],
}
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
GRID_WORDS = (("top left", "top", "top right"), ("left", "centre", "right"), ("bottom left", "bottom", "bottom right"))
MAX_TURNS = 12  # questions in a scene row: a busy scene would otherwise make rows of 400+ tokens
POPE_SUFFIX = "\nAnswer the question using a single word or phrase."


def benchmark_rows(world: Path) -> list[tuple[str | None, str, str]]:
    """``(image relative to the world, prompt, reply)`` for every question of the training world."""
    rows: dict[tuple[str | None, str], str] = {}  # POPE asks its yes questions in all three splits: once here
    for name in UNDERSTANDING:
        bench = BENCHMARKS.load(name)()
        for dataset in _datasets(bench, world / name):
            for sample in dataset.samples:
                image = None if sample.image is None else (dataset.root / sample.image).relative_to(world).as_posix()
                rows[(image, bench.prompt(sample))] = REPLIES[name](sample)
    return [(image, prompt, reply) for (image, prompt), reply in rows.items()]


def _datasets(bench: Any, folder: Path) -> list[Dataset]:
    if bench.name == "vsr":  # the benchmark reads the test captions only; training takes every split's
        return [bench.load(folder / "splits" / "random" / f"{split}.jsonl") for split in ("train", "dev", "test")]
    return [bench.load(folder)]


def scene_turns(layout: Layout, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Short questions about one image answered from its scene, in random order.

    Many cheap supervised answers per image forward: how many shapes, each shape's colour (by its
    kind), kind (by its colour) and place in a 3 x 3 grid, and whether two present and two absent
    kinds are there (POPE's wording); at most :data:`MAX_TURNS` of them.
    """
    visible = layout.visible()
    count = NUMBER_WORDS[len(visible)] if len(visible) < len(NUMBER_WORDS) else str(len(visible))
    turns = [("How many shapes are in the image?", count)]
    for shape, region in visible:
        if sum(o.kind == shape.kind for o, _ in visible) == 1:
            turns.append((f"What colour is the {shape.kind}?", shape.color))
        if sum(o.color == shape.color for o, _ in visible) == 1:
            turns.append((f"What shape is {shape.color}?", shape.kind))
        turns.append((f"Where is the {shape.name}?", grid_place(region.centroid, layout.size)))
    present = sorted({s.kind for s, _ in visible}, key=KINDS.index)
    absent = [k for k in KINDS if k not in present]
    for kinds, reply in ((present, "yes"), (absent, "no")):
        for k in rng.permutation(len(kinds))[:2]:
            turns.append((f"Is there {with_article(kinds[int(k)])} in the image?{POPE_SUFFIX}", reply))
    return [turns[int(i)] for i in rng.permutation(len(turns))[:MAX_TURNS]]


def grid_cell(centroid: tuple[float, float], size: int) -> tuple[int, int]:
    """``(row, column)`` of a point in the image's 3 x 3 grid."""
    column, row = (min(int(c / size * 3), 2) for c in centroid)
    return row, column


def grid_place(centroid: tuple[float, float], size: int) -> str:
    row, column = grid_cell(centroid, size)
    return GRID_WORDS[row][column]


def depth_map(layout: Layout) -> Image.Image:
    """Exact depth of the visible surface: depth 1 -> 255, depth 10 -> 40, background 0."""
    depths = np.array([0.0] + [s.depth for s in layout.scene.shapes])
    value = np.where(layout.mask > 0, 255 - (depths[layout.mask] - 1.0) / 9.0 * 215, 0)
    return Image.fromarray(np.clip(value, 0, 255).astype(np.uint8), "L").convert("RGB")


def edge_map(layout: Layout) -> Image.Image:
    """Pixels whose right or lower neighbour belongs to another instance (or the background)."""
    mask = layout.mask
    edges = np.zeros(mask.shape, dtype=bool)
    edges[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    edges[:-1, :] |= mask[:-1, :] != mask[1:, :]
    return Image.fromarray(np.where(edges, 255, 0).astype(np.uint8), "L").convert("RGB")


def build_training_data(out: Path, seed: int = 1, scale: int = 4) -> dict[str, Any]:
    """Write the ShapesWorld SAM-SGT and LLaVA-OneVision training data into ``out`` (new or empty).

    Parameters
    ----------
    out
        Folder to fill.
    seed
        Seed of the training world; the evaluation world is seed 0, so keep this different.
    scale
        Multiplier of the benchmark writers' counts (4: about 2,000 images and 5,000 VQA rows).

    Returns
    -------
    dict
        The manifest also written to ``out/shapes_train.json``.
    """
    if seed == 0:
        raise UserError("the ShapesWorld training seed must not be 0: seed 0 is the evaluation world")
    out = Path(out)
    world = out / "world"
    for name, write, stream in WRITERS:
        if name in UNDERSTANDING:
            sink = Sink(world, name, IMAGE_SIZE, stamp={"version": WORLD_VERSION, "seed": seed, "use": "training"})
            write(sink, np.random.default_rng([seed, stream]), scale)
            sink.close()
    rng = np.random.default_rng([seed, 1000])
    conversations: dict[str | None, list[list[tuple[str, str]]]] = defaultdict(list)
    for image, prompt, reply in benchmark_rows(world):
        conversations[image].append([(prompt, reply)])
    seg_lines = []
    for name in UNDERSTANDING:
        for image, scene in sorted(read_scenes(world, name).items()):
            layout = Layout(scene, IMAGE_SIZE)
            conversations[image].append(scene_turns(layout, rng))
            seg_lines.append(_write_proxy_maps(out, layout, len(seg_lines) + 1))
    (out / SEG_LIST).write_text("".join(f"{line}\n" for line in seg_lines), encoding="utf-8")
    rows = [sft_row(f"sw-{k:06d}", None if image is None else f"world/{image}", turns)
            for k, (image, turns) in enumerate((i, t) for i, ts in conversations.items() for t in ts)]
    write_json(out / SFT_FILE, rows, indent=None)
    manifest = {"generator": "ShapesWorld training data", "version": VERSION, "seed": seed, "scale": scale,
                "seg_list": SEG_LIST, "sft": SFT_FILE, "seg_items": len(seg_lines), "sft_rows": len(rows),
                "sft_turns": sum(len(r["conversations"]) // 2 for r in rows)}
    write_json(out / MANIFEST, manifest, indent=2)
    return manifest


def _write_proxy_maps(out: Path, layout: Layout, number: int) -> str:
    name = f"sw_{number:06d}"
    save_image(layout.image, out / "sam_selection" / f"{name}.jpg")
    save_image(colour_instances(layout.mask), out / "sam_mask" / f"{name}.png")
    save_image(Image.fromarray(layout.mask.astype(np.uint16)), out / "sam_instances" / f"{name}.png")
    save_image(depth_map(layout), out / "sam_depth" / f"{name}.png")
    save_image(edge_map(layout), out / "sam_edge" / f"{name}.png")
    return f"sam_selection/{name}.jpg"


def sft_row(ident: str, image: str | None, turns: list[tuple[str, str]]) -> dict[str, Any]:
    """A LLaVA-OneVision row; ``image`` is relative to the folder the SFT file is in."""
    conversation = []
    for k, (question, reply) in enumerate(turns):
        value = f"<image>\n{question}" if image is not None and k == 0 else question
        conversation += [{"from": "human", "value": value}, {"from": "gpt", "value": reply}]
    row: dict[str, Any] = {"id": ident}
    if image is not None:
        row["image"] = image
    return {**row, "conversations": conversation}


def ensure_training_data(cache: Path, seed: int = 1, scale: int = 4) -> Path:
    """The folder of a finished ShapesWorld training set under ``cache``, built first if missing."""
    final = Path(cache) / f"{VERSION}-seed{seed}-x{scale}"
    return build_once(final, lambda scratch: build_training_data(scratch, seed, scale), MANIFEST)
