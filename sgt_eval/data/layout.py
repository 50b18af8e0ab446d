"""What a benchmark folder holds: the rows of its metadata files and the images they reference.

``fetch`` uses this to know which images to download and ``check`` to know which must be there;
both read the same rows, so they can never disagree about the layout of ``docs/data.md``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from benchmarks.base import safe_relpath
from sgt_eval.data.sources import Release, base_url, file_url
from sgt_eval.errors import UserError

COCO_HOST = "images.cocodataset.org"
HALLUSION_IMAGES = "hallusion_bench"  # the folder inside hallusion_bench.zip


@dataclass(frozen=True)
class ImageRef:
    """One image a benchmark needs.

    Attributes
    ----------
    local
        Path relative to ``<root>/<bench>``, checked by :func:`safe_relpath`.
    url
        Where to download it; ``None`` when it only comes inside an archive (HallusionBench).
    """

    local: str
    url: str | None


def read_rows(path: Path) -> list[Any]:
    """The records of a metadata file: JSON list, JSON lines (POPE's ``.json`` too), CSV or text lines.

    Raises
    ------
    UserError
        When the file cannot be decoded, naming the file and line.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark in CSVs
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); re-fetch it") from None
    if path.suffix == ".csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    if path.suffix == ".txt":
        return [line for line in text.splitlines() if line.strip()]
    if text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{path} is not valid JSON ({err.msg}, line {err.lineno}); re-fetch it") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise UserError(f"{path}:{number} is not a JSON line ({err.msg}); re-fetch it") from None
    return rows


def count_rows(path: Path) -> int:
    """Records in a metadata file; Parquet and Arrow files are counted without decoding their rows.

    Raises
    ------
    UserError
        When the file cannot be read, naming it.
    """
    if path.suffix not in (".parquet", ".arrow"):
        return len(read_rows(path))
    import pyarrow as pa  # imported here: only the image benchmarks' data needs it
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".parquet":
            return pq.ParquetFile(path).metadata.num_rows
        with pa.memory_map(str(path)) as source:
            return open_arrow(source).read_all().num_rows
    except (pa.ArrowException, OSError) as err:
        raise UserError(f"{path} is not a readable {path.suffix[1:]} file ({err}); re-fetch it") from None


def open_arrow(source: Any) -> Any:
    """A reader of an Arrow IPC file: the stream format ``datasets`` writes, else the random-access format."""
    import pyarrow as pa

    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_file(source)


def image_files(rel: Release) -> list[str]:
    """The metadata files (``File.local``) whose rows reference the images that are fetched and checked.

    VSR images are needed for the test splits only (the splits models are evaluated on); GenEval
    has no input images and GEdit-Bench's are inside its data files.
    """
    if rel.bench in ("geneval", "gedit"):
        return []
    if rel.bench == "vsr":
        return [f.local for f in rel.files if f.local.endswith("/test.jsonl")]
    return [f.local for f in rel.files]


def image_refs(rel: Release, folder: Path, revision: str | None = None) -> list[ImageRef]:
    """Every image referenced by the present metadata files of ``folder``, each once, in file order.

    Parameters
    ----------
    rel
        The release the files belong to (its benchmark decides the fields read).
    folder
        ``<root>/<bench>``; metadata files that are absent are skipped (``check`` reports them).
    revision
        Hub revision for image URLs (the resolved commit of the fetch); default the release's.
    """
    refs: dict[str, ImageRef] = {}
    for local in image_files(rel):
        path = folder / local
        if not path.is_file():
            continue
        for row in read_rows(path):
            ref = _image_ref(rel, row, path, revision)
            if ref is not None:
                refs.setdefault(ref.local, ref)
    return list(refs.values())


def _image_ref(rel: Release, row: Any, path: Path, revision: str | None) -> ImageRef | None:
    if not isinstance(row, dict):
        raise UserError(f"{path}: a row is {type(row).__name__}, not an object; re-fetch the file")
    if rel.bench == "pope":
        name = safe_relpath(_field(row, "image", path), "image", path)
        return ImageRef(f"val2014/{name}", f"{base_url('coco')}/val2014/{quote(name)}")
    if rel.bench == "vsr":
        name = safe_relpath(_field(row, "image", path), "image", path)
        return ImageRef(f"images/{name}", _coco_link(_field(row, "image_link", path), path))
    if rel.bench == "cvbench":
        name = safe_relpath(_field(row, "filename", path), "filename", path)
        return ImageRef(name, file_url(rel, name, revision))
    if rel.bench == "mmvp":
        index = _field(row, "Index", path) if "Index" in row else _field(row, "lndex", path)  # some copies spell it so
        if not str(index).strip().isdigit():
            raise UserError(f"{path}: field 'Index' is {index!r}, not a row number; re-fetch the file")
        name = f"MMVP Images/{int(index)}.jpg"
        return ImageRef(name, file_url(rel, name, revision))
    if rel.bench == "hallusionbench":
        filename = row.get("filename")
        if filename is None:  # the 178 text-only questions have no image
            return None
        return ImageRef(f"{HALLUSION_IMAGES}/{safe_relpath(str(filename), 'filename', path)}", None)
    raise UserError(f"no image layout is known for {rel.bench!r}")


def _field(row: dict[str, Any], key: str, path: Path) -> str:
    value = row.get(key)
    if not isinstance(value, (str, int)) or value == "":
        raise UserError(f"{path}: a row has no usable {key!r} field; re-fetch the file")
    return str(value)


def _coco_link(link: str, path: Path) -> str:
    """A VSR ``image_link``, moved onto the (possibly overridden) COCO base URL.

    Only links to the COCO image host are followed: a dataset row must not make us download from
    anywhere else.
    """
    parts = urlsplit(link)
    if parts.netloc != COCO_HOST:
        raise UserError(f"{path}: field 'image_link' points to {parts.netloc or link!r}, not {COCO_HOST}; fix that row")
    rel = safe_relpath(parts.path.lstrip("/"), "image_link", path)
    return f"{base_url('coco')}/{quote(rel)}"
