"""HallusionBench, ShapesWorld edition, in the tianyi-lab/HallusionBench layout.

``HallusionBench.json`` (all fields strings, ``filename`` null for text-only questions) and
``hallusion_bench/<category>/<subcategory>/<set_id>_<figure_id>.png``.

- VD (visual dependent): figure 0 is an original scene (visual_input "1"), figure 1 an edited
  copy (visual_input "2") that changes a colour, swaps two shapes' positions or adds/removes a
  shape. Each set asks two questions of both figures; the edit flips both answers.
- VS (visual supplement): figure 0 is the question without an image (visual_input "0"),
  answerable from ShapesWorld common knowledge (a star has five points, an arrow one head, a
  heart is red); figure 1 shows a scene that agrees with it ("1"), figure 2 an edited scene
  that contradicts it ("2"), where the image, not the knowledge, decides the answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from sgt_eval.world.files import Sink, write_json
from sgt_eval.world.layout import Layout
from sgt_eval.world.sampling import (
    balanced,
    distinct_shapes,
    new_shape,
    retry,
    sample,
    scatter,
)
from sgt_eval.world.scene import COLORS, KINDS, Scene, Shape, plural

VD_SETS = 20  # sets at scale 1: 2 questions x 2 figures each
VS_SETS = 12  # sets at scale 1: 2 questions x 3 figures each
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six")
FOLDER = "hallusion_bench"


class Figure(NamedTuple):
    """One figure of a set: its image (None = text-only), the two answers, the truth in words."""

    layout: Layout | None
    answers: tuple[int, int]
    details: str


class QuestionSet(NamedTuple):
    category: str
    subcategory: str
    note: str
    questions: tuple[str, str]
    figures: list[Figure]


def _scene(rng: np.random.Generator, main: list[Shape]) -> list[Shape] | None:
    """The main shapes plus two or three shapes of other kinds and colours, none overlapping."""
    kinds = [k for k in KINDS if k not in {s.kind for s in main}]
    return scatter(rng, [*main, *distinct_shapes(rng, int(rng.integers(2, 4)), kinds=kinds, taken=main)])


def _edited(sink: Sink, shapes: list[Shape], index: int, **change: Any) -> Layout:
    """Render the scene with one shape changed."""
    return sink.layout(Scene(tuple(replace(s, **change) if i == index else s for i, s in enumerate(shapes))))


def _vd_colour(sink: Sink, rng: np.random.Generator) -> QuestionSet | None:
    (target,) = distinct_shapes(rng, 1)
    shapes = _scene(rng, [target])
    if shapes is None:
        return None
    old, new = target.color, sample(rng, [c for c in COLORS if c not in {s.color for s in shapes}], 1)[0]
    figures = [Figure(sink.layout(Scene(tuple(shapes))), (1, 0), f"The {target.kind} is {old}."),
               Figure(_edited(sink, shapes, 0, color=new), (0, 1), f"The {target.kind} is {new}, not {old}.")]
    questions = (f"Is the {target.kind} {old}?", f"Is the {target.kind} {new}?")
    return QuestionSet("VD", "figure", "colour", questions, figures)


def _vd_position(sink: Sink, rng: np.random.Generator) -> QuestionSet | None:
    a, b = distinct_shapes(rng, 2)
    b = replace(b, size=a.size)  # equal sizes: swapping their places cannot make them overlap anything
    shapes = _scene(rng, [a, b])
    if shapes is None:
        return None
    original = sink.layout(Scene(tuple(shapes)))
    swapped = [replace(shapes[0], x=shapes[1].x, y=shapes[1].y), replace(shapes[1], x=shapes[0].x, y=shapes[0].y)]
    edited = sink.layout(Scene((*swapped, *shapes[2:])))
    if original.relation("left of", 0, 1) is not True or edited.relation("left of", 0, 1) is not False:
        return None
    left, right = f"The {a.name} is to the left of the {b.name}.", f"The {a.name} is to the right of the {b.name}."
    questions = (f"Is the {a.name} to the left of the {b.name}?", f"Is the {a.name} to the right of the {b.name}?")
    return QuestionSet("VD", "figure", "position", questions, [Figure(original, (1, 0), left),
                                                               Figure(edited, (0, 1), right)])


def _vd_count(sink: Sink, rng: np.random.Generator) -> QuestionSet | None:
    kind = sample(rng, KINDS, 1)[0]
    n = int(rng.integers(2, 5))
    m = n + 1 if n == 2 or rng.random() < 0.5 else n - 1
    copies = scatter(rng, [new_shape(rng, kind, c) for c in sample(rng, list(COLORS), max(n, m))])
    others = copies and scatter(rng, distinct_shapes(rng, 2, kinds=[k for k in KINDS if k != kind], taken=copies),
                                fixed=copies)
    if not others:
        return None
    original, edited = [*copies[:n], *others], [*copies[:m], *others]
    noun = plural(kind)
    figures = [Figure(sink.layout(Scene(tuple(original))), (1, 0), f"There are {NUMBERS[n]} {noun} in the image."),
               Figure(sink.layout(Scene(tuple(edited))), (0, 1), f"There are {NUMBERS[m]} {noun} in the image.")]
    questions = (f"Are there exactly {NUMBERS[n]} {noun} in the image?",
                 f"Are there exactly {NUMBERS[m]} {noun} in the image?")
    return QuestionSet("VD", "math", "count", questions, figures)


def _vs(sink: Sink, rng: np.random.Generator, kind: str, color: str, change: dict[str, Any],
        questions: tuple[str, str], facts: tuple[str, str, str], note: str) -> QuestionSet | None:
    """A VS set: knowledge ``facts[0]``, an agreeing scene ``facts[1]``, a contradicting edit ``facts[2]``."""
    shapes = _scene(rng, [new_shape(rng, kind, color, (0.11, 0.14))])
    if shapes is None:
        return None
    figures = [Figure(None, (1, 0), facts[0]), Figure(sink.layout(Scene(tuple(shapes))), (1, 0), facts[1]),
               Figure(_edited(sink, shapes, 0, **change), (0, 1), facts[2])]
    return QuestionSet("VS", "figure", note, questions, figures)


def _vs_star(sink: Sink, rng: np.random.Generator) -> QuestionSet | None:
    return _vs(sink, rng, "star", sample(rng, list(COLORS), 1)[0], {"points": 6},
               ("Does the star have five points?", "Does the star have six points?"),
               ("A star has five points.", "The star in the image has five points.",
                "The star in the image has six points, not five."), "star points")


def _vs_arrow(sink: Sink, rng: np.random.Generator) -> QuestionSet | None:
    return _vs(sink, rng, "arrow", sample(rng, list(COLORS), 1)[0], {"heads": 2},
               ("Does the arrow have one head?", "Does the arrow have two heads?"),
               ("An arrow has one head.", "The arrow in the image has one head.",
                "The arrow in the image has two heads, not one."), "arrow heads")


def _vs_heart(sink: Sink, rng: np.random.Generator) -> QuestionSet | None:
    other = sample(rng, [c for c in COLORS if c not in ("red", "pink")], 1)[0]
    return _vs(sink, rng, "heart", "red", {"color": other}, ("Is the heart red?", f"Is the heart {other}?"),
               ("A heart is red.", "The heart in the image is red.", f"The heart in the image is {other}, not red."),
               "heart colour")


Builder = Callable[[Sink, np.random.Generator], QuestionSet | None]
VD_BUILDERS: tuple[Builder, ...] = (_vd_colour, _vd_position, _vd_count)
VS_BUILDERS: tuple[Builder, ...] = (_vs_star, _vs_arrow, _vs_heart)


def _rows(sink: Sink, qset: QuestionSet, set_id: int) -> list[dict[str, Any]]:
    rows, shown = [], 0
    for figure_id, figure in enumerate(qset.figures):
        filename = None
        if figure.layout is not None:
            shown += 1
            rel = f"{qset.category}/{qset.subcategory}/{set_id}_{figure_id}.png"
            sink.save(figure.layout, f"{FOLDER}/{rel}")
            filename = f"./{rel}"
        for question_id, (question, answer) in enumerate(zip(qset.questions, figure.answers)):
            rows.append({
                "category": qset.category, "subcategory": qset.subcategory,
                "visual_input": "0" if figure.layout is None else "1" if shown == 1 else "2",
                "set_id": str(set_id), "figure_id": str(figure_id), "sample_note": qset.note,
                "question_id": str(question_id), "question": question, "gt_answer_details": figure.details,
                "gt_answer": str(answer), "filename": filename,
            })
    return rows


def write(sink: Sink, rng: np.random.Generator, scale: int) -> int:
    """Write the HallusionBench folder; returns the number of questions."""
    plan = balanced(rng, VS_BUILDERS, VS_SETS * scale) + balanced(rng, VD_BUILDERS, VD_SETS * scale)
    set_ids: Counter = Counter()
    rows: list[dict[str, Any]] = []
    for build in plan:
        qset = retry(rng, lambda r: build(sink, r))
        key = (qset.category, qset.subcategory)
        rows += _rows(sink, qset, set_ids[key])
        set_ids[key] += 1
    write_json(sink.root / "HallusionBench.json", rows)
    return len(rows)
