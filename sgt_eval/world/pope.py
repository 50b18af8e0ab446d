"""POPE, ShapesWorld edition, in the RUCAIBox/POPE layout.

Three label files ``coco_pope_{random,popular,adversarial}.json`` (JSON lines despite the
extension) over the same images in ``val2014/``: six questions an image, alternating yes/no,
"Is there a <kind> in the image?". The yes questions name three kinds in the scene and are the
same in every split; the no questions name absent kinds chosen as POPE does: at random, among
the kinds most frequent in the image set, or among those that co-occur most with the kinds present.

Scenes follow a prior with unequal kind frequencies and themed co-occurrence so the three
negative-sampling strategies really differ.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any

import numpy as np

from sgt_eval.world.files import Sink, write_jsonl
from sgt_eval.world.layout import Layout
from sgt_eval.world.sampling import (
    distinct_shapes,
    new_shape,
    pick,
    retry,
    sample,
    scatter,
)
from sgt_eval.world.scene import COLORS, KINDS, Scene, with_article

IMAGES = 10      # images at scale 1 (6 questions each per split)
PER_IMAGE = 3    # yes and no questions an image
MIN_VISIBLE = 0.6
SPLITS = ("random", "popular", "adversarial")
# Kinds that like to appear together, and how much more often kinds are drawn inside their theme.
THEMES = (("circle", "heart", "pentagon", "hexagon"), ("star", "triangle", "diamond", "arrow"),
          ("square", "cross", "hexagon", "diamond"))
THEME_BOOST = 4.0
# Base popularity falls off with the position in KINDS (a Zipf-like prior).
BASE_WEIGHT = {k: 1.0 / (rank + 1) ** 0.7 for rank, k in enumerate(KINDS)}


def _kinds(rng: np.random.Generator) -> list[str]:
    """3 to 5 distinct kinds drawn from the themed, unequal prior."""
    theme = pick(rng, THEMES)
    weights = np.array([BASE_WEIGHT[k] * (THEME_BOOST if k in theme else 1.0) for k in KINDS])
    n = int(rng.integers(3, 6))
    return [KINDS[int(i)] for i in rng.choice(len(KINDS), size=n, replace=False, p=weights / weights.sum())]


def _scene(sink: Sink, rng: np.random.Generator) -> Layout | None:
    kinds = _kinds(rng)
    specs = [new_shape(rng, k, c) for k, c in zip(kinds, sample(rng, list(COLORS), len(kinds)))]
    if rng.random() < 0.5:  # sometimes a second shape of a kind already present
        specs += distinct_shapes(rng, 1, kinds=kinds, taken=specs)
    placed = scatter(rng, specs, gap=-0.02)  # circles may overlap a little; MIN_VISIBLE keeps shapes clear
    if placed is None:
        return None
    layout = sink.layout(Scene(tuple(placed)))
    return layout if all(layout.visible_fraction(i) >= MIN_VISIBLE for i in range(len(placed))) else None


def _ranked(scores: Counter, candidates: set[str]) -> list[str]:
    """Candidates by decreasing score; ties keep the KINDS order so the ranking is deterministic."""
    return sorted(candidates, key=lambda k: (-scores[k], KINDS.index(k)))


def _negatives(rng: np.random.Generator, present: set[str], frequency: Counter,
               cooccurrence: dict[str, Counter]) -> dict[str, list[str]]:
    absent = set(KINDS) - present
    together: Counter = Counter()
    for kind in present:
        together.update(cooccurrence[kind])
    return {
        "random": sample(rng, sorted(absent, key=KINDS.index), PER_IMAGE),
        "popular": _ranked(frequency, absent)[:PER_IMAGE],
        "adversarial": _ranked(together, absent)[:PER_IMAGE],
    }


def _question(qid: int, image: str, kind: str, label: str) -> dict[str, Any]:
    return {"question_id": qid, "image": image, "text": f"Is there {with_article(kind)} in the image?", "label": label}


def write(sink: Sink, rng: np.random.Generator, scale: int) -> int:
    """Write the POPE folder; returns the number of questions over the three splits."""
    images, kinds_of = [], []
    for k in range(IMAGES * scale):
        layout = retry(rng, lambda r: _scene(sink, r))
        image = f"ShapesWorld_val2014_{k + 1:012d}.png"
        sink.save(layout, f"val2014/{image}")
        images.append(image)
        kinds_of.append(layout.scene.kinds())
    frequency: Counter = Counter(k for kinds in kinds_of for k in kinds)
    cooccurrence: dict[str, Counter] = {k: Counter() for k in KINDS}
    for kinds in kinds_of:
        for a, b in combinations(sorted(kinds), 2):
            cooccurrence[a][b] += 1
            cooccurrence[b][a] += 1
    rows: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for image, kinds in zip(images, kinds_of):
        yes = sample(rng, sorted(kinds, key=KINDS.index), PER_IMAGE)
        negatives = _negatives(rng, kinds, frequency, cooccurrence)
        for split in SPLITS:
            for pos, neg in zip(yes, negatives[split]):
                qid = len(rows[split]) + 1
                rows[split] += [_question(qid, image, pos, "yes"), _question(qid + 1, image, neg, "no")]
    for split in SPLITS:
        write_jsonl(sink.root / f"coco_pope_{split}.json", rows[split])
    return sum(len(r) for r in rows.values())
