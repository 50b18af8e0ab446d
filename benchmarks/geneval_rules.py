"""GenEval's scoring rules, as pure functions of detections (``evaluation/evaluate_images.py`` and
``evaluation/summary_scores.py`` of djghosh13/geneval).

Per image: keep each class's detections scoring above 0.3 (0.9 for ``counting`` prompts), most
confident first, at most 16; then every ``include`` clause must hold (count, then colour of the
first ``count`` objects, then their position against every object of the target clause) and no
``exclude`` clause may (``count`` or more detections of the class fail the image). Numbers are
compared in float32 where upstream's numpy arrays are float32 (scores, boxes), so borderline cases
fall the same way.

Summary: accuracy over images per tag, ``overall`` = the unweighted mean of the tag accuracies
present (not the share of correct images), plus the shares of correct images and of prompts with
at least one correct image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.detectors import ColorQuery, Detection

COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
RELATIONS = ("left of", "right of", "above", "below")
THRESHOLD = 0.3            # upstream option `threshold`
COUNTING_THRESHOLD = 0.9   # `counting_threshold`, used when the prompt's tag is "counting"
MAX_OBJECTS = 16           # `max_objects` per class
POSITION_THRESHOLD = 0.1   # `position_threshold`: margin as a fraction of the two box sizes
NO_RELATION = 1e-3         # revised offsets below this on both axes mean "no relation"

Objects = dict[str, list[Detection]]


def confidence_threshold(tag: str) -> float:
    """The confidence a detection must exceed for a prompt with this tag."""
    return COUNTING_THRESHOLD if tag == "counting" else THRESHOLD


def select_objects(detections: Iterable[Detection], tag: str) -> Objects:
    """Each class's kept detections, most confident first: score > threshold, at most 16.

    Upstream sorts with ``np.argsort(scores)[::-1]``; ties (equal float32 scores) go here to the
    detection listed later, as a stable ascending sort reversed would put them.
    """
    limit = np.float32(confidence_threshold(tag))
    by_class: dict[str, list[tuple[float, int, Detection]]] = {}
    for index, det in enumerate(detections):
        if np.float32(det.score) > limit:
            by_class.setdefault(det.label, []).append((float(np.float32(det.score)), index, det))
    return {label: [d for _, _, d in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)[:MAX_OBJECTS]]
            for label, found in by_class.items()}


def color_queries(objects: Objects, metadata: Mapping[str, Any]) -> dict[int, tuple[str, tuple[Detection, ...]]]:
    """The colour look-ups :func:`evaluate` needs: ``{include index: (class, first count objects)}``.

    Upstream classifies colours only for clauses with a ``color`` whose count is met, on the
    ``count`` most confident objects; computing them first lets a detector batch them.
    """
    needed = {}
    for n, clause in enumerate(metadata.get("include", [])):
        found = objects.get(clause["class"], [])[:clause["count"]]
        if "color" in clause and len(found) >= clause["count"]:
            needed[n] = (clause["class"], tuple(found))
    return needed


def relative_position(box_a: Sequence[float], box_b: Sequence[float]) -> set[str]:
    """Where box A is relative to box B: a subset of :data:`RELATIONS` (empty = no clear relation).

    The centre offset shrinks by ``0.1 x (size A + size B)`` on each axis (never past zero); if
    both revised components are under 1e-3 there is no relation; otherwise each relation holds
    when its revised component, divided by the length of the *unrevised* offset, passes 0.5.
    Computed in float32 like upstream's box arrays; y grows downwards.
    """
    boxes = np.array([box_a[:4], box_b[:4]], dtype=np.float32).reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - np.float32(POSITION_THRESHOLD) * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < NO_RELATION):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    found = set()
    if dx < -0.5:
        found.add("left of")
    if dx > 0.5:
        found.add("right of")
    if dy < -0.5:
        found.add("above")
    if dy > 0.5:
        found.add("below")
    return found


def evaluate(objects: Objects, metadata: Mapping[str, Any], colors: Mapping[int, Sequence[str]]) -> tuple[bool, str]:
    """Whether an image satisfies its prompt, and why not.

    Parameters
    ----------
    objects
        :func:`select_objects` of the image's detections.
    metadata
        The prompt's metadata line (``include`` clauses ANDed, ``exclude`` clauses ORed).
    colors
        For each index :func:`color_queries` asked about, the colour word of each of its objects.

    Returns
    -------
    correct, reason
        ``reason`` lists every failed clause (``"; "``-joined), or what was found when correct.
    """
    problems: list[str] = []
    groups: list[list[Detection] | None] = []  # per include clause: its objects, or None if it failed
    for n, clause in enumerate(metadata.get("include", [])):
        name, count = clause["class"], clause["count"]
        found = objects.get(name, [])[:count]
        ok = len(found) >= count
        if not ok:
            problems.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in clause:
                named = list(colors[n])
                if named.count(clause["color"]) < count:
                    ok = False
                    seen = ", ".join(f"{named.count(c)} {c}" for c in COLORS if c in named)
                    problems.append(f"expected {clause['color']} {name}>={count}, found "
                                    f"{named.count(clause['color'])} {clause['color']} ({seen})")
            if "position" in clause and ok:
                ok = _position_holds(name, found, clause["position"], groups, problems)
        groups.append(found if ok else None)
    for clause in metadata.get("exclude", []):
        name, count = clause["class"], clause["count"]
        if len(objects.get(name, [])) >= count:
            problems.append(f"expected {name}<{count}, found {len(objects[name])}")
    if problems:
        return False, "; ".join(problems)
    return True, "found " + (", ".join(f"{len(v)} {k}" for k, v in sorted(objects.items())) or "nothing")


def _position_holds(name: str, found: list[Detection], position: Sequence[Any],
                    groups: list[list[Detection] | None], problems: list[str]) -> bool:
    """Every found object must stand in the relation to every object of the target clause;
    upstream reports only the first failing pair."""
    relation, target = position
    if groups[target] is None:
        problems.append(f"no target for {name} to be {relation}")
        return False
    for obj in found:
        for other in groups[target]:
            actual = relative_position(obj.box, other.box)
            if relation not in actual:
                problems.append(f"expected {name} {relation} target, found "
                                f"{' and '.join(sorted(actual)) or 'no relation to the'} target")
                return False
    return True


def queries_for(image: Image.Image, needed: Mapping[int, tuple[str, tuple[Detection, ...]]]) -> list[ColorQuery]:
    """:class:`ColorQuery` objects for one image's :func:`color_queries`, in clause order."""
    return [ColorQuery(image, objs, name) for _, (name, objs) in sorted(needed.items())]


# -- summary ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageResult:
    """What the summary needs of one scored image."""

    tag: str
    prompt: str   # identifies the prompt (upstream groups by the metadata JSON)
    correct: bool


def prompt_key(metadata: Mapping[str, Any]) -> str:
    """A canonical string of a metadata line, the unit of "% correct prompts"."""
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False)


def summarize(results: Iterable[ImageResult]) -> dict[str, Any]:
    """``summary_scores.py`` from integer counts, so the order of ``results`` changes no digit.

    Returns
    -------
    dict
        ``overall`` (mean of the tag accuracies present; None with no images), ``tasks``
        (accuracy per tag: official tags in upstream order, then any others sorted),
        ``counts`` (``{tag: {"correct", "total"}}``), ``images_correct``, ``prompts_correct``,
        ``n_images`` and ``n_prompts``.
    """
    right: dict[str, int] = {}
    total: dict[str, int] = {}
    prompts: dict[str, bool] = {}
    for r in results:
        total[r.tag] = total.get(r.tag, 0) + 1
        right[r.tag] = right.get(r.tag, 0) + int(r.correct)
        prompts[r.prompt] = prompts.get(r.prompt, False) or r.correct
    order = [t for t in TAGS if t in total] + sorted(t for t in total if t not in TAGS)
    tasks = {t: right[t] / total[t] for t in order}
    n_images = sum(total.values())
    return {
        "overall": math.fsum(tasks.values()) / len(tasks) if tasks else None,
        "tasks": tasks,
        "counts": {t: {"correct": right[t], "total": total[t]} for t in order},
        "images_correct": sum(right.values()) / n_images if n_images else None,
        "prompts_correct": sum(prompts.values()) / len(prompts) if prompts else None,
        "n_images": n_images,
        "n_prompts": len(prompts),
    }
