"""VSR, ShapesWorld edition, in the cambridgeltl/visual-spatial-reasoning layout.

Each image carries one true and one false caption "The <subj> is <relation> the <obj>." with
relations from the real VSR list that mean something for flat shapes. The false caption swaps
subject and object (for relations with a converse) or names a third shape for which the
relation is clearly false (near, far from, touching), so labels are balanced per relation.

``splits/zeroshot`` splits by image (no test image is seen in train); ``splits/random`` splits
captions at random, as the real random split does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from sgt_eval.world.files import Sink, write_jsonl
from sgt_eval.world.layout import CONVERSE, RELATIONS, Layout
from sgt_eval.world.sampling import (
    balanced,
    distinct_shapes,
    place_near,
    retry,
    scatter,
    uniform,
)
from sgt_eval.world.scene import Scene, Shape

IMAGES = 100  # images at scale 1 (two captions each)
SPLIT_SHARES = (("test", 0.6), ("dev", 0.1), ("train", 0.3))
META_CATEGORIES = {
    "Projective": ("left of", "right of", "above", "below", "in front of", "behind"),
    "Proximity": ("near", "far from"),
    "Topological": ("touching",),
}


def _pair(rng: np.random.Generator, rel: str) -> list[Shape] | None:
    """Subject (first) and object (second) placed so that ``rel`` is likely true of them."""
    a, b = distinct_shapes(rng, 2)
    if rel in ("in front of", "behind", "touching"):
        placed = scatter(rng, [b])
        overlap = (0.6, 0.85) if rel != "touching" else (0.8, 0.95)
        reach = a.size + b.size
        a = placed and place_near(rng, placed[0], a, overlap[0] * reach, overlap[1] * reach)
        if not a or not placed:
            return None
        near, far = uniform(rng, 1.0, 4.0), uniform(rng, 6.0, 10.0)
        a_depth, b_depth = (near, far) if rel != "behind" else (far, near)
        return [replace(a, depth=a_depth), replace(placed[0], depth=b_depth)]
    if rel in ("near", "far from"):
        placed = scatter(rng, [b])
        lo, hi = (a.size + b.size, a.size + b.size + 0.03) if rel == "near" else (0.55, 0.9)
        a = placed and place_near(rng, placed[0], a, lo, hi, others=placed, gap=0.0)
        return [a, placed[0]] if a and placed else None
    return scatter(rng, [a, b])


def _third(rng: np.random.Generator, rel: str, pair: list[Shape]) -> Shape | None:
    """A third shape; for a symmetric relation, one of which it is clearly false of the subject."""
    (c,) = distinct_shapes(rng, 1, taken=pair)
    if rel in CONVERSE:
        placed = scatter(rng, [c], fixed=pair)
        return placed[0] if placed else None
    a = pair[0]
    lo, hi = (a.size + c.size, a.size + c.size + 0.03) if rel == "far from" else (0.55, 0.9)
    return place_near(rng, a, c, lo, hi, others=pair, gap=0.0 if rel == "far from" else 0.1)


def _scene(sink: Sink, rng: np.random.Generator, rel: str) -> Layout | None:
    pair = _pair(rng, rel)
    third = pair and _third(rng, rel, pair)
    if not third:
        return None
    layout = sink.layout(Scene((*pair, third)))
    false_ok = layout.relation(rel, 1, 0) is False if rel in CONVERSE else layout.relation(rel, 0, 2) is False
    return layout if layout.relation(rel, 0, 1) is True and false_ok else None


def _captions(layout: Layout, rel: str) -> list[tuple[str, str, int]]:
    """(subject, object, label) of the true and the false caption."""
    a, b, c = (s.name for s in layout.scene.shapes)
    false = (b, a) if rel in CONVERSE else (a, c)
    return [(a, b, 1), (*false, 0)]


class Caption(NamedTuple):
    image_index: int
    image: str
    subj: str
    obj: str
    relation: str
    label: int


def _row(c: Caption, zeroshot: bool) -> dict[str, Any]:
    votes = ("[1, 2]", "[]") if c.label else ("[]", "[1, 2]")
    row: dict[str, Any] = {"image": c.image, "image_link": f"shapesworld://vsr/images/{c.image}",
                           "caption": f"The {c.subj} is {c.relation} the {c.obj}.", "label": c.label,
                           "relation": c.relation}
    if zeroshot:  # the zeroshot files name subject and object; the random ones a reference frame
        row.update(subj=c.subj, obj=c.obj)
    row.update(annotator_id=0, vote_true_validator_id=votes[0], vote_false_validator_id=votes[1])
    if not zeroshot:
        row["reference_frame"] = None
    return row


def _split(order: np.ndarray) -> dict[str, set[int]]:
    """Cut a permutation into the test/dev/train shares."""
    out, start = {}, 0
    for k, (name, share) in enumerate(SPLIT_SHARES):
        end = len(order) if k == len(SPLIT_SHARES) - 1 else start + round(share * len(order))
        out[name] = {int(i) for i in order[start:end]}
        start = end
    return out


def write(sink: Sink, rng: np.random.Generator, scale: int) -> int:
    """Write the VSR folder; returns the number of zeroshot test captions."""
    captions: list[Caption] = []
    for k, rel in enumerate(balanced(rng, RELATIONS, IMAGES * scale)):
        layout = retry(rng, lambda r: _scene(sink, r, rel))
        image = f"{k + 1:012d}.png"
        sink.save(layout, f"images/{image}")
        pairs = _captions(layout, rel)
        captions += [Caption(k, image, *pairs[int(j)][:2], rel, pairs[int(j)][2]) for j in rng.permutation(2)]
    by_image = _split(rng.permutation(IMAGES * scale))
    by_caption = _split(rng.permutation(len(captions)))
    for name, _ in SPLIT_SHARES:
        zeroshot = [_row(c, True) for c in captions if c.image_index in by_image[name]]
        random = [_row(c, False) for i, c in enumerate(captions) if i in by_caption[name]]
        write_jsonl(sink.root / "splits" / "zeroshot" / f"{name}.jsonl", zeroshot)
        write_jsonl(sink.root / "splits" / "random" / f"{name}.jsonl", random)
    lines = [f"{cat}: {', '.join(rels)}\n" for cat, rels in META_CATEGORIES.items()]
    (sink.root / "rel_meta_category_dict.txt").write_text("".join(lines), encoding="utf-8")
    return sum(1 for c in captions if c.image_index in by_image["test"])
