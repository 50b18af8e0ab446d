"""SAM-SGT: a list file with one image path a line; each image's colour mask is found by a path rule.

The rule is the SGT release's (``SGT:BAGEL/data/sam_190k.py``)::

    .../sam_selection/sa_1.jpg  ->  .../sam_mask/sa_1.png

Depth and edge maps and instance-id maps, where a dataset has them (ShapesWorld writes all three),
follow the same rule with ``sam_depth``, ``sam_edge`` and ``sam_instances``. Relative lines are resolved under a configurable root (default: the
list file's folder); absolute lines are used as they are. Blank lines and lines starting with ``#``
are ignored; every other line keeps its number, so a bad entry is reported as ``list.txt:<line>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sgt_eval.errors import UserError
from sgt_train.data.common import BadSample, SkipLog, resolve

IMAGE_FOLDER = "sam_selection"
# target kind -> the folder that replaces IMAGE_FOLDER in the image's path
MAP_FOLDERS = {"mask": "sam_mask", "depth": "sam_depth", "edge": "sam_edge", "instances": "sam_instances"}


@dataclass(frozen=True)
class ProxyItem:
    """One image of a proxy list, with where it came from (``where`` = ``"<list file>:<line>"``)."""

    image: Path
    where: str

    def map_path(self, kind: str) -> Path:
        """The image's ``mask``, ``depth``, ``edge`` or ``instances`` map by the SAM-SGT path rule."""
        return Path(map_path(str(self.image), kind))


def map_path(image: str, kind: str) -> str:
    """``sam_selection/x.jpg`` -> ``sam_mask/x.png`` (``kind`` is a key of :data:`MAP_FOLDERS`).

    Only a whole ``sam_selection`` path component is replaced (SGT replaces the substring anywhere),
    and only a ``.jpg``/``.jpeg`` suffix becomes ``.png``: other suffixes are kept.
    """
    parts = image.replace("\\", "/").split("/")
    if IMAGE_FOLDER not in parts:
        raise ValueError(f"{image!r} has no {IMAGE_FOLDER!r} folder to map to {MAP_FOLDERS[kind]!r}")
    index = len(parts) - 1 - parts[::-1].index(IMAGE_FOLDER)
    parts[index] = MAP_FOLDERS[kind]
    stem, dot, suffix = parts[-1].rpartition(".")
    if dot and suffix.lower() in ("jpg", "jpeg"):
        parts[-1] = f"{stem}.png"
    return "/".join(parts)


def read_list(list_file: Path, root: Path | None = None, *, needs: Sequence[str] = ("mask",),
              skip: SkipLog | None = None) -> list[ProxyItem]:
    """The items of a SAM-SGT list file whose image and needed maps exist.

    Parameters
    ----------
    list_file
        Text file, one image path a line.
    root
        What relative lines are relative to; default the list file's folder.
    needs
        Map kinds (keys of :data:`MAP_FOLDERS`) every item must have beside its image.
    skip
        With a :class:`SkipLog` (``--skip-bad-samples``), items with a missing file are logged and
        left out; without one the first is a :class:`BadSample` error naming its line.

    Existence is checked here (a stat per file); images are decoded only when loaded.
    """
    list_file = Path(list_file)
    if not list_file.is_file():
        raise UserError(f"SAM-SGT list file {list_file} does not exist; give data.seg_list the path of a text "
                        f"file with one image path a line")
    root = Path(root) if root is not None else list_file.parent
    items = []
    for number, raw in enumerate(list_file.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{list_file}:{number}"
        try:
            items.append(_item(line, root, where, needs))
        except BadSample as err:
            if skip is None:
                raise
            skip.add(err, "seg")
    if not items and not (skip and skip.entries):
        raise UserError(f"SAM-SGT list file {list_file} is empty; it needs one image path a line "
                        f"(e.g. sam_selection/sa_1.jpg, relative to {root})")
    if not items:
        raise UserError(f"SAM-SGT list file {list_file}: every entry was skipped ({skip.summary()}); "
                        f"nothing is left to train on")
    return items


def _item(line: str, root: Path, where: str, needs: Sequence[str]) -> ProxyItem:
    image = resolve(line, root, where)
    if not image.is_file():
        raise BadSample("missing file", f"{where}: image {image} does not exist")
    item = ProxyItem(image, where)
    for kind in needs:
        try:
            target = item.map_path(kind)
        except ValueError as err:
            raise UserError(f"{where}: {err}; SAM-SGT images live in a {IMAGE_FOLDER}/ folder") from None
        if not target.is_file():
            raise BadSample(f"missing {kind}", f"{where}: {kind} file {target} for image {image} does not exist")
    return item
