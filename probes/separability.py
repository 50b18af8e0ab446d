"""Linear separability of pooled hidden states: grouped cross-validation, a control task, bootstrap CIs.

SGT's mechanistic claim is that segmentation training makes confusable classes (pentagon vs hexagon)
linearly separable in the model's visual features. A defensible number needs three things this module
builds in:

- **no leakage**: samples from one source image (crops, prompts, augmentations) share almost all of
  their features, so folds are split by image (``StratifiedGroupKFold``); a plain K-fold lets the probe
  recognise the image instead of the class;
- **a control task** (after Hewitt & Liang, 2019): the same probe on labels permuted across images.
  ``selectivity = accuracy - control_accuracy`` is the part of the accuracy the labels explain;
- **uncertainty**: a 95% CI from a cluster bootstrap over images of the out-of-fold correctness. It
  covers which images were evaluated, not the refitting of the probe on other training sets.

    probe = LinearProbe().fit(X, y, groups)         # X: (n, d) one layer; groups: source image ids
    probe.result_.accuracy, probe.result_.ci_low, probe.result_.selectivity
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sgt_eval.errors import UserError


@dataclass(frozen=True)
class ProbeResult:
    """One probe's scores. Accuracies are pooled out-of-fold; CIs are 95% cluster-bootstrap percentiles.

    Attributes
    ----------
    accuracy, ci_low, ci_high
        Out-of-fold accuracy on the real labels and its CI.
    control_accuracy, control_ci_low, control_ci_high
        The same on labels permuted across groups (the control task).
    selectivity
        ``accuracy - control_accuracy``.
    chance
        Rate of the most frequent class, the accuracy of always guessing it.
    auroc
        Out-of-fold ROC AUC with ``classes[1]`` as the positive class (binary only, else None).
    n, n_groups, n_splits
        Samples, distinct groups, and folds actually used (fewer than asked when a class has few groups).
    layer
        Layer index when the probe is part of a layer curve.
    classes
        Class names, sorted; the order of ``oof_proba_``'s columns.
    """

    accuracy: float
    ci_low: float
    ci_high: float
    control_accuracy: float
    control_ci_low: float
    control_ci_high: float
    selectivity: float
    chance: float
    auroc: float | None
    n: int
    n_groups: int
    n_splits: int
    layer: int | None
    classes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``classes`` as a list)."""
        out = asdict(self)
        out["classes"] = list(self.classes)
        return out


def _cluster_bootstrap_ci(correct: np.ndarray, group_idx: np.ndarray, n_boot: int,
                          rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile CI of pooled accuracy, resampling whole groups with replacement.

    Each replicate draws n_groups groups and computes (correct samples) / (samples) over the draw, so
    large groups weigh in proportion to their size, as they do in the point estimate.
    """
    n_groups = int(group_idx.max()) + 1
    hits = np.bincount(group_idx, weights=correct, minlength=n_groups)  # (G,)
    sizes = np.bincount(group_idx, minlength=n_groups).astype(np.float64)  # (G,)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        draw = rng.integers(0, n_groups, n_groups)  # (G,) group indices
        stats[b] = hits[draw].sum() / sizes[draw].sum()
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(low), float(high)


def _group_labels(codes: np.ndarray, group_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Each group's most frequent class code (ties go to the lower code)."""
    counts = np.zeros((int(group_idx.max()) + 1, n_classes), dtype=np.int64)  # (G, C)
    np.add.at(counts, (group_idx, codes), 1)
    return counts.argmax(axis=1)  # (G,)


class LinearProbe(BaseEstimator):
    """Standardised L2 logistic regression, cross-validated by group, with a control task and CIs.

    Parameters
    ----------
    C
        Inverse L2 strength of the logistic regression (on standardised features).
    n_splits
        Folds of ``StratifiedGroupKFold``; lowered to the smallest number of groups any class has.
    n_boot
        Bootstrap replicates for each CI.
    random_state
        Seeds the fold assignment, the bootstrap and the control labels.
    max_iter
        lbfgs iteration cap.

    Attributes
    ----------
    classes_
        Sorted unique labels.
    n_splits_
        Folds used.
    oof_pred_
        Out-of-fold predicted label per sample, shape (n,).
    oof_proba_
        Out-of-fold class probabilities, shape (n, n_classes), columns in ``classes_`` order.
    control_labels_
        The permuted labels of the control task, shape (n,).
    result_
        The ``ProbeResult``.
    """

    def __init__(self, C: float = 1.0, n_splits: int = 5, n_boot: int = 1000, random_state: int = 0,
                 max_iter: int = 2000) -> None:
        self.C = C
        self.n_splits = n_splits
        self.n_boot = n_boot
        self.random_state = random_state
        self.max_iter = max_iter

    def _pipeline(self) -> Pipeline:
        # lbfgs with the default penalty is L2; the penalty argument is deprecated from scikit-learn 1.8
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, solver="lbfgs", max_iter=self.max_iter))

    def _out_of_fold(self, X: np.ndarray, codes: np.ndarray, group_idx: np.ndarray, n_classes: int,
                     n_splits: int) -> np.ndarray:
        """Out-of-fold probabilities (n, n_classes) of the pipeline on integer labels ``codes``."""
        proba = np.zeros((X.shape[0], n_classes))  # (n, C)
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(X, codes, group_idx):
            model = self._pipeline().fit(X[train], codes[train])
            # a training fold can miss a class when that class has few groups; its column stays 0
            proba[np.ix_(test, model.classes_)] = model.predict_proba(X[test])  # (n_test, C_train)
        return proba

    def fit(self, X: np.ndarray, y: Sequence[Any] | np.ndarray, groups: Sequence[Any] | np.ndarray) -> LinearProbe:
        """Cross-validate the probe and its control task.

        Parameters
        ----------
        X
            Features of one layer, shape (n_samples, n_features).
        y
            Class label per sample.
        groups
            Source image id per sample; all samples of an image land in the same fold.

        Returns
        -------
        self
            With ``result_`` and the out-of-fold attributes set.
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        groups = np.asarray(groups)
        if X.ndim != 2 or len(y) != len(X) or len(groups) != len(X):
            raise UserError(f"X must be (n_samples, n_features) with one y and one group per row; got X {X.shape}, "
                            f"y {y.shape}, groups {groups.shape}")
        if not np.isfinite(X).all():
            raise UserError("X contains NaN or infinite values; drop or fix those rows before probing")
        self.classes_, codes = np.unique(y, return_inverse=True)
        _, group_idx = np.unique(groups, return_inverse=True)
        n_classes, n_groups = len(self.classes_), int(group_idx.max()) + 1
        if n_classes < 2:
            raise UserError(f"a probe needs at least 2 classes in y, got {[str(c) for c in self.classes_]}")
        per_class = [len(np.unique(group_idx[codes == c])) for c in range(n_classes)]
        if min(per_class) < 2:
            thin = [str(self.classes_[c]) for c in range(n_classes) if per_class[c] < 2]
            raise UserError(f"classes {thin} occur in fewer than 2 groups (images); grouped cross-validation "
                            f"needs at least 2 per class — add images or drop those classes")
        self.n_splits_ = min(self.n_splits, min(per_class))

        rng_boot, rng_control = (np.random.default_rng(s) for s in np.random.SeedSequence(self.random_state).spawn(2))
        self.oof_proba_ = self._out_of_fold(X, codes, group_idx, n_classes, self.n_splits_)
        self.oof_pred_ = self.classes_[self.oof_proba_.argmax(axis=1)]  # (n,)
        correct = (self.oof_proba_.argmax(axis=1) == codes).astype(np.float64)  # (n,)
        ci_low, ci_high = _cluster_bootstrap_ci(correct, group_idx, self.n_boot, rng_boot)

        # control: permute whole groups' labels so the group structure, and so the leakage risk, is kept
        control_codes = rng_control.permutation(_group_labels(codes, group_idx, n_classes))[group_idx]  # (n,)
        control_proba = self._out_of_fold(X, control_codes, group_idx, n_classes, self.n_splits_)
        control_correct = (control_proba.argmax(axis=1) == control_codes).astype(np.float64)  # (n,)
        control_low, control_high = _cluster_bootstrap_ci(control_correct, group_idx, self.n_boot, rng_boot)
        self.control_labels_ = self.classes_[control_codes]

        accuracy, control_accuracy = float(correct.mean()), float(control_correct.mean())
        auroc = None
        if n_classes == 2:
            auroc = float(roc_auc_score(codes, self.oof_proba_[:, 1]))
        self.result_ = ProbeResult(
            accuracy=accuracy, ci_low=ci_low, ci_high=ci_high,
            control_accuracy=control_accuracy, control_ci_low=control_low, control_ci_high=control_high,
            selectivity=accuracy - control_accuracy, chance=float(np.bincount(codes).max() / len(codes)),
            auroc=auroc, n=len(X), n_groups=n_groups, n_splits=self.n_splits_, layer=None,
            classes=tuple(str(c) for c in self.classes_))
        return self


def _pair_mask(labels: np.ndarray, pair: tuple[str, str]) -> np.ndarray:
    """Boolean mask of the samples whose label (as a string) is one of the pair's two classes."""
    missing = [c for c in pair if c not in set(labels.tolist())]
    if missing:
        raise UserError(f"class {missing[0]!r} of pair {pair} is not among the labels {sorted(set(labels.tolist()))}")
    return np.isin(labels, pair)


def pair_separability(X: np.ndarray, y: Sequence[Any] | np.ndarray, groups: Sequence[Any] | np.ndarray,
                      pairs: Sequence[tuple[str, str]], **probe_kw: Any) -> dict[tuple[str, str], ProbeResult]:
    """Separability score per class pair: a probe on the two classes' samples only.

    Parameters
    ----------
    X
        Features, shape (n_samples, n_features).
    y
        Class label per sample; compared with the pair names as strings.
    groups
        Source image id per sample.
    pairs
        Class pairs to score, e.g. ``[("pentagon", "hexagon")]``.
    **probe_kw
        ``LinearProbe`` arguments.

    Returns
    -------
    dict[tuple[str, str], ProbeResult]
        One result per pair, keyed by the pair as given.
    """
    X, labels, groups = np.asarray(X), np.asarray(y).astype(str), np.asarray(groups)
    out = {}
    for pair in pairs:
        mask = _pair_mask(labels, pair)
        out[tuple(pair)] = LinearProbe(**probe_kw).fit(X[mask], labels[mask], groups[mask]).result_
    return out


def layer_curve(features: Mapping[int, np.ndarray] | Callable[[int], np.ndarray], layers: Sequence[int],
                y: Sequence[Any] | np.ndarray, groups: Sequence[Any] | np.ndarray, pair: tuple[str, str] | None = None,
                **probe_kw: Any) -> list[ProbeResult]:
    """One probe per layer, loading one layer's features at a time.

    Parameters
    ----------
    features
        Layer -> (n_samples, n_features) array, or a callable returning it (e.g. reading one layer
        from disk), so only one layer is in memory at a time.
    layers
        Layers to probe, in the order of the returned list.
    y, groups
        Labels and source image ids, shared by all layers.
    pair
        If given, probe only these two classes (labels compared as strings).
    **probe_kw
        ``LinearProbe`` arguments.

    Returns
    -------
    list[ProbeResult]
        One result per layer, with ``layer`` set.
    """
    load = features if callable(features) else features.__getitem__
    labels, groups = np.asarray(y), np.asarray(groups)
    mask = None
    if pair is not None:
        labels = labels.astype(str)
        mask = _pair_mask(labels, pair)
        labels, groups = labels[mask], groups[mask]
    results = []
    for layer in layers:
        X = np.asarray(load(layer))
        if len(X) != len(mask if mask is not None else labels):
            raise UserError(f"layer {layer} has {len(X)} feature rows but y has {len(np.asarray(y))} labels")
        if mask is not None:
            X = X[mask]
        results.append(replace(LinearProbe(**probe_kw).fit(X, labels, groups).result_, layer=int(layer)))
    return results
