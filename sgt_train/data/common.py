"""What the data readers share: paths resolved under a root, and the log of skipped samples."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from sgt_eval.errors import UserError


def stream_seed(*parts: object) -> int:
    """A 63-bit seed from any values, stable across processes and runs (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:8], "big") >> 1


def resolve(line: str, root: Path, where: str) -> Path:
    """A data file named by a list or annotation entry: absolute as given, relative under ``root``.

    A relative entry may not climb out of its root with ``..`` (DESIGN.md section 9).
    """
    text = line.replace("\\", "/")
    path = PurePosixPath(text)
    if path.is_absolute():
        return Path(text)
    if ".." in path.parts:
        raise UserError(f"{where}: path {line!r} climbs out of its root {root} with '..'; "
                        f"give it relative to the root or as an absolute path")
    return root / text


def open_rgb(path: Path, where: str) -> Image.Image:
    """An RGB image, upright by its EXIF orientation; :class:`BadSample` naming ``where`` otherwise."""
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise BadSample("missing file", f"{where}: {path} does not exist") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        reason = str(err).replace(f"'{path}'", "").replace(str(path), "").strip(" :") or type(err).__name__
        raise BadSample("corrupt image", f"{where}: {path} is not a readable image ({reason})") from None


class BadSample(UserError):
    """A sample that cannot be used; ``--skip-bad-samples`` counts it instead of stopping the run."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message + "; fix or remove it, or pass --skip-bad-samples to count and skip such samples")
        self.reason = reason
        self.detail = message


@dataclass
class SkipLog:
    """The samples skipped under ``--skip-bad-samples``: counted by reason, each with its file and line."""

    entries: list[dict[str, str]] = field(default_factory=list)

    def add(self, err: BadSample, source: str) -> None:
        self.entries.append({"source": source, "reason": err.reason, "detail": err.detail})

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(e["reason"] for e in self.entries).items()))

    def summary(self) -> str:
        """``"skipped 3 bad samples (2 missing file, 1 corrupt image)"``, or an empty string."""
        if not self.entries:
            return ""
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.counts().items())
        return f"skipped {len(self.entries)} bad sample{'s' * (len(self.entries) != 1)} ({reasons})"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(e) + "\n" for e in self.entries), encoding="utf-8")
