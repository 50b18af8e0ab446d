"""Samples whose correctness flipped between the baseline and another run: wrong -> right ("fixed")
and right -> wrong ("broken"), with what each run said, how it was read and the image asked about.

Every flip is counted; at most ``limit`` per benchmark, run and direction are shown (in id order),
with outputs cut to ``OUTPUT_CHARS`` characters (the full text is in ``predictions.jsonl``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reports.images import ImageStore
from reports.runs import Run
from sgt_eval.records import Prediction

OUTPUT_CHARS = 600
META_SKIP = {"include", "exclude", "prompt_index"}  # GenEval's clauses are the prompt restated


def collect_flips(baseline: Run, others: list[Run], images: ImageStore, limit: int) -> dict[str, Any]:
    """``{"items": [...], "totals": [...]}`` for the report's JSON (text is rendered as text only)."""
    items: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for run in others:
        for name, result in run.benchmarks.items():
            base = baseline.benchmarks.get(name)
            if base is None or not (base.binary and result.binary):
                continue
            common = sorted(set(base.predictions) & set(result.predictions), key=natural)
            counts = {"fixed": 0, "broken": 0}
            for sample_id in common:
                right_before, right_now = (bool(r.predictions[sample_id].correct) for r in (base, result))
                if right_before == right_now:
                    continue
                direction = "fixed" if right_now else "broken"
                counts[direction] += 1
                if counts[direction] <= limit:
                    items.append(flip(name, sample_id, baseline, run, direction, images))
            totals.append({"bench": result.benchmark.title, "run": run.label, "n_common": len(common), **counts,
                           "shown": {k: min(v, limit) for k, v in counts.items()}})
    return {"items": items, "totals": totals}


def flip(name: str, sample_id: str, baseline: Run, run: Run, direction: str, images: ImageStore) -> dict[str, Any]:
    base, result = baseline.benchmarks[name], run.benchmarks[name]
    a, b = base.predictions[sample_id], result.predictions[sample_id]
    item: dict[str, Any] = {"bench": result.benchmark.title, "run": run.label, "direction": direction, "id": a.id,
                            "question": b.question or a.question, "meta": meta_text(a.meta),
                            "base": said(a), "other": said(b)}
    if result.benchmark.task == "answer":
        root = baseline.data_root() or run.data_root()
        item["image"] = images.add_under(root / name if root else None, a.image or b.image)
    else:  # the generated images are what flipped
        item["base"]["image"] = images.add_under(base.folder, a.output)
        item["other"]["image"] = images.add_under(result.folder, b.output)
    return item


def natural(sample_id: str) -> list[Any]:
    """Sort key that puts "9" before "10" (and "random/9" before "random/10")."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", sample_id)]


def said(p: Prediction) -> dict[str, Any]:
    output = p.output if len(p.output) <= OUTPUT_CHARS else p.output[:OUTPUT_CHARS] + " [...]"
    return {"output": output, "parsed": p.parsed, "method": p.method, "error": p.error}


def meta_text(meta: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in meta.items() if k not in META_SKIP)
