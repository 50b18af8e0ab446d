"""GenEval, ShapesWorld edition, in the djghosh13/geneval prompt layout.

``evaluation_metadata.jsonl`` has one prompt a line in the official format: ``tag``, ``include``
(``class``, ``count``, optional ``color``, optional ``position: [relation, target index]``),
optional ``exclude`` (``class``, ``count``; counting prompts exclude one more than asked, as the
official file does) and ``prompt``. Classes are the shape kinds, colours GenEval's ten, and the
six official tags come in the official order. ``evaluation_metadata_long.jsonl`` repeats every
line with a long descriptive prompt (as BAGEL's rewritten set does); ``generation_prompts.txt``
lists the short prompts and ``object_names.txt`` the classes. The marker ``shapesworld.json``
tells the GenEval scorer that it reads ShapesWorld images.

:func:`render_geneval_truth` draws an image that GenEval's rules score correct for a metadata line
(with a detector that finds every shape exactly): an oracle for tests of the scorer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations, permutations
from typing import Any

import numpy as np
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.world.files import Sink, write_jsonl, write_lines
from sgt_eval.world.layout import Layout, Region
from sgt_eval.world.sampling import balanced, new_shape, pick, retry, sample, scatter
from sgt_eval.world.scene import COLORS, IMAGE_SIZE, KINDS, Scene, plural, render, with_article

TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
PER_TAG = 10          # prompts a tag at scale 1 (fewer when the tag has fewer distinct prompts)
COUNTS = (2, 3, 4)    # the official counting prompts ask for two to four objects
NUMBERS = {2: "two", 3: "three", 4: "four"}
POSITIONS = ("left of", "right of", "above", "below")
OPENING = "a picture of"  # the official prompts' "a photo of", for drawings
MAX_OBJECTS = 6       # shapes in a truth image, distractors included (more rarely fit)
ACROSS = 0.8          # see _clearly
# How a long prompt says where the second object of a position prompt is, relative to the first.
WHERE = {"left of": "to its left", "right of": "to its right", "above": "above it", "below": "below it"}
WHOLE = "Both are flat, solid shapes with crisp edges, fully visible inside the frame."

Clause = dict[str, Any]


def _groups(tag: str) -> list[list[list[Clause]]]:
    """Every ``include`` list a tag can have, grouped so that drawing evenly from the groups
    spreads counts, colours and relations."""
    def one(kind: str, **extra: Any) -> Clause:
        return {"class": kind, "count": 1, **extra}

    if tag == "single_object":
        return [[[one(k)] for k in KINDS]]
    if tag == "two_object":
        return [[[one(a), one(b)] for a, b in combinations(KINDS, 2)]]
    if tag == "counting":
        return [[[{"class": k, "count": n}] for k in KINDS] for n in COUNTS]
    if tag == "colors":
        return [[[one(k, color=c)] for k in KINDS] for c in COLORS]
    if tag == "position":  # the second object is placed relative to the first (index 0)
        return [[[one(a), one(b, position=[rel, 0])] for a, b in permutations(KINDS, 2)] for rel in POSITIONS]
    return [[[one(a, color=ca), one(b, color=cb)]
             for a, b in permutations(KINDS, 2) for ca, cb in permutations(COLORS, 2)]]


def _spread(rng: np.random.Generator, groups: Sequence[Sequence[list[Clause]]], n: int) -> list[list[Clause]]:
    """``n`` distinct items (at most all of them) taken in turn from the shuffled, equal-sized groups."""
    pools = [[group[int(i)] for i in rng.permutation(len(group))] for group in groups]
    order = balanced(rng, list(range(len(groups))), min(n, sum(map(len, groups))))
    return [pools[g].pop() for g in order]


def _phrase(clause: Clause) -> str:
    """``"a red circle"``, ``"an arrow"``."""
    return with_article(f"{clause['color']} {clause['class']}" if "color" in clause else clause["class"])


def short_prompt(line: Mapping[str, Any]) -> str:
    """The prompt in the official wording, with "a picture of" for "a photo of"."""
    include = line["include"]
    if line["tag"] == "counting":
        return f"{OPENING} {NUMBERS[include[0]['count']]} {plural(include[0]['class'])}"
    if line["tag"] == "position":
        return f"{OPENING} {_phrase(include[1])} {include[1]['position'][0]} {_phrase(include[0])}"
    return f"{OPENING} {' and '.join(_phrase(c) for c in include)}"


def long_prompt(line: Mapping[str, Any]) -> str:
    """A few descriptive sentences saying the same as the short prompt, in the spirit of BAGEL's
    rewritten prompts: what is drawn, its colours, where, and that every object is in full view."""
    tag, include = line["tag"], line["include"]
    first = include[0]
    kind = first["class"]
    if tag == "single_object":
        return (f"A single {kind} is drawn on a plain grey background. It is a flat, solid shape with crisp "
                f"edges and no shading or texture, and the whole {kind} is visible inside the frame.")
    if tag == "counting":
        number, kinds = NUMBERS[first["count"]], plural(kind)
        return (f"Exactly {number} {kinds} are spread across a plain grey background, with open space around "
                f"each so that none of them touches another. Every one is a flat, solid shape with crisp edges, "
                f"fully visible inside the frame, and there are no other {kinds} anywhere in the picture.")
    if tag == "colors":
        return (f"{_phrase(first).capitalize()} is drawn on a plain grey background. The {kind} is filled with "
                f"one even shade of {first['color']} from edge to edge, without gradient, outline or texture, "
                f"and it is fully visible inside the frame.")
    second = include[1]
    if tag == "position":
        return (f"{_phrase(first).capitalize()} is drawn on a plain grey background, and {_phrase(second)} "
                f"sits {WHERE[second['position'][0]]}, with clear space between the two. {WHOLE}")
    pair = f"{_phrase(first).capitalize()} and {_phrase(second)} are drawn apart from each other on a plain grey " \
           f"background, so that neither covers the other."
    if tag == "color_attr":
        pair += (f" The {kind} is entirely {first['color']} and the {second['class']} entirely "
                 f"{second['color']}, each filled with one even shade.")
    return f"{pair} {WHOLE}"


def _line(tag: str, include: list[Clause]) -> dict[str, Any]:
    """A metadata line with the official key order: tag, include, exclude, prompt."""
    line: dict[str, Any] = {"tag": tag, "include": include}
    if tag == "counting":
        line["exclude"] = [{"class": c["class"], "count": c["count"] + 1} for c in include]
    line["prompt"] = short_prompt(line)
    return line


def write(sink: Sink, rng: np.random.Generator, scale: int) -> int:
    """Write the GenEval folder; returns the number of prompts."""
    lines = []
    for tag in TAGS:
        for include in _spread(rng, _groups(tag), PER_TAG * scale):
            lines.append(_line(tag, sample(rng, include, 2) if tag == "two_object" else include))
    write_jsonl(sink.root / "evaluation_metadata.jsonl", lines)
    write_jsonl(sink.root / "evaluation_metadata_long.jsonl", [{**ln, "prompt": long_prompt(ln)} for ln in lines])
    write_lines(sink.root / "generation_prompts.txt", [ln["prompt"] for ln in lines])
    write_lines(sink.root / "object_names.txt", KINDS)
    sink.mark(classes=list(KINDS))
    return len(lines)


# -- ground truth ------------------------------------------------------------------------------
def _fail(field: str, problem: str) -> UserError:
    return UserError(f"GenEval metadata {field} {problem}")


def _checked(meta: Mapping[str, Any]) -> tuple[list[Clause], set[str]]:
    """The include clauses and every class the line names, after checking ShapesWorld can draw them."""
    include = meta.get("include")
    if not isinstance(include, list) or not include:
        raise _fail("'include'", "must be a non-empty list of {class, count} objects")
    seen: dict[str, int] = {}
    for n, clause in enumerate(include):
        where = f"include[{n}]"
        if clause.get("class") not in KINDS or clause["class"] in seen:
            raise _fail(f"{where}.class", f"{clause.get('class')!r} must be a ShapesWorld class named once "
                                          f"({', '.join(KINDS)})")
        count = clause.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise _fail(f"{where}.count", f"{count!r} must be a positive integer")
        if "color" in clause and clause["color"] not in COLORS:
            raise _fail(f"{where}.color", f"{clause['color']!r} must be one of {', '.join(COLORS)}")
        position = clause.get("position")
        if position is not None and (not isinstance(position, list) or len(position) != 2
                                     or position[0] not in POSITIONS or position[1] not in range(n)):
            raise _fail(f"{where}.position", f"{position!r} must be [relation, index of an earlier clause] "
                                             f"with a relation in {', '.join(POSITIONS)}")
        seen[clause["class"]] = count
    if sum(seen.values()) > MAX_OBJECTS:
        raise _fail("'include'", f"asks for {sum(seen.values())} objects; ShapesWorld draws at most {MAX_OBJECTS}")
    for n, clause in enumerate(meta.get("exclude") or []):
        kind, count = clause.get("class"), clause.get("count")
        if kind not in KINDS or not isinstance(count, int) or count <= seen.get(kind, 0):
            raise _fail(f"exclude[{n}]", f"{clause!r} must name a ShapesWorld class and a count above the "
                                         f"included count of that class")
        seen.setdefault(kind, 0)
    return include, set(seen)


def _clearly(rel: str, a: Region, b: Region) -> bool:
    """Whether GenEval's position rule finds "``a`` is ``rel`` ``b``" from the boxes, with room to spare.

    The boxes must be apart along the relation's axis, so the rule's margin of 0.1 x (sum of the
    box sides) takes at most about a fifth of the centre offset along it; the centres must also be
    offset across the axis by at most ``ACROSS`` times as much, which keeps the normalised revised
    offset at about 0.8 / sqrt(1 + 0.8**2) = 0.62 or more, above the rule's 0.5, whichever box
    convention a detector uses (inclusive or exclusive far corner).
    """
    axis = 0 if rel in ("left of", "right of") else 1
    before, after = (a, b) if rel in ("left of", "above") else (b, a)
    if before.bbox[axis + 2] >= after.bbox[axis]:
        return False

    def centre(r: Region, ax: int) -> float:
        return (r.bbox[ax] + r.bbox[ax + 2]) / 2

    along = abs(centre(a, axis) - centre(b, axis))
    return abs(centre(a, 1 - axis) - centre(b, 1 - axis)) <= ACROSS * along


def _truth(include: list[Clause], named: set[str], rng: np.random.Generator, size: int) -> Scene | None:
    specs, groups = [], []
    for clause in include:
        groups.append(range(len(specs), len(specs) + clause["count"]))
        specs += [new_shape(rng, clause["class"], clause.get("color") or pick(rng, list(COLORS)))
                  for _ in range(clause["count"])]
    # a few shapes of classes the line does not name: GenEval's rules look only at named classes
    free = [k for k in KINDS if k not in named]
    extra = min(int(rng.integers(0, 3)), MAX_OBJECTS - len(specs))
    specs += [new_shape(rng, kind, pick(rng, list(COLORS))) for kind in sample(rng, free, extra)]
    placed = scatter(rng, specs)  # apart from each other, so every shape is whole and its own instance
    if placed is None:
        return None
    scene = Scene(tuple(placed))
    if any("position" in c for c in include):
        regions = Layout(scene, size).regions
        for clause, group in zip(include, groups):
            if "position" in clause:
                rel, target = clause["position"]
                if not all(_clearly(rel, regions[i], regions[j]) for i in group for j in groups[target]):
                    return None
    return scene


def geneval_truth_scene(meta: Mapping[str, Any], rng: np.random.Generator, size: int = IMAGE_SIZE) -> Scene:
    """A scene whose rendering satisfies a GenEval metadata line.

    Parameters
    ----------
    meta
        One line of ``evaluation_metadata.jsonl`` (``include`` and optional ``exclude``) over
        ShapesWorld classes and GenEval's colours.
    rng
        Where every random choice comes from.
    size
        Side in pixels of the image the scene is checked for (relations are checked on its pixels).

    Returns
    -------
    Scene
        Each included class exactly ``count`` times, in its colour if one is asked, shapes apart
        from each other (so each is one whole instance), position clauses true under GenEval's
        0.1-margin rule for every pair, excluded classes below their limit, and zero to two
        shapes of classes the line does not mention.

    Raises
    ------
    UserError
        If the line names a class or colour ShapesWorld lacks, or cannot be satisfied.
    """
    # exclude limits hold by construction: included classes appear exactly count times, others never
    include, named = _checked(meta)
    return retry(rng, lambda r: _truth(include, named, r, size))


def render_geneval_truth(meta: Mapping[str, Any], rng: np.random.Generator, size: int = IMAGE_SIZE) -> Image.Image:
    """Render :func:`geneval_truth_scene`: an image GenEval's rules score correct for ``meta``."""
    return render(geneval_truth_scene(meta, rng, size), size)[0]
