"""Linear probes: grouped CV against leakage, control task near chance, seeded cluster-bootstrap CIs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_val_score

from probes.separability import LinearProbe, ProbeResult, _cluster_bootstrap_ci, layer_curve, pair_separability
from sgt_eval.errors import UserError

FAST = {"n_boot": 300, "n_splits": 3}  # fewer folds and replicates keep the file fast


def grouped_data(n_images: int, signal: float, d: int = 64, seed: int = 0, within: float = 1.0,
                 sizes: tuple[int, int] = (2, 4)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images with 2-4 samples each; one label per image (balanced), shifted by ``signal`` along axis 0.

    Samples of an image share a random image vector (scale 1) plus their own noise (scale ``within``),
    so with small ``within`` the samples of one image are near-identical.
    """
    rng = np.random.default_rng(seed)
    counts = rng.integers(sizes[0], sizes[1] + 1, n_images)
    image_label = rng.permutation(np.arange(n_images) % 2)
    groups = np.repeat(np.arange(n_images), counts)
    y = image_label[groups]
    X = rng.normal(size=(n_images, d))[groups] + within * rng.normal(size=(len(groups), d))  # (n, d)
    X[:, 0] += signal * (2 * y - 1)
    return X, y, groups


def test_separable_signal_is_found_and_control_stays_at_chance():
    X, y, groups = grouped_data(130, signal=4.0)  # ~390 samples; classes 4 apart, noise sd ~1.4
    assert 350 < len(X) < 450
    r = LinearProbe(n_boot=300).fit(X, y, groups).result_
    assert r.accuracy >= 0.95 and r.auroc > 0.98
    assert r.chance == pytest.approx(np.bincount(y).max() / len(y))
    # Under the null the pooled accuracy over ~130 images has a cluster SE of about 0.5/sqrt(130) = 0.044;
    # 0.15 is ~3.4 SE, so a control that learned anything real (or leaked) would fail.
    assert abs(r.control_accuracy - r.chance) <= 0.15
    assert r.control_ci_low <= r.chance <= r.control_ci_high
    assert r.selectivity == pytest.approx(r.accuracy - r.control_accuracy)
    assert (r.n, r.n_groups, r.n_splits, r.layer, r.classes) == (len(X), 130, 5, None, ("0", "1"))


def test_no_signal_scores_chance():
    X, y, groups = grouped_data(130, signal=0.0)
    r = LinearProbe(**FAST).fit(X, y, groups).result_
    # same ~3.4 SE tolerance as above; no CI check here: under the null, cross-validated accuracy sits a
    # little below 0.5 (a fold with more of one class trains a model leaning to the other) and the
    # majority rate is >= 0.5, so "CI contains chance" would be a coin flip weighted against us
    assert abs(r.accuracy - r.chance) <= 0.15
    assert abs(r.auroc - 0.5) <= 0.15


def test_grouped_cv_prevents_leakage_that_plain_kfold_shows():
    # 4 near-identical samples per image, random label per image: nothing to learn about the class,
    # but 60 images in 64 dims can be memorised, so a split that shares images between folds leaks.
    X, y, groups = grouped_data(60, signal=0.0, within=0.05, sizes=(4, 4))
    probe = LinearProbe(**FAST)
    leaky = cross_val_score(probe._pipeline(), X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
    grouped = probe.fit(X, y, groups).result_.accuracy
    assert leaky >= 0.9
    assert abs(grouped - 0.5) <= 0.2  # 60 images: null SE ~0.065, 0.2 is ~3 SE
    assert leaky - grouped >= 0.3


def test_bootstrap_is_seeded_and_contains_estimate():
    X, y, groups = grouped_data(100, signal=0.8, d=16)  # overlapping classes: accuracy well below 1
    a = LinearProbe(**FAST).fit(X, y, groups).result_
    b = LinearProbe(**FAST).fit(X, y, groups).result_
    assert a == b
    assert 0.6 < a.accuracy < 0.95
    assert a.ci_low < a.accuracy < a.ci_high
    assert a.control_ci_low < a.control_accuracy < a.control_ci_high
    c = LinearProbe(random_state=1, **FAST).fit(X, y, groups).result_
    assert (c.ci_low, c.ci_high) != (a.ci_low, a.ci_high)


def test_ci_narrows_with_more_groups():
    small = LinearProbe(**FAST).fit(*grouped_data(40, signal=0.8)).result_
    large = LinearProbe(**FAST).fit(*grouped_data(400, signal=0.8, d=16)).result_
    assert large.ci_high - large.ci_low < 0.6 * (small.ci_high - small.ci_low)  # width ~ 1/sqrt(groups): 0.32


def test_bootstrap_resamples_groups_not_samples():
    # 100 groups of 4 samples, each group all right or all wrong, 70 right: resampling groups gives
    # accuracy ~ Binomial(100, 0.7)/100, so the 95% CI half-width is about 1.96*sqrt(0.21/100) = 0.090.
    # Resampling single samples would halve it (0.045).
    group_idx = np.repeat(np.arange(100), 4)
    correct = (group_idx < 70).astype(float)
    low, high = _cluster_bootstrap_ci(correct, group_idx, 4000, np.random.default_rng(0))
    assert (high - low) / 2 == pytest.approx(0.090, rel=0.15)
    assert low < 0.7 < high


def test_perfect_separation_and_hand_computed_chance():
    # 3 of 4 images are class "b": chance 0.75; a huge margin gives every fold 100%, so the CI is [1, 1]
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 2)
    y = np.where(groups % 4 == 0, "a", "b")
    X = rng.normal(size=(80, 8))
    X[:, 0] += np.where(y == "a", -20.0, 20.0)
    r = LinearProbe(**FAST).fit(X, y, groups).result_
    assert (r.accuracy, r.ci_low, r.ci_high, r.auroc, r.chance) == (1.0, 1.0, 1.0, 1.0, 0.75)
    assert r.classes == ("a", "b")
    assert r.to_dict()["classes"] == ["a", "b"] and r.to_dict()["accuracy"] == 1.0


def test_out_of_fold_attributes():
    X, y, groups = grouped_data(30, signal=4.0)
    probe = LinearProbe(**FAST).fit(X, np.where(y == 1, "hexagon", "pentagon"), groups)
    assert probe.oof_proba_.shape == (len(X), 2)
    np.testing.assert_allclose(probe.oof_proba_.sum(axis=1), 1.0)
    assert set(probe.oof_pred_) <= {"hexagon", "pentagon"}
    assert probe.result_.accuracy == pytest.approx(np.mean(probe.oof_pred_ == np.where(y == 1, "hexagon", "pentagon")))
    # the control permutes labels of whole images: every image keeps a single control label
    for g in np.unique(groups):
        assert len(set(probe.control_labels_[groups == g])) == 1


def test_too_few_groups_falls_back_then_refuses():
    X, y, groups = grouped_data(6, signal=4.0)  # 3 images per class
    assert LinearProbe(n_splits=5, n_boot=100).fit(X, y, groups).result_.n_splits == 3
    lone = groups[y == 0][0]
    keep = (y == 1) | (groups == lone)  # three images of class 1, one of class 0
    with pytest.raises(UserError, match=r"classes \['0'\] occur in fewer than 2 groups"):
        LinearProbe(n_boot=100).fit(X[keep], y[keep], groups[keep])


def test_pair_separability_picks_the_separable_pair():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(160), 3)
    names = np.array(["pentagon", "hexagon", "circle", "square"])
    y = names[groups % 4]
    X = rng.normal(size=(len(y), 32)) + rng.normal(size=(160, 32))[groups]
    X[y == "pentagon", 1] += 3.0
    X[y == "hexagon", 1] -= 3.0  # circle and square share one distribution
    out = pair_separability(X, y, groups, [("pentagon", "hexagon"), ("circle", "square")], **FAST)
    assert list(out) == [("pentagon", "hexagon"), ("circle", "square")]
    good, bad = out[("pentagon", "hexagon")], out[("circle", "square")]
    assert good.accuracy >= 0.9 and good.n == 240 and good.classes == ("hexagon", "pentagon")
    assert abs(bad.accuracy - 0.5) <= 0.15
    assert good.ci_low > bad.ci_high
    with pytest.raises(UserError, match="'triangle'"):
        pair_separability(X, y, groups, [("triangle", "square")])


def test_layer_curve_loads_one_layer_at_a_time():
    X, y, groups = grouped_data(40, signal=0.0, d=8)
    direction = np.where(y == 1, 1.0, -1.0)
    layers = {i: X + np.outer(direction, np.eye(8)[0]) * s for i, s in enumerate([0.0, 1.0, 4.0])}
    calls = []

    def load(layer: int) -> np.ndarray:
        calls.append(layer)
        return layers[layer]

    curve = layer_curve(load, [0, 1, 2], y, groups, **FAST)
    assert calls == [0, 1, 2]
    assert [r.layer for r in curve] == [0, 1, 2]
    assert curve[0].accuracy < curve[1].accuracy < curve[2].accuracy
    assert all(isinstance(r, ProbeResult) for r in curve)
    assert layer_curve(layers, [2], y, groups, **FAST) == curve[2:]
    named = np.where(y == 1, "hexagon", "pentagon")
    paired = layer_curve(layers, [2], np.where(groups % 7 == 0, "circle", named), groups, pair=("hexagon", "pentagon"),
                         **FAST)
    assert paired[0].n == int(np.sum(groups % 7 != 0)) and paired[0].classes == ("hexagon", "pentagon")
