"""The blind answerers' floors, against values worked out by hand from the gold answers."""

from __future__ import annotations

import pytest

from benchmarks import BENCHMARKS
from benchmarks.chance import floors
from sgt_eval.paths import cache_root
from sgt_eval.world import ensure_world


@pytest.fixture(scope="module")
def world():
    return ensure_world(cache_root() / "world")


def samples_of(name: str, folder):
    bench = BENCHMARKS.load(name)()
    return bench, bench.load(folder).samples


def test_pope_on_the_real_llava_labels_always_yes_and_a_fair_coin(shared_data):
    """Always "yes": precision P / (P + N), recall 1, so F1 = 2P / (2P + N) in each split (2/3 when balanced);
    a fair coin has precision P / (P + N) and recall 1/2 in expectation."""
    bench, samples = samples_of("pope", shared_data / "pope" / "v2023-08_e3e3926_llava15")
    splits = {s.meta["split"] for s in samples}
    counts = {k: (sum(s.answer == "yes" for s in samples if s.meta["split"] == k),
                  sum(s.answer == "no" for s in samples if s.meta["split"] == k)) for k in splits}
    found = floors(bench, samples, draws=20)
    assert found.constant_answer == "yes"
    assert found.constant == pytest.approx(sum(2 * p / (2 * p + n) for p, n in counts.values()) / 3, abs=1e-12)
    coin = [2 * (p / (p + n)) * 0.5 / (p / (p + n) + 0.5) for p, n in counts.values()]
    assert found.uniform == pytest.approx(sum(coin) / 3, abs=0.01)


def test_vsr_constant_is_the_larger_label_share(world):
    bench, samples = samples_of("vsr", world / "vsr")
    share = sum(s.answer == "yes" for s in samples) / len(samples)
    found = floors(bench, samples, draws=50)
    assert found.constant == pytest.approx(max(share, 1 - share), abs=1e-12)
    assert found.constant_answer == ("yes" if share >= 0.5 else "no")
    assert found.uniform == pytest.approx(0.5, abs=0.05)


def test_mmvp_pairs_defeat_any_constant_and_a_guess_gets_a_quarter(world):
    """Both questions of a pair have different answers, so a constant gets one of them wrong: 0 pairs.
    Two independent fair guesses are both right with probability 1/4 (sd over 200 draws of 36 pairs: 0.5%)."""
    bench, samples = samples_of("mmvp", world / "mmvp")
    found = floors(bench, samples, draws=200, seed=3)
    assert found.constant == 0.0
    assert found.uniform == pytest.approx(0.25, abs=0.03)


def test_draws_are_seeded_and_an_undefined_headline_has_no_floor(world):
    bench, samples = samples_of("cvbench", world / "cvbench")
    assert floors(bench, samples, draws=10, seed=1) == floors(bench, samples, draws=10, seed=1)
    one_source = [s for s in samples if s.meta["source"] == samples[0].meta["source"]]
    assert floors(bench, one_source, draws=5).uniform is None  # CV-Bench averages over its sources


def test_image_benchmarks_have_no_answer_floors(world):
    bench, samples = samples_of("geneval", world / "geneval")
    with pytest.raises(ValueError, match="scored on images"):
        floors(bench, samples)
