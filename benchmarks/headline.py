"""A benchmark's headline written as weighted ratios of sums over resampling units, for the bootstrap.

Every headline in this package is ``sum_c w_c * N_c / D_c``: accuracy (right / questions), MMVP's
pair accuracy (pairs both right / pairs), POPE's F1 per split (2TP / (2TP + FP + FN)), CV-Bench's
source formula (weights 1/4, 1/4, 1/2), GenEval's task mean, GEdit-Bench's task-group mean. Each
``N_c`` and ``D_c`` is a sum over units that can be drawn independently (a question, an MMVP pair, a
HallusionBench question set, a GenEval prompt), so a bootstrap replicate is a reweighting of unit
rows: thousands of replicates cost a few matrix products instead of thousands of ``aggregate`` calls.
Tests check ``value()`` against each benchmark's ``aggregate`` headline, on whole files and subsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

# (unit, stratum, component, numerator, denominator): one unit's contribution to one component
Contribution = tuple[str, str, str, float, float]


@dataclass(frozen=True)
class HeadlineParts:
    """The headline as ``sum_c weights[c] * numerators[:, c].sum() / denominators[:, c].sum()``.

    Attributes
    ----------
    units
        The key of each row: the unit a bootstrap draws (ids, pair numbers, set keys...).
    strata
        Each unit's stratum; units are resampled within it, so strata keep their sizes (POPE
        splits, CV-Bench sources, GenEval tasks, GEdit-Bench task groups).
    components
        The names of the ratios (``"accuracy"``, one per split, source or task...).
    numerators, denominators
        ``(units, components)`` sums of each unit's contribution.
    weights
        ``(components,)`` weight of each ratio in the headline.
    """

    units: tuple[str, ...]
    strata: tuple[str, ...]
    components: tuple[str, ...]
    numerators: np.ndarray
    denominators: np.ndarray
    weights: np.ndarray

    def value(self) -> float | None:
        """The headline over all units (None where a ratio has nothing to count, as in ``aggregate``)."""
        result = combine(self.numerators.sum(0), self.denominators.sum(0), self.weights)
        return None if np.isnan(result) else float(result)


def combine(numerators: np.ndarray, denominators: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(..., C)`` sums -> ``(...)`` headlines; NaN wherever a component's denominator is 0 (or C is 0)."""
    if numerators.shape[-1] == 0:
        return np.full(numerators.shape[:-1], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = numerators / denominators
    ratios = np.where(denominators > 0, ratios, np.nan)
    return (ratios * weights).sum(-1)


def tally(contributions: Iterable[Contribution], weights: Mapping[str, float] | None = None) -> HeadlineParts:
    """Sum contributions per unit into :class:`HeadlineParts`.

    Parameters
    ----------
    contributions
        ``(unit, stratum, component, numerator, denominator)`` tuples; a unit may contribute to
        several components (HallusionBench's aAcc, fAcc and qAcc) but has one stratum.
    weights
        Component -> weight. Components named here but never contributed to have a zero
        denominator, so the headline is None (a missing CV-Bench source). Without it, the
        components seen are weighted equally (a mean over splits, tasks or groups).
    """
    rows: dict[str, int] = {}
    strata: list[str] = []
    names: dict[str, int] = {name: i for i, name in enumerate(weights or {})}
    cells: list[tuple[int, int, float, float]] = []
    for unit, stratum, component, numerator, denominator in contributions:
        if unit not in rows:
            rows[unit] = len(rows)
            strata.append(stratum)
        elif strata[rows[unit]] != stratum:
            raise ValueError(f"unit {unit!r} is in strata {strata[rows[unit]]!r} and {stratum!r}")
        if component not in names:
            if weights is not None:
                continue  # not part of the headline
            names[component] = len(names)
        cells.append((rows[unit], names[component], numerator, denominator))
    numerators = np.zeros((len(rows), len(names)))
    denominators = np.zeros((len(rows), len(names)))
    for row, column, numerator, denominator in cells:
        numerators[row, column] += numerator
        denominators[row, column] += denominator
    w = np.array([weights[n] for n in names]) if weights is not None else np.full(len(names), 1 / max(len(names), 1))
    return HeadlineParts(tuple(rows), tuple(strata), tuple(names), numerators, denominators, w)
