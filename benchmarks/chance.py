"""What an answer benchmark's headline is worth without looking at the image.

Two floors, both scored by the benchmark's own ``grade`` and ``aggregate`` (so they are exact for
headlines that are not plain accuracy: POPE's F1, MMVP's pairs, HallusionBench's aAcc):

- **uniform guessing**: the expected headline when every answer is drawn uniformly from the sample's
  options (its lettered choices, else yes / no), estimated over seeded draws;
- **best constant answer**: the highest headline of one answer given to every question ("A",
  "yes", ...). A model that learned the answer prior but not to look reaches this floor, so it is
  the one to beat (POPE: always "yes" is 66.7 F1 where guessing is 50).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.answers import option_letters
from benchmarks.base import Benchmark
from sgt_eval.records import Sample

YES_NO = ("yes", "no")


@dataclass(frozen=True)
class Floors:
    """Headline values (the benchmark's own units) of the two blind answerers."""

    uniform: float | None         # None: the headline is undefined on these samples (e.g. a missing stratum)
    constant: float | None
    constant_answer: str


def options(sample: Sample) -> tuple[str, ...]:
    """The answers a blind guesser chooses among."""
    return option_letters(len(sample.choices)) if sample.choices else YES_NO


def headline(bench: Benchmark, samples: Sequence[Sample], outputs: Sequence[str]) -> float | None:
    """The benchmark's own headline for these raw outputs (None when undefined, e.g. a source is missing)."""
    return bench.aggregate(bench.grade(samples, outputs))["headline"]["value"]


def floors(bench: Benchmark, samples: Sequence[Sample], draws: int = 200, seed: int = 0) -> Floors:
    """Both floors of ``bench`` on ``samples`` (``draws`` seeded uniform draws)."""
    if bench.task != "answer":
        raise ValueError(f"{bench.name} is scored on images: it has no answer floors")
    rng = random.Random(seed)
    choices = [options(s) for s in samples]
    values = [headline(bench, samples, [rng.choice(c) for c in choices]) for _ in range(draws)]
    if None in values:  # undefined for one draw is undefined for all: the samples miss a stratum
        return Floors(None, None, "")
    candidates = dict.fromkeys(answer for c in choices for answer in c)
    # a constant the sample cannot take (a letter past its options) falls back to its first option;
    # an undefined headline (POPE's F1 when nothing is called positive) scores nothing
    scored = {a: headline(bench, samples, [a if a in c else c[0] for c in choices]) or 0.0 for a in candidates}
    best = max(scored, key=scored.__getitem__)
    return Floors(sum(values) / draws, scored[best], best)
