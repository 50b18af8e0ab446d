"""The lock file ``<root>/<bench>/.sgt-data.json``, and the atomic writes every data file goes through.

The lock records what a fetch wrote, so ``check`` can re-verify it: the source and revision (for
hub datasets also the commit the hub resolved), the sha256 and size of every metadata file, row
counts, the size of every image and the time of the fetch.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from benchmarks.base import sha256_file
from sgt_eval.errors import UserError
from sgt_eval.store import write_bytes_atomic

LOCK_NAME = ".sgt-data.json"


def part_path(dest: Path) -> Path:
    """A temporary name beside ``dest``, unique per process and thread (parallel downloads)."""
    return dest.with_name(f".{dest.name}.part-{os.getpid()}-{threading.get_ident()}")


def read_fetched_json(path: Path, fix: str) -> Any:
    """A JSON document that ``data fetch`` wrote; a :class:`UserError` ending in ``fix`` when missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {fix}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON; {fix}") from None


def file_entry(path: Path) -> dict[str, Any]:
    """``{"sha256": ..., "size": ...}`` of a file, as the lock records it."""
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


def write_lock(folder: Path, doc: dict[str, Any]) -> None:
    """Write the lock document of a benchmark folder."""
    write_bytes_atomic(folder / LOCK_NAME, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def read_lock(folder: Path) -> dict[str, Any] | None:
    """The lock document of ``folder``, or ``None`` when there is none.

    Raises
    ------
    UserError
        When the file exists but is not a lock document.
    """
    path = folder / LOCK_NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        raise UserError(f"{path} is not a sgt-eval lock file; delete it and re-run `sgt-eval data fetch`")
    return doc


def locked_sha256(lock: dict[str, Any] | None, local: str) -> str | None:
    """The hash the lock recorded for a metadata file, if any."""
    entry = (lock or {}).get("files", {}).get(local)
    return entry.get("sha256") if isinstance(entry, dict) else None


def locked_image_sizes(lock: dict[str, Any] | None) -> dict[str, int]:
    """Image path -> size in bytes, as recorded by the last fetch."""
    sizes = ((lock or {}).get("images") or {}).get("sizes")
    return sizes if isinstance(sizes, dict) else {}
