"""Unpacking an image archive (HallusionBench's ``hallusion_bench.zip``) safely under its folder."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from benchmarks.base import safe_relpath
from sgt_eval.data.lock import part_path
from sgt_eval.errors import UserError

_JUNK_DIRS = {"__MACOSX"}  # resource forks zipped on macOS


def extract_zip(zip_path: Path, dest: Path, top: str) -> int:
    """Unpack ``zip_path`` into ``dest/top/``, returning how many files were written.

    Members are placed under ``top`` whether or not the archive has that folder at its root, so a
    re-zipped copy without it lands in the same place. Names with ``..`` or absolute paths are
    refused; files already present with the same size are kept (an interrupted unpack resumes);
    each file is written through a temporary name, so a present file is a whole file.

    Raises
    ------
    UserError
        When the file is not a zip archive or a member's name would leave ``dest``.
    """
    written = 0
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                parts = PurePosixPath(info.filename).parts
                if info.is_dir() or not parts or parts[0] in _JUNK_DIRS or parts[-1].startswith("._"):
                    continue
                rel = safe_relpath(info.filename, "member name", zip_path)
                target = dest / (rel if rel.split("/")[0] == top else f"{top}/{rel}")
                if target.is_file() and target.stat().st_size == info.file_size:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = part_path(target)
                try:
                    with archive.open(info) as src, open(tmp, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    os.replace(tmp, target)
                finally:
                    tmp.unlink(missing_ok=True)
                written += 1
    except zipfile.BadZipFile as err:
        raise UserError(f"{zip_path} is not a usable zip archive ({err}); delete it and download it again") from None
    return written
