"""GEdit-Bench test data: rows in the official layout (11 groups, 606 per language) and the ShapesWorld world.

No real GEdit-Bench file is available offline. The hand-made rows have the official columns and
the official per-group sizes (evalscope's table, notes/benchmarks.md section 7.1); every row shares
two small images whose colours tell them apart: ``input_image`` is red, ``input_image_raw`` is a
1024 x 768 image, blue on the left half and green on the right.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from sgt_eval.paths import cache_root
from sgt_eval.world import ensure_world

GROUP_SIZES = {"background_change": 40, "color_alter": 40, "material_alter": 40, "motion_change": 40,
               "ps_human": 70, "style_change": 60, "subject-add": 60, "subject-remove": 57, "subject-replace": 60,
               "text_change": 99, "tone_transfer": 40}
RED, BLUE, GREEN = (200, 0, 0), (0, 0, 200), (0, 200, 0)


def png(image: Image.Image, exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


def raw_image() -> Image.Image:
    image = Image.new("RGB", (1024, 768), BLUE)
    image.paste(GREEN, (512, 0, 1024, 768))
    return image


def official_rows() -> list[dict[str, Any]]:
    """1,212 rows: every group in en then cn; a quarter of each group (rows 0, 4, 8, ...) in the intersection."""
    shown = {"bytes": png(Image.new("RGB", (40, 30), RED)), "path": "shown.png"}
    raw = {"bytes": png(raw_image()), "path": "raw.png"}
    return [{"task_type": task, "key": f"{task[:4]}{i:03d}", "instruction": f"edit number {i}",
             "instruction_language": language, "input_image": shown, "input_image_raw": raw,
             "Intersection_exist": i % 4 == 0}
            for language in ("en", "cn") for task, count in GROUP_SIZES.items() for i in range(count)]


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100)  # several row groups
    return path


def write_arrow(path: Path, rows: list[dict[str, Any]]) -> Path:
    """An Arrow IPC stream, the format ``datasets`` saves (``data-00000-of-00001.arrow``)."""
    table = pa.Table.from_pylist(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=100)
    return path


@pytest.fixture(scope="session")
def world_gedit() -> Path:
    """The GEdit folder of the session's ShapesWorld (built once, under the tests' cache)."""
    return ensure_world(cache_root() / "world") / "gedit"
