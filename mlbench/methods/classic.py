"""Classic (non-neural) baselines: ``br``, ``mlknn``, ``haram``.

They ignore the validation split and most of the :class:`~mlbench.methods.base.FitContext`
(they are deterministic given the data), and return dense float64 probabilities in [0, 1].
"""

from __future__ import annotations

import warnings
from unittest import mock

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from mlbench.errors import MlbenchError
from mlbench.methods.base import MultiLabelMethod, register_method


def _labels(Y) -> np.ndarray:
    Y = np.asarray(Y.toarray() if sp.issparse(Y) else Y)
    if Y.ndim != 2:
        raise MlbenchError(f"Y must be a 2-D (n_samples, n_labels) 0/1 matrix, got {Y.shape}.")
    return (Y > 0).astype(np.int64)


def _features(X):
    return X.tocsr().astype(np.float64) if sp.issparse(X) else np.asarray(X, dtype=np.float64)


@register_method
class BinaryRelevance(MultiLabelMethod):
    """One L2-regularised logistic regression per label on standardised features.

    A label that is constant in training gets that constant as its probability (a solver cannot
    fit a single class). Sparse inputs are scaled without centring, so they stay sparse.
    """

    id = "br"
    display_name = "BR"
    citation = "Binary relevance with logistic regression (Boutell et al., 2004)"
    params = {"C": 1.0, "max_iter": 1000, "standardize": True, "n_jobs": 1}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from joblib import Parallel, delayed

        X, Y = _features(X), _labels(Y)
        self.n_labels_ = Y.shape[1]
        self.scaler_ = None
        if self.hparams["standardize"]:
            self.scaler_ = StandardScaler(with_mean=not sp.issparse(X)).fit(X)
            X = self.scaler_.transform(X)
        positives = Y.sum(axis=0)
        self.constant_ = np.where(positives == 0, 0.0, np.where(positives == len(Y), 1.0, np.nan))
        varying = np.flatnonzero(np.isnan(self.constant_))
        fits = Parallel(n_jobs=self.hparams["n_jobs"])(
            delayed(self._fit_one)(X, Y[:, j]) for j in varying
        )
        # Linear scores for all labels at once at predict time: sigmoid(X W + b).
        self.coef_ = np.zeros((X.shape[1], self.n_labels_))
        self.intercept_ = np.zeros(self.n_labels_)
        for j, (w, b) in zip(varying, fits):
            self.coef_[:, j], self.intercept_[j] = w, b
        return self

    def _fit_one(self, X, y):
        clf = LogisticRegression(C=self.hparams["C"], max_iter=self.hparams["max_iter"]).fit(X, y)
        return clf.coef_[0], clf.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        X = _features(X)
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        proba = expit(np.asarray(X @ self.coef_) + self.intercept_)
        const = ~np.isnan(self.constant_)
        proba[:, const] = self.constant_[const]
        return proba


@register_method
class MLkNN(MultiLabelMethod):
    """ML-kNN (Zhang & Zhou, 2007) via scikit-multilearn-ng, returning the real posterior.

    For label j and a test point whose k nearest training points contain c_j positives:
    P(y_j=1 | c_j) = P(H1) P(c_j|H1) / (P(H1) P(c_j|H1) + P(H0) P(c_j|H0)), with the prior
    P(H1) = (s + #positives) / (2s + n) and likelihoods P(c|H1) = (s + #{positive training points
    with c positive neighbours}) / (s(k+1) + #positives) (and likewise for H0).

    As in the paper, a training point's own label is not counted among its neighbours when the
    likelihoods are estimated (ng counts it by default: ``ignore_first_neighbours=0``; we fit with
    1 and predict with 0). Features are used raw unless ``standardize``.
    """

    id = "mlknn"
    display_name = "MLkNN"
    citation = "Zhang & Zhou, ML-KNN: A lazy learning approach to multi-label learning, PR 2007"
    params = {"k": 10, "s": 1.0, "standardize": False}
    test_params = {"k": 3}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from skmultilearn.adapt import MLkNN as _MLkNN

        X, Y = _features(X), _labels(Y)
        k = self.hparams["k"]
        if not 1 <= k < X.shape[0]:
            raise MlbenchError(f"mlknn needs 1 <= k < n_train ({X.shape[0]}), got k={k}.")
        self.n_labels_ = Y.shape[1]
        self.scaler_ = None
        if self.hparams["standardize"]:
            self.scaler_ = StandardScaler(with_mean=not sp.issparse(X)).fit(X)
            X = self.scaler_.transform(X)
        self.model_ = _MLkNN(k=k, s=self.hparams["s"], ignore_first_neighbours=1).fit(X, Y)
        self.model_.ignore_first_neighbours = 0  # test points are not in the training set
        return self

    def predict_proba(self, X) -> np.ndarray:
        X = _features(X)
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        return np.clip(np.asarray(self.model_.predict_proba(X).toarray(), dtype=np.float64), 0, 1)


@register_method
class HARAM(MultiLabelMethod):
    """HARAM / ML-ARAM (Benites & Sapozhnikova, 2015) via scikit-multilearn-ng's ``MLARAM``.

    Inputs are min-max scaled per feature with the training min/max and clipped to [0, 1] (ARAM's
    complement coding needs [0, 1]; constant features map to 0).

    Scores: ng's ``predict_proba`` returns, per sample, ``sum_i a_i n_i y_i / sum_i a_i`` over the
    activated prototypes i (activity a_i, label set y_i, n_i training samples merged into it),
    which is not bounded by 1. We divide it by ``sum_i a_i n_i / sum_i a_i`` (obtained exactly by
    training on one extra always-positive label), giving the fraction, weighted by activity and
    prototype size, of the activated prototypes' training samples that carry the label: a value
    in [0, 1] whose per-sample label ranking is exactly ng's.
    """

    id = "haram"
    display_name = "HARAM"
    citation = "Benites & Sapozhnikova, HARAM: a hierarchical ARAM neural network, ICDMW 2015"
    params = {"vigilance": 0.9, "threshold": 0.02}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from skmultilearn.adapt import MLARAM

        X, Y = self._dense(X), _labels(Y)
        self.min_ = X.min(axis=0)
        span = X.max(axis=0) - self.min_
        self.span_ = np.where(span > 0, span, 1.0)
        self.n_labels_ = Y.shape[1]
        # A private float copy: MLARAM adds label counts into the rows it was given, in place.
        Y_aug = np.hstack([Y, np.ones((len(Y), 1))]).astype(np.float64)
        self.model_ = MLARAM(
            vigilance=self.hparams["vigilance"], threshold=self.hparams["threshold"]
        )
        with _ng_aram_patch():
            self.model_.fit(self._scale(X), Y_aug)
        return self

    def predict_proba(self, X) -> np.ndarray:
        X = self._scale(self._dense(X))
        if len(X) == 0:
            return np.zeros((0, self.n_labels_))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            rank = np.asarray(self.model_.predict_proba(X), dtype=np.float64)
        total = rank[:, -1:]
        proba = np.divide(rank[:, :-1], total, out=np.zeros_like(rank[:, :-1]), where=total > 0)
        return np.clip(proba, 0.0, 1.0)

    @staticmethod
    def _dense(X) -> np.ndarray:
        return X.toarray().astype(np.float64) if sp.issparse(X) else np.asarray(X, dtype=np.float64)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return np.clip((X - self.min_) / self.span_, 0.0, 1.0)


def _ng_aram_patch():
    """ng keys label sets by ``indices.tobytes().decode('utf-8')``, which raises for label
    indices whose bytes are not valid UTF-8 (e.g. index 182); the raw bytes are a fine key."""
    import skmultilearn.adapt.mlaram as mlaram

    return mock.patch.object(
        mlaram, "_get_label_combination_representation", lambda v: v.nonzero()[0].tobytes()
    )
