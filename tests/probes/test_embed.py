"""Shared-coordinate maps: identical features get identical coordinates, new points land by their neighbours."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.decomposition import PCA

from probes.embed import PCAMap, TSNEMap, UMAPMap, shared_maps
from sgt_eval.errors import UserError

TSNE_KW = {"n_iter": 100, "perplexity": 20.0}  # small and fast; the 250 early-exaggeration steps still run


def clusters(n_per: int, seed: int, d: int = 60, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """k well-separated Gaussian clusters in d > pca_dims dimensions (so the PCA step runs)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).normal(size=(k, d)) * 3.0  # same centres for every seed
    labels = np.repeat(np.arange(k), n_per)
    return centres[labels] + rng.normal(size=(len(labels), d)), labels


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray]:
    X, labels = clusters(50, seed=0)
    X[0, :5] = 0.0  # a row with zeros, to check that -0.0 matches +0.0
    return X, labels


@pytest.fixture(scope="module")
def fitted(reference) -> TSNEMap:
    return TSNEMap(**TSNE_KW).fit(reference[0])


def second_set(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Some reference rows, new rows, and repeats of both; returns (set, new rows, their labels)."""
    new, new_labels = clusters(6, seed=1)  # (24, d)
    signed_zero = X[0].copy()
    signed_zero[:5] = -0.0
    return np.vstack([X[[3, 70, 150]], new, new[[2, 2, 9]], X[[70]], signed_zero[None]]), new, new_labels


def test_identical_rows_get_identical_coordinates(reference, fitted):
    X, _ = reference
    Y, _, _ = second_set(X)
    xy = fitted.transform(Y)  # (32, 2)
    assert xy.shape == (32, 2)
    np.testing.assert_array_equal(xy[:3], fitted.embedding_[[3, 70, 150]])  # reference rows: exactly theirs
    np.testing.assert_array_equal(xy[30], fitted.embedding_[70])
    np.testing.assert_array_equal(xy[31], fitted.embedding_[0])  # -0.0 entries equal +0.0
    np.testing.assert_array_equal(xy[27:30], xy[3 + np.array([2, 2, 9])])  # repeats of new rows
    assert not np.isin(xy[3:27], fitted.embedding_).all(axis=1).any()  # new rows were really placed


def test_transform_keeps_the_reference_frame(reference, fitted):
    # openTSNE re-centres the reference in place when placing points; the map must not move
    X, _ = reference
    before = fitted.embedding_.copy()
    first = fitted.transform(second_set(X)[0])
    np.testing.assert_array_equal(fitted.embedding_, before)
    np.testing.assert_array_equal(np.asarray(fitted.tsne_embedding_), before)
    np.testing.assert_array_equal(fitted.transform(second_set(X)[0]), first)


def test_new_points_land_near_their_neighbours(reference, fitted):
    X, labels = reference
    _, new, new_labels = second_set(X)
    xy = fitted.transform(new)  # (24, 2)
    nearest = np.argmin(((new[:, None, :] - X[None, :, :]) ** 2).sum(-1), axis=1)  # (24,) in feature space
    assert (labels[nearest] == new_labels).all()
    extent = np.ptp(fitted.embedding_, axis=0).max()
    gap = np.linalg.norm(xy - fitted.embedding_[nearest], axis=1)  # (24,)
    assert gap.max() < 0.15 * extent
    # and in the map each new point sits in its own cluster: nearest cluster centre in 2-D is its label
    centres = np.stack([fitted.embedding_[labels == c].mean(0) for c in range(4)])  # (4, 2)
    assert (np.argmin(((xy[:, None] - centres[None]) ** 2).sum(-1), axis=1) == new_labels).all()


def test_tsne_is_deterministic_for_a_seed(reference, fitted):
    X, _ = reference
    again = TSNEMap(**TSNE_KW).fit(X)
    np.testing.assert_array_equal(again.embedding_, fitted.embedding_)
    np.testing.assert_array_equal(again.transform(second_set(X)[0]), fitted.transform(second_set(X)[0]))
    assert fitted.pca_ is not None and fitted.pca_.n_components_ == 50
    other = TSNEMap(random_state=1, **TSNE_KW).fit_transform(X)
    assert not np.allclose(other, fitted.embedding_)


def test_pca_map_equals_sklearn_pca(reference):
    X, _ = reference
    Y, _, _ = second_set(X)
    pca = PCA(n_components=2, random_state=0).fit(X)
    m = PCAMap().fit(X)
    np.testing.assert_allclose(m.embedding_, pca.transform(X), atol=1e-10)
    np.testing.assert_allclose(m.transform(Y), pca.transform(Y), atol=1e-10)
    np.testing.assert_array_equal(m.transform(X[[5, 5]]), m.embedding_[[5, 5]])


def test_shared_maps_returns_reference_and_others(reference):
    X, _ = reference
    Y, new, _ = second_set(X)
    out = shared_maps(X, {"sgt-1k": Y, "sgt-2k": new}, method="pca", n_components=3)
    assert list(out) == ["reference", "sgt-1k", "sgt-2k"]
    m = PCAMap(n_components=3).fit(X)
    np.testing.assert_array_equal(out["reference"], m.embedding_)
    np.testing.assert_array_equal(out["sgt-2k"], m.transform(new))
    with pytest.raises(UserError, match="choose one of tsne, pca, umap"):
        shared_maps(X, {}, method="mds")
    with pytest.raises(UserError, match="reference_name"):
        shared_maps(X, {"reference": Y}, method="pca")


def test_umap_map_without_umap_raises_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` fail even where it is installed
    with pytest.raises(UserError) as info:
        UMAPMap()
    message = str(info.value)
    assert "\n" not in message and "pip install 'sgt-eval[umap]'" in message


def test_bad_input_is_refused(reference):
    X, _ = reference
    m = PCAMap()
    with pytest.raises(UserError, match="not fitted"):
        m.transform(X)
    m.fit(X)
    with pytest.raises(UserError, match="59 features but the map was fitted on 60"):
        m.transform(X[:, :59])
    bad = X[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(UserError, match="NaN"):
        m.transform(bad)
