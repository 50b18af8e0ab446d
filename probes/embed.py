"""Shared-coordinate 2-D maps of pooled hidden states: t-SNE (openTSNE), PCA and UMAP.

A map is fitted once on a reference checkpoint's features; other checkpoints are then placed into the
same coordinates with ``transform``, so panels for base and SGT models can be compared point by point.

    tsne = TSNEMap(random_state=0).fit(base)      # base: (n, d) pooled features of the base model
    xy_base = tsne.embedding_                     # (n, 2)
    xy_sgt = tsne.transform(sgt)                  # (m, 2) in the base map's coordinates

Every map guarantees that identical feature rows get identical coordinates: a row of ``transform``'s
input that equals a reference row (exactly, after converting to float64) gets that reference row's
coordinates, and repeated rows get one shared position. t-SNE needs this most: openTSNE optimises each
new point against the frozen reference, so a copy of a reference point would drift a little from it
and a reader would take the drift for a change in the features.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA

from sgt_eval.errors import UserError

M = TypeVar("M", bound="_SharedMap")


def _as_features(X: Any, name: str = "X") -> np.ndarray:
    """Validate a (n_samples, d) feature matrix and return it as contiguous float64."""
    arr = np.ascontiguousarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise UserError(f"{name} must be a non-empty (n_samples, n_features) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise UserError(f"{name} contains NaN or infinite values; drop or fix those rows before embedding")
    return arr


def _row_keys(X: np.ndarray) -> list[bytes]:
    """One 128-bit digest per row; equal rows give equal keys.

    Adding 0.0 turns -0.0 into +0.0, so rows that compare equal also hash equal. A digest instead of
    the raw bytes keeps memory at 16 bytes a row; a false match among even 1e6 rows has probability
    below 1e-26.
    """
    canon = X + 0.0  # (n, d)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in canon]


class _SharedMap(BaseEstimator):
    """Fit on a reference, place other sets into the same coordinates; identical rows share coordinates.

    Subclasses implement ``_fit_reference`` (reference features -> coordinates) and ``_embed_new``
    (features of rows unseen in the reference, already deduplicated -> coordinates).
    """

    def _fit_reference(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _embed_new(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self: M, X: np.ndarray, y: Any = None) -> M:
        """Fit the map on the reference features.

        Parameters
        ----------
        X
            Reference features, shape (n_samples, n_features).
        y
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        self
            With ``embedding_`` (n_samples, n_components) and ``n_features_in_`` set.
        """
        X = _as_features(X)
        keys = _row_keys(X)
        first: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        coords = np.asarray(self._fit_reference(X), dtype=np.float64)  # (n, k)
        # duplicates inside the reference take the first copy's position, as in transform
        coords = coords[[first[key] for key in keys]]
        self.n_features_in_ = X.shape[1]
        self.embedding_ = coords
        self._row_index_ = first
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Place new features into the reference map.

        Parameters
        ----------
        X
            Features of another checkpoint (or any set), shape (m, n_features).

        Returns
        -------
        np.ndarray
            Coordinates of shape (m, n_components) in the reference map. Rows equal to a reference row
            get exactly that row's coordinates; repeated rows get identical coordinates.
        """
        if not hasattr(self, "embedding_"):
            raise UserError(f"{type(self).__name__} is not fitted: call fit(reference) before transform")
        X = _as_features(X)
        if X.shape[1] != self.n_features_in_:
            raise UserError(f"X has {X.shape[1]} features but the map was fitted on {self.n_features_in_}")
        out = np.empty((X.shape[0], self.embedding_.shape[1]))  # (m, k)
        unseen: dict[bytes, int] = {}  # key -> position among the unique unseen rows
        unseen_rows: list[int] = []  # first occurrence of each unique unseen row, in X
        new_rows: list[int] = []  # every row of X not found in the reference
        new_slot: list[int] = []  # its position among the unique unseen rows
        for i, key in enumerate(_row_keys(X)):
            ref = self._row_index_.get(key)
            if ref is not None:
                out[i] = self.embedding_[ref]
                continue
            if key not in unseen:
                unseen[key] = len(unseen_rows)
                unseen_rows.append(i)
            new_rows.append(i)
            new_slot.append(unseen[key])
        if unseen_rows:
            coords = np.asarray(self._embed_new(X[unseen_rows]), dtype=np.float64)  # (u, k)
            out[new_rows] = coords[new_slot]
        return out

    def fit_transform(self, X: np.ndarray, y: Any = None) -> np.ndarray:
        """Fit on ``X`` and return its coordinates, ``embedding_``."""
        return self.fit(X).embedding_


class TSNEMap(_SharedMap):
    """t-SNE map (openTSNE) that later checkpoints can be embedded into.

    Parameters
    ----------
    perplexity
        t-SNE perplexity of the reference fit (openTSNE lowers it with a warning on tiny inputs).
    pca_dims
        Features wider than this are first projected onto the reference's top ``pca_dims`` principal
        components (the usual recipe; it denoises and speeds up the neighbour search). None: never.
        The features are not standardised, so distances keep the model's own geometry.
    random_state
        Seeds PCA, the t-SNE initialisation and the neighbour index; a fixed seed gives the same map.
    n_jobs
        Threads for openTSNE.
    n_iter
        Iterations after openTSNE's 250 early-exaggeration iterations.

    Attributes
    ----------
    embedding_
        Reference coordinates, shape (n_samples, 2).
    pca_
        The fitted ``sklearn.decomposition.PCA``, or None when no projection was needed.
    tsne_embedding_
        The ``openTSNE.TSNEEmbedding``; ``transform`` calls its ``transform`` (default settings:
        perplexity 5 against the reference, median-of-neighbours initialisation, 250 iterations).
    """

    def __init__(self, perplexity: float = 30.0, pca_dims: int | None = 50, random_state: int = 0,
                 n_jobs: int = 1, n_iter: int = 500) -> None:
        self.perplexity = perplexity
        self.pca_dims = pca_dims
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.n_iter = n_iter

    def _fit_reference(self, X: np.ndarray) -> np.ndarray:
        from openTSNE import TSNE

        self.pca_ = None
        if self.pca_dims is not None and X.shape[1] > self.pca_dims:
            self.pca_ = PCA(n_components=min(self.pca_dims, X.shape[0]), random_state=self.random_state).fit(X)
            X = self.pca_.transform(X)  # (n, pca_dims)
        tsne = TSNE(perplexity=self.perplexity, n_iter=self.n_iter, n_jobs=self.n_jobs,
                    random_state=self.random_state)
        self.tsne_embedding_ = tsne.fit(X)  # (n, 2)
        return np.array(self.tsne_embedding_)

    def _embed_new(self, X: np.ndarray) -> np.ndarray:
        if self.pca_ is not None:
            X = self.pca_.transform(X)  # (u, pca_dims)
        ref = self.tsne_embedding_
        before = np.array(ref)  # (n, 2)
        placed = np.array(ref.transform(X))  # (u, 2)
        # openTSNE re-centres the reference in place before placing points; undo that so embedding_,
        # this call's output and later calls all share one frame (a shift moves every point alike)
        shift = np.asarray(ref)[0] - before[0]  # (2,)
        ref[...] = before
        return placed - shift


class PCAMap(_SharedMap):
    """Projection onto the reference's top principal components.

    Parameters
    ----------
    n_components
        Number of components kept.
    random_state
        Seeds scikit-learn's randomised solver when it picks one (large inputs).

    Attributes
    ----------
    embedding_
        Reference coordinates, shape (n_samples, n_components).
    pca_
        The fitted ``sklearn.decomposition.PCA``.
    """

    def __init__(self, n_components: int = 2, random_state: int = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def _fit_reference(self, X: np.ndarray) -> np.ndarray:
        self.pca_ = PCA(n_components=self.n_components, random_state=self.random_state).fit(X)
        # transform (not fit_transform) so reference and new rows go through the same arithmetic
        return self.pca_.transform(X)  # (n, n_components)

    def _embed_new(self, X: np.ndarray) -> np.ndarray:
        return self.pca_.transform(X)  # (u, n_components)


class UMAPMap(_SharedMap):
    """UMAP map (umap-learn, optional extra ``umap``); new sets go through ``UMAP.transform``.

    Parameters
    ----------
    n_neighbors, min_dist, metric, n_components
        Passed to ``umap.UMAP``.
    random_state
        Seeds UMAP (which then runs single-threaded, as umap-learn does for reproducibility).

    Attributes
    ----------
    embedding_
        Reference coordinates, shape (n_samples, n_components).
    umap_
        The fitted ``umap.UMAP``.
    """

    def __init__(self, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "euclidean",
                 n_components: int = 2, random_state: int = 0) -> None:
        try:
            import umap  # noqa: F401
        except ImportError:
            raise UserError("UMAPMap needs umap-learn: install with pip install 'sgt-eval[umap]'") from None
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_components = n_components
        self.random_state = random_state

    def _fit_reference(self, X: np.ndarray) -> np.ndarray:
        import umap

        self.umap_ = umap.UMAP(n_neighbors=self.n_neighbors, min_dist=self.min_dist, metric=self.metric,
                               n_components=self.n_components, random_state=self.random_state).fit(X)
        return self.umap_.embedding_

    def _embed_new(self, X: np.ndarray) -> np.ndarray:
        return self.umap_.transform(X)  # (u, n_components)


MAPS: dict[str, type[_SharedMap]] = {"tsne": TSNEMap, "pca": PCAMap, "umap": UMAPMap}


def shared_maps(reference: np.ndarray, others: Mapping[str, np.ndarray], method: str = "tsne",
                reference_name: str = "reference", **kw: Any) -> dict[str, np.ndarray]:
    """Fit one map on ``reference`` and place every other set into its coordinates.

    Parameters
    ----------
    reference
        Features the map is fitted on (e.g. the base checkpoint), shape (n, d).
    others
        Name -> features of the same width (e.g. SGT checkpoints), each (m_i, d).
    method
        ``"tsne"``, ``"pca"`` or ``"umap"``.
    reference_name
        Key under which the reference's own coordinates are returned.
    **kw
        Constructor arguments of the chosen map (``TSNEMap``, ``PCAMap``, ``UMAPMap``).

    Returns
    -------
    dict[str, np.ndarray]
        ``reference_name`` -> reference coordinates (n, k), then each name of ``others`` -> (m_i, k).
    """
    if method not in MAPS:
        raise UserError(f"unknown embedding method {method!r}; choose one of {', '.join(MAPS)}")
    if reference_name in others:
        raise UserError(f"others has a set named {reference_name!r}, which is the reference's key; "
                        f"rename it or pass reference_name=")
    fitted = MAPS[method](**kw).fit(reference)
    return {reference_name: fitted.embedding_, **{name: fitted.transform(X) for name, X in others.items()}}
