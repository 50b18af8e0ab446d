"""Each benchmark's headline written as ratios of sums (what the reports bootstrap) equals its aggregate.

Checked for every benchmark and protocol on the ShapesWorld files and on the real metadata files,
with graded random outputs, over the whole file and over random subsets (incomplete MMVP pairs,
missing CV-Bench sources, GEdit groups without a scored sample...).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest

from benchmarks import BENCHMARKS
from benchmarks.base import Benchmark
from benchmarks.headline import combine, tally
from sgt_eval.paths import cache_root
from sgt_eval.records import Parsed, Prediction, Sample, graded
from sgt_eval.world import ensure_world

# Outputs that every answer benchmark's rules can read as right, wrong or nothing at all.
OUTPUTS = ["Yes", "No", "yes.", "No, there is not.", "(A)", "(B)", "A", "B", "C", "(D)", "maybe", ""]


def predictions(bench: Benchmark, samples: Sequence[Sample], seed: int) -> list[Prediction]:
    """Graded random outputs (answer benchmarks) or random grades built as the graders build them."""
    rng = random.Random(seed)
    if bench.task == "answer":
        return bench.grade(samples, [rng.choice(OUTPUTS) for _ in samples])
    records = []
    for s in samples:
        if bench.name == "gedit":
            readable = rng.random() > 0.15
            sc, pq = rng.randint(0, 10), rng.randint(0, 10)
            values = {"SC": sc, "PQ": pq, "O": (sc * pq) ** 0.5} if readable else {}
            records.append(graded(s, "x.png", Parsed("7" if readable else None, "judge" if readable else "none"),
                                  None, values))
        else:
            records.append(graded(s, "x.png", Parsed("ok", "rule"), rng.random() < 0.4))
    return records


def check(bench: Benchmark, records: list[Prediction]) -> None:
    expected = bench.aggregate(records)["headline"]["value"]
    got = bench.headline_parts(records).value()
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-12), (bench.name, bench.protocol)


def cases() -> list[tuple[str, str]]:
    return [(name, protocol) for name in BENCHMARKS.names() for protocol in BENCHMARKS.load(name).protocols]


@pytest.mark.parametrize("name,protocol", cases())
def test_parts_match_the_aggregate_on_shapesworld(name, protocol):
    bench = BENCHMARKS.load(name)(protocol)
    samples = bench.load(ensure_world(cache_root() / "world") / name).samples
    for seed in range(3):
        records = predictions(bench, samples, seed)
        check(bench, records)
        rng = random.Random(seed)
        for fraction in (0.5, 0.1, 0.02):
            check(bench, rng.sample(records, max(1, int(len(records) * fraction))))


REAL = {"pope": "pope/v2023-08_e3e3926_llava15", "hallusionbench": "hallusionbench/HallusionBench.json",
        "vsr": "vsr/splits/zeroshot/test.jsonl", "geneval": "geneval/prompts/evaluation_metadata.jsonl"}


@pytest.mark.parametrize("name", sorted(REAL))
def test_parts_match_the_aggregate_on_real_files(name, shared_data):
    cls = BENCHMARKS.load(name)
    for protocol in cls.protocols:
        bench = cls(protocol)
        samples = bench.load(shared_data / REAL[name]).samples
        records = predictions(bench, samples, seed=1)
        check(bench, records)
        check(bench, random.Random(2).sample(records, len(records) // 3))


def test_mmvp_units_are_pairs_and_hallusionbench_units_are_question_sets():
    mmvp = BENCHMARKS.load("mmvp")()
    samples = mmvp.load(ensure_world(cache_root() / "world") / "mmvp").samples
    parts = mmvp.headline_parts(predictions(mmvp, samples, 0))
    assert len(parts.units) == len(samples) // 2 and parts.denominators.sum() == len(samples) // 2
    hb = BENCHMARKS.load("hallusionbench")("vlmevalkit")
    samples = hb.load(ensure_world(cache_root() / "world") / "hallusionbench").samples
    parts = hb.headline_parts(predictions(hb, samples, 0))
    sets = {"_".join(s.meta[k] for k in ("category", "subcategory", "set_id")) for s in samples
            if s.meta["visual_input"] != "0"}
    assert set(parts.units) == sets and parts.components == ("aAcc", "fAcc", "qAcc")


def test_tally_by_hand():
    parts = tally([("q1", "s1", "a", 1, 1), ("q2", "s1", "a", 0, 1), ("q3", "s2", "b", 3, 4), ("q1", "s1", "b", 1, 2)],
                  {"a": 0.25, "b": 0.75, "c": 0.0})
    assert parts.units == ("q1", "q2", "q3") and parts.strata == ("s1", "s1", "s2")
    assert parts.numerators.tolist() == [[1, 1, 0], [0, 0, 0], [0, 3, 0]]
    assert parts.value() is None  # component "c" has nothing to count
    parts = tally([("q1", "s1", "a", 1, 1), ("q2", "s1", "a", 0, 1), ("q3", "s2", "b", 3, 4)])
    assert parts.value() == pytest.approx(0.5 * 0.5 + 0.5 * 0.75)
    with pytest.raises(ValueError, match="strata"):
        tally([("q1", "s1", "a", 1, 1), ("q1", "s2", "a", 1, 1)])
    assert np.isnan(combine(np.zeros((3, 0)), np.zeros((3, 0)), np.zeros(0))).all()
