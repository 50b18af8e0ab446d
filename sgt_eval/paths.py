"""Where sgt-eval keeps things it builds once and reuses (tiny models, the embedded data world)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """``$SGT_EVAL_CACHE``, else ``~/.cache/sgt-eval``."""
    return Path(os.environ.get("SGT_EVAL_CACHE") or Path.home() / ".cache" / "sgt-eval")


def build_once(directory: Path, build: Callable[[Path], object], marker: str) -> Path:
    """``directory``, first made by ``build(scratch)`` unless it already holds ``marker``.

    Parameters
    ----------
    directory
        The finished folder.
    build
        Writes the folder's content into the empty scratch folder it is given.
    marker
        A file name that only a finished build contains (e.g. ``"config.json"``).

    The build runs in a hidden sibling folder that is renamed into place at the end, so a killed
    build never looks finished; when two processes race, the first rename wins and the other's
    identical copy is discarded.
    """
    if (directory / marker).exists():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        build(scratch)
        os.replace(scratch, directory)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        if not (directory / marker).exists():
            raise
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return directory
