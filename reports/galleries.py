"""GenEval and GEdit-Bench galleries: prompt (or edit) -> each run's images, side by side.

At most ``limit`` prompts per benchmark are shown, taken in turn from each task (GenEval) or task
group and language (GEdit-Bench) so every kind appears; images are thumbnails (:mod:`reports.images`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain, zip_longest
from pathlib import PurePosixPath
from typing import Any

from reports.images import ImageStore
from reports.runs import Run
from sgt_eval.records import Prediction

GALLERY_SIDE = 128


def collect_galleries(runs: Sequence[Run], images: ImageStore, limit: int) -> list[dict[str, Any]]:
    galleries = []
    for name, build in (("geneval", geneval_gallery), ("gedit", gedit_gallery)):
        holders = [r for r in runs if name in r.benchmarks]
        if holders and limit > 0:
            galleries.append(build(holders, images, limit))
    return galleries


def round_robin(keys: Iterable[str], kind: Callable[[str], str], limit: int) -> list[str]:
    """Up to ``limit`` keys, one of each kind in turn (kinds in order of first appearance)."""
    by_kind: dict[str, list[str]] = {}
    for key in keys:
        by_kind.setdefault(kind(key), []).append(key)
    mixed = (k for k in chain.from_iterable(zip_longest(*by_kind.values())) if k is not None)
    return [k for _, k in zip(range(limit), mixed)]


def geneval_gallery(runs: Sequence[Run], images: ImageStore, limit: int) -> dict[str, Any]:
    prompts: dict[str, dict[str, list[Prediction]]] = {}  # prompt folder -> run -> its images
    tags: dict[str, str] = {}
    text: dict[str, str] = {}
    for run in runs:
        for p in sorted(run.benchmarks["geneval"].predictions.values(), key=lambda p: p.id):
            folder = p.id.split("/")[0]
            prompts.setdefault(folder, {}).setdefault(run.label, []).append(p)
            tags[folder], text[folder] = str(p.meta.get("tag", "")), p.question
    rows = []
    for folder in round_robin(sorted(prompts), tags.__getitem__, limit):
        cells = []
        for run in runs:
            records = prompts[folder].get(run.label, [])
            folder_root = run.benchmarks["geneval"].folder
            cells.append({"images": [images.add_under(folder_root, p.output, GALLERY_SIDE) for p in records],
                          "marks": [bool(p.correct) for p in records],
                          "score": f"{sum(bool(p.correct) for p in records)}/{len(records)} correct"})
        rows.append({"prompt": text[folder], "kind": tags[folder], "cells": cells})
    return {"bench": "GenEval", "columns": [r.label for r in runs], "rows": rows, "source": False,
            "n_total": len(prompts)}


def gedit_gallery(runs: Sequence[Run], images: ImageStore, limit: int) -> dict[str, Any]:
    records: dict[str, dict[str, Prediction]] = {}
    for run in runs:
        for p in run.benchmarks["gedit"].predictions.values():
            records.setdefault(p.id, {})[run.label] = p
    rows = []
    for sample_id in round_robin(sorted(records), lambda i: "/".join(i.split("/")[:2]), limit):
        by_run = records[sample_id]
        first_run = next(r for r in runs if r.label in by_run)
        first = by_run[first_run.label]
        source = PurePosixPath(first.output)
        source_key = images.add_under(first_run.benchmarks["gedit"].folder,
                                      str(source.with_name(f"{source.stem}_SRCIMG.png")), GALLERY_SIDE)
        cells = []
        for run in runs:
            p = by_run.get(run.label)
            key = images.add_under(run.benchmarks["gedit"].folder, p.output, GALLERY_SIDE) if p else None
            cells.append({"images": [key], "marks": [], "score": edit_score(p)})
        rows.append({"prompt": first.question, "kind": "/".join(sample_id.split("/")[:2]), "source_image": source_key,
                     "cells": cells})
    return {"bench": "GEdit-Bench", "columns": [r.label for r in runs], "rows": rows, "source": True,
            "n_total": len(records)}


def edit_score(p: Prediction | None) -> str:
    if p is None:
        return "not run"
    if p.error:
        return "error"
    if p.method == "none":
        return "unparsed judge reply"
    v = p.values
    return f"O {v.get('O', 0):.2f} (SC {v.get('SC', 0):g}, PQ {v.get('PQ', 0):g})"
