"""LLaVA-OneVision-style SFT data: a JSON array or JSON lines of ``{id, image, conversations}``.

Each row::

    {"id": "x1", "image": "images/x1.png",            # a path, a list of paths, or absent (text only)
     "conversations": [{"from": "human", "value": "<image>\\nWhat is this?"},
                       {"from": "gpt", "value": "A red circle."}, ...]}

Roles ``human``/``user``, ``gpt``/``assistant`` and ``system`` are read; the loss is taken on
assistant turns only, every one of them (multi-turn). ``<image>`` placeholders mark where images go,
one per image in order; a row with images and no placeholder gets them at the start of its first
user turn, as LLaVA does. Image paths are relative to a configurable root (default: the annotation
file's folder). Rows are numbered from 1 (JSON array: position; JSON lines: line number).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgt_eval.errors import UserError
from sgt_train.data.common import BadSample, SkipLog, resolve

IMAGE_PLACEHOLDER = "<image>"
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


@dataclass(frozen=True)
class Turn:
    role: str  # "system", "user" or "assistant"
    text: str  # with IMAGE_PLACEHOLDER where the images go


@dataclass(frozen=True)
class SftItem:
    """One conversation; ``where`` is ``"<file> row <n>"`` for error messages."""

    id: str
    images: tuple[Path, ...]
    turns: tuple[Turn, ...]
    where: str


def read_sft(path: Path, image_root: Path | None = None, *, skip: SkipLog | None = None) -> list[SftItem]:
    """Read and check every row of an SFT file.

    Parameters
    ----------
    path
        ``.json`` (an array of rows) or ``.jsonl`` (one row a line).
    image_root
        What image paths are relative to; default the file's folder.
    skip
        With a :class:`SkipLog` (``--skip-bad-samples``), rows with a problem in their content
        (no assistant turn, a missing image, placeholders that do not match) are logged and left
        out; without one the first is an error naming its row. A file that is not JSON is always
        an error.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"SFT file {path} does not exist; give data.sft a LLaVA-OneVision JSON or JSONL file")
    image_root = Path(image_root) if image_root is not None else path.parent
    items = []
    for number, row in _rows(path):
        where = f"{path} row {number}"
        try:
            items.append(_item(row, where, image_root))
        except BadSample as err:
            if skip is None:
                raise
            skip.add(err, "vqa")
    if not items:
        problem = f"every row was skipped ({skip.summary()})" if skip and skip.entries else "it has no rows"
        raise UserError(f"SFT file {path}: {problem}; nothing is left to train on")
    return items


def _rows(path: Path) -> list[tuple[int, Any]]:
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return []
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); an SFT .json file is one JSON "
                            f"array of rows") from None
        return list(enumerate(rows, start=1))
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{number}: not valid JSON ({err.msg}); a .jsonl file has one JSON object "
                            f"a line") from None
    return out


def _item(row: Any, where: str, image_root: Path) -> SftItem:
    if not isinstance(row, dict) or not isinstance(row.get("conversations"), list):
        raise BadSample("malformed row", f"{where}: a row must be an object with a 'conversations' list")
    ident = str(row.get("id", where))
    named = f"{where} (id {ident!r})"
    turns = []
    for k, message in enumerate(row["conversations"], start=1):
        if not isinstance(message, dict) or not isinstance(message.get("value"), str):
            raise BadSample("malformed row", f"{named}: turn {k} must be an object with a string 'value'")
        role = ROLES.get(str(message.get("from", "")).lower())
        if role is None:
            raise BadSample("malformed row", f"{named}: turn {k} has 'from': {message.get('from')!r}; use one of "
                                             f"{', '.join(ROLES)}")
        turns.append(Turn(role, message["value"]))
    if not any(t.role == "assistant" for t in turns):
        raise BadSample("no assistant turn", f"{named} has no assistant turn ('from': 'gpt'); every row needs at "
                                             f"least one answer to learn from")
    images = row.get("image") or ()
    images = (images,) if isinstance(images, str) else tuple(images)
    paths = tuple(resolve(str(image), image_root, named) for image in images)
    for image in paths:
        if not image.is_file():
            raise BadSample("missing file", f"{named}: image {image} does not exist")
    placeholders = sum(t.text.count(IMAGE_PLACEHOLDER) for t in turns)
    if placeholders == 0 and paths:
        first = next((i for i, t in enumerate(turns) if t.role == "user"), None)
        if first is None:
            raise BadSample("malformed row", f"{named} has images but no user turn to put them in")
        turns[first] = Turn("user", f"{IMAGE_PLACEHOLDER}\n" * len(paths) + turns[first].text)
    elif placeholders != len(paths):
        raise BadSample("image placeholders", f"{named} has {placeholders} {IMAGE_PLACEHOLDER} placeholder(s) for "
                                              f"{len(paths)} image(s); give one placeholder per image")
    return SftItem(ident, paths, tuple(turns), where)
