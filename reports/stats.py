"""Statistics for checkpoints scored on the same samples: a paired cluster bootstrap and McNemar's test.

The bootstrap resamples a benchmark's units (questions, MMVP pairs, HallusionBench question sets,
GenEval prompts) within their strata (POPE splits, CV-Bench sources, GenEval tasks), with the same
draws for every checkpoint, and recomputes each headline from :class:`benchmarks.headline.HeadlineParts`.
The interval is the percentile interval of the replicates. ``naive_replicates`` is the same computation
as a plain loop, kept as the reference the vectorised one is tested against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from benchmarks.headline import HeadlineParts, combine

N_BOOT = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval.

    ``n_undefined`` counts replicates in which a ratio had nothing to count (e.g. a resample with no
    scored sample in a GEdit-Bench group); the interval is taken over the others.
    """

    estimate: float | None
    low: float | None
    high: float | None
    n_units: int
    n_boot: int
    n_undefined: int = 0

    def to_json(self) -> dict[str, float | int | None]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n_units": self.n_units,
                "n_boot": self.n_boot, "n_undefined": self.n_undefined}


@dataclass(frozen=True)
class McNemar:
    """Exact two-sided McNemar test on paired binary outcomes.

    ``b``: right for the baseline only; ``c``: right for the other checkpoint only. Under the null
    hypothesis each of the ``b + c`` discordant units is equally likely to fall either way, so
    ``p = min(1, 2 * P(Binomial(b + c, 1/2) <= min(b, c)))``.
    """

    b: int
    c: int
    n: int
    p: float

    def to_json(self) -> dict[str, float | int]:
        return {"b": self.b, "c": self.c, "n": self.n, "p": self.p}


def mcnemar(baseline: Mapping[str, bool], other: Mapping[str, bool]) -> McNemar:
    """McNemar's exact test over the keys both mappings share."""
    common = baseline.keys() & other.keys()
    b = sum(baseline[k] and not other[k] for k in common)
    c = sum(other[k] and not baseline[k] for k in common)
    p = 1.0 if b + c == 0 else min(1.0, 2.0 * float(binom.cdf(min(b, c), b + c, 0.5)))
    return McNemar(b, c, len(common), p)


def align(parts: Sequence[HeadlineParts]) -> tuple[list[str], list[str], list[tuple[np.ndarray, np.ndarray]]]:
    """Put every checkpoint's unit rows in one order (units missing from one count zero for it).

    Returns the unit keys, their strata and, per checkpoint, ``(numerators, denominators)`` of shape
    ``(units, that checkpoint's components)``.
    """
    stratum: dict[str, str] = {}
    for p in parts:
        for unit, s in zip(p.units, p.strata):
            if stratum.setdefault(unit, s) != s:
                raise ValueError(f"unit {unit!r} is in stratum {stratum[unit]!r} in one run and {s!r} in another")
    units = sorted(stratum)
    position = {u: i for i, u in enumerate(units)}
    arrays = []
    for p in parts:
        rows = [position[u] for u in p.units]
        num = np.zeros((len(units), len(p.components)))
        den = np.zeros_like(num)
        num[rows], den[rows] = p.numerators, p.denominators
        arrays.append((num, den))
    return units, [stratum[u] for u in units], arrays


def replicates(parts: Sequence[HeadlineParts], n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """``(checkpoints, n_boot)`` headlines, each replicate drawing the same units for every checkpoint.

    Within each stratum (in sorted order) the number of draws of each unit is multinomial with as
    many draws as the stratum has units. NaN marks a replicate where a ratio has nothing to count.
    """
    _, strata, arrays = align(parts)
    rng = np.random.default_rng(seed)
    sums = [(np.zeros((n_boot, num.shape[1])), np.zeros((n_boot, num.shape[1]))) for num, _ in arrays]
    labels = np.array(strata, dtype=object)
    for s in sorted(set(strata)):
        members = np.flatnonzero(labels == s)
        draws = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n_boot).astype(float)
        for (num_sum, den_sum), (num, den) in zip(sums, arrays):
            num_sum += draws @ num[members]   # (n_boot, units_s) @ (units_s, C)
            den_sum += draws @ den[members]
    return np.stack([combine(n, d, p.weights) for (n, d), p in zip(sums, parts)])


def naive_replicates(parts: Sequence[HeadlineParts], n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """:func:`replicates` one replicate and one unit at a time (the reference for tests)."""
    _, strata, arrays = align(parts)
    rng = np.random.default_rng(seed)
    draws = np.zeros((n_boot, len(strata)))
    for s in sorted(set(strata)):
        members = [i for i, label in enumerate(strata) if label == s]
        counts = rng.multinomial(len(members), [1 / len(members)] * len(members), size=n_boot)
        for r in range(n_boot):
            for i, count in zip(members, counts[r]):
                draws[r, i] = count
    out = np.empty((len(parts), n_boot))
    for k, ((num, den), p) in enumerate(zip(arrays, parts)):
        for r in range(n_boot):
            n_sum = sum(draws[r, i] * num[i] for i in range(len(strata)))
            d_sum = sum(draws[r, i] * den[i] for i in range(len(strata)))
            out[k, r] = combine(np.asarray(n_sum), np.asarray(d_sum), p.weights)
    return out


def _interval(estimate: float | None, values: np.ndarray, n_units: int, n_boot: int) -> Interval:
    defined = values[~np.isnan(values)]
    if estimate is None or not len(defined):
        return Interval(estimate, None, None, n_units, n_boot, int(len(values) - len(defined)))
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(defined, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), n_units, n_boot, int(len(values) - len(defined)))


def headline_interval(parts: HeadlineParts, n_boot: int = N_BOOT, seed: int = 0) -> Interval:
    """One checkpoint's headline with its 95% bootstrap interval."""
    return _interval(parts.value(), replicates([parts], n_boot, seed)[0], len(parts.units), n_boot)


def paired_delta(baseline: HeadlineParts, other: HeadlineParts, n_boot: int = N_BOOT, seed: int = 0) -> Interval:
    """``other - baseline`` with its 95% paired-bootstrap interval (both must cover the same samples)."""
    a, b = baseline.value(), other.value()
    estimate = None if a is None or b is None else b - a
    both = replicates([baseline, other], n_boot, seed)
    return _interval(estimate, both[1] - both[0], len(set(baseline.units) | set(other.units)), n_boot)
