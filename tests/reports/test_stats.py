"""Paired bootstrap and McNemar on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.headline import tally
from reports.stats import headline_interval, mcnemar, naive_replicates, paired_delta, replicates


def accuracy(outcomes: dict[str, int], strata: dict[str, str] | None = None):
    return tally((unit, (strata or {}).get(unit, ""), "accuracy", float(v), 1.0) for unit, v in outcomes.items())


@pytest.mark.parametrize("b,c,p", [
    (1, 9, 22 / 1024),          # 2 * (C(10,0) + C(10,1)) / 2^10
    (0, 6, 2 / 64),             # 2 * (1/2)^6
    (3, 3, 1.0),                # capped at 1
    (0, 0, 1.0),                # no discordant pair: no evidence either way
    (2, 8, 2 * (1 + 10 + 45) / 1024),
])
def test_mcnemar_exact_p(b, c, p):
    # b units right only for the baseline, c only for the other; 5 concordant units of each kind
    base = {f"b{i}": True for i in range(b)} | {f"c{i}": False for i in range(c)}
    other = {f"b{i}": False for i in range(b)} | {f"c{i}": True for i in range(c)}
    for i in range(5):
        base[f"rr{i}"], other[f"rr{i}"] = True, True
        base[f"ww{i}"], other[f"ww{i}"] = False, False
    result = mcnemar(base, other)
    assert (result.b, result.c, result.n) == (b, c, b + c + 10)
    assert result.p == pytest.approx(p, rel=1e-12)


def test_mcnemar_uses_only_shared_keys():
    assert mcnemar({"x": True, "y": True}, {"x": False, "z": True}).n == 1


def test_two_units_enumerated():
    # units worth 1 and 0: a resample holds the first unit 2, 1 or 0 times (prob 1/4, 1/2, 1/4),
    # so the mean is 1, 0.5 or 0 and the 95% interval is [0, 1]; identical runs give a zero delta.
    parts = accuracy({"a": 1, "b": 0})
    draws = replicates([parts], n_boot=4000, seed=3)[0]
    assert set(np.unique(draws)) == {0.0, 0.5, 1.0}
    assert np.mean(draws == 0.5) == pytest.approx(0.5, abs=0.03)
    interval = headline_interval(parts, n_boot=4000)
    assert (interval.estimate, interval.low, interval.high) == (0.5, 0.0, 1.0)
    same = paired_delta(parts, parts)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)


def test_strata_keep_their_sizes():
    # stratum t has one unit (always drawn once); stratum s has a 1 and a 0: accuracy over the three
    # units is (k + 1) / 3 with k in {0, 1, 2}
    parts = accuracy({"a": 1, "b": 0, "c": 1}, strata={"a": "s", "b": "s", "c": "t"})
    values = set(np.round(replicates([parts], n_boot=500)[0], 12))
    assert values == {round(1 / 3, 12), round(2 / 3, 12), 1.0}


def test_pairing_narrows_the_interval_to_the_discordant_units():
    # the other run is right on 60 of 100 units, a superset of the baseline's 50: the delta of a
    # resample is (draws of the 10 discordant units) / 100, Binomial(100, 0.1) / 100, whose central
    # 95% is about [0.05, 0.16]; unpaired resampling would give about +-0.14
    base = accuracy({f"u{i:03d}": int(i < 50) for i in range(100)})
    other = accuracy({f"u{i:03d}": int(i < 60) for i in range(100)})
    delta = paired_delta(base, other, n_boot=4000, seed=1)
    assert delta.estimate == pytest.approx(0.1)
    assert 0.03 <= delta.low <= 0.06 and 0.14 <= delta.high <= 0.17


def test_proportion_interval_matches_the_normal_approximation():
    parts = accuracy({f"u{i}": i % 2 for i in range(400)})
    interval = headline_interval(parts, n_boot=4000, seed=2)
    half = 1.96 * (0.25 / 400) ** 0.5
    assert interval.low == pytest.approx(0.5 - half, abs=0.01)
    assert interval.high == pytest.approx(0.5 + half, abs=0.01)


def test_seeded_and_equal_to_the_naive_loop():
    rng = np.random.default_rng(0)
    strata = {f"u{i}": "s" if i < 7 else "t" for i in range(12)}
    a = accuracy({u: int(rng.random() < 0.5) for u in strata}, strata)
    # a two-component headline (like POPE's mean F1) over the same units
    b = tally([(u, strata[u], strata[u], float(rng.integers(0, 3)), float(rng.integers(1, 4))) for u in strata])
    fast = replicates([a, b], n_boot=64, seed=7)
    assert np.allclose(fast, naive_replicates([a, b], n_boot=64, seed=7), rtol=0, atol=1e-12)
    assert np.array_equal(fast, replicates([a, b], n_boot=64, seed=7))
    assert not np.array_equal(fast, replicates([a, b], n_boot=64, seed=8))


def test_units_missing_from_one_run_count_zero_and_undefined_replicates_are_counted():
    base = tally([("a", "", "x", 1.0, 1.0), ("b", "", "x", 0.0, 0.0)])
    other = tally([("b", "", "x", 1.0, 1.0)])
    interval = paired_delta(base, other, n_boot=400, seed=0)
    # a resample without unit "a" leaves the baseline nothing to count; one without "b" the other run
    assert 0 < interval.n_undefined < 400 and interval.estimate == 0.0
    with pytest.raises(ValueError, match="stratum"):
        replicates([tally([("a", "s", "x", 1, 1)]), tally([("a", "t", "x", 1, 1)])])
