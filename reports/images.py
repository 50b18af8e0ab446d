"""Downscaled image thumbnails embedded in a report as data URLs, each stored once.

Every image is shrunk to fit a square (``THUMB`` px for sample images, ``FIGURE`` px wide for probe
figures) and re-encoded as JPEG, so a report stays small whatever the sources weigh: a 160 px
ShapesWorld or COCO thumbnail is about 3-8 KB. Paths that a run or dataset gives are resolved under
their root (no ``..`` escape); an image that is missing or unreadable gets no thumbnail, not an error.
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from benchmarks.base import safe_relpath
from sgt_eval.errors import UserError

THUMB = 160
FIGURE = 720
QUALITY = 80


class ImageStore:
    """Thumbnails by key, deduplicated: ``add`` returns a key that the report's JSON refers to."""

    def __init__(self, side: int = THUMB, quality: int = QUALITY) -> None:
        self.side, self.quality = side, quality
        self.urls: dict[str, str] = {}
        self._keys: dict[tuple[Path, int], str | None] = {}

    def add_under(self, root: Path | None, relative: str | None, side: int | None = None) -> str | None:
        """The thumbnail of ``root/relative`` (a path from a run or dataset file), or None."""
        if root is None or not relative:
            return None
        try:
            clean = safe_relpath(relative, "image", root)
        except UserError:
            return None
        return self.add(root / clean, side)

    def add(self, path: Path, side: int | None = None) -> str | None:
        side = side or self.side
        cache_key = (path, side)
        if cache_key not in self._keys:
            self._keys[cache_key] = self._encode(path, side)
        return self._keys[cache_key]

    def _encode(self, path: Path, side: int) -> str | None:
        try:
            with Image.open(path) as image:
                image.draft("RGB", (2 * side, 2 * side))  # JPEGs decode at reduced size: COCO photos are large
                image = ImageOps.exif_transpose(image).convert("RGB")
                image.thumbnail((side, side), Image.Resampling.LANCZOS)
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=self.quality, optimize=True)
        except (OSError, UnidentifiedImageError, ValueError):
            return None
        data = buffer.getvalue()
        key = hashlib.sha1(data).hexdigest()[:16]
        self.urls[key] = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        return key

    def size_bytes(self) -> int:
        return sum(len(url) for url in self.urls.values())
