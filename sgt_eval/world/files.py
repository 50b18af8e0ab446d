"""Writing a benchmark folder: images, JSON in the official flavours, and the scene log.

Nothing written here carries a timestamp or a path outside the world folder, so the same
seed gives byte-identical files.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from sgt_eval.world.layout import Layout
from sgt_eval.world.scene import Scene

SCENES_DIR = "scenes"  # beside the benchmark folders: <world>/scenes/<bench>.jsonl
# In a benchmark folder whose scorer must know it reads ShapesWorld (GenEval's detector, GEdit's judge).
MARKER = "shapesworld.json"


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """JSON lines with the default ``", "``/``": "`` separators, as the official files use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=indent), encoding="utf-8")


def write_lines(path: Path, lines: Iterable[str]) -> None:
    """A plain text file, one entry a line, each ending in a newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(f"{line}\n" for line in lines)


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG file bytes (for images stored inside a data file)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_image(image: Image.Image, path: Path) -> None:
    """PNG (lossless) or, for a ``.jpg`` name, a high-quality JPEG without chroma subsampling."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, format="JPEG", quality=95, subsampling=0)
    else:
        image.save(path, format="PNG")


class Sink:
    """Where one benchmark writer puts its files.

    Parameters
    ----------
    world
        The world folder; the benchmark lives in ``world/<bench>``.
    bench
        Benchmark folder name.
    image_size
        Side of every image in pixels.
    stamp
        What identifies the build (version, seed); copied into the benchmark's marker file.
    """

    def __init__(self, world: Path, bench: str, image_size: int, stamp: Mapping[str, Any] | None = None) -> None:
        self.world = world
        self.bench = bench
        self.root = world / bench
        self.image_size = image_size
        self.stamp = dict(stamp or {})
        self._scenes: list[dict[str, Any]] = []

    def layout(self, scene: Scene) -> Layout:
        """Render a scene at this world's image size."""
        return Layout(scene, self.image_size)

    def save(self, layout: Layout, relpath: str) -> None:
        """Write the rendered image at ``<bench>/<relpath>`` and log its scene."""
        save_image(layout.image, self.root / relpath)
        self._scenes.append({"image": f"{self.bench}/{relpath}", "scene": layout.scene.to_json()})

    def mark(self, **extra: Any) -> None:
        """Write the marker ``<bench>/shapesworld.json``: the build stamp plus ``extra``."""
        write_json(self.root / MARKER, {**self.stamp, **extra}, indent=2)

    def close(self) -> None:
        """Write the scene log ``scenes/<bench>.jsonl`` (ground truth for tests and later tasks)."""
        write_jsonl(self.world / SCENES_DIR / f"{self.bench}.jsonl", self._scenes)


def read_scenes(world: Path, bench: str) -> dict[str, Scene]:
    """The scene of every image a benchmark writer saved, keyed by ``<bench>/<relpath>``."""
    path = world / SCENES_DIR / f"{bench}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {row["image"]: Scene.from_json(row["scene"]) for row in rows}
