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
from sklearn.utils.extmath import row_norms

from mlbench.errors import MlbenchError
from mlbench.methods.base import MultiLabelMethod, register_method


def label_matrix(Y) -> np.ndarray:
    Y = np.asarray(Y.toarray() if sp.issparse(Y) else Y)
    if Y.ndim != 2:
        raise MlbenchError(f"Y must be a 2-D (n_samples, n_labels) 0/1 matrix, got {Y.shape}.")
    return (Y > 0).astype(np.int64)


def feature_matrix(X):
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
    param_ranges = {"C": "> 0", "max_iter": ">= 1", "n_jobs": "-1 or >= 1"}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from joblib import Parallel, delayed

        X, Y = feature_matrix(X), label_matrix(Y)
        self.n_labels_ = Y.shape[1]
        self.scaler_ = None
        if self.hparams["standardize"]:
            self.scaler_ = StandardScaler(with_mean=not sp.issparse(X)).fit(X)
            X = self.scaler_.transform(X)
        positives = Y.sum(axis=0)
        self.constant_ = np.where(positives == 0, 0.0, np.where(positives == len(Y), 1.0, np.nan))
        varying = np.flatnonzero(np.isnan(self.constant_))
        fits = Parallel(n_jobs=self.hparams["n_jobs"])(delayed(self._fit_one)(X, Y[:, j]) for j in varying)
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
        X = feature_matrix(X)
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        proba = expit(np.asarray(X @ self.coef_) + self.intercept_)
        const = ~np.isnan(self.constant_)
        proba[:, const] = self.constant_[const]
        return proba


#: Bytes of one query chunk's distance block (rows x n_train float64) in MLkNN's kNN search.
MLKNN_BLOCK_BYTES = 100 * 2**20
#: Bytes of one distance block in MLkNN's own sparse kNN search (:func:`_sparse_kneighbors`):
#: small enough to stay in cache between the product, the additions and ``argpartition``.
#: 0 uses scikit-learn's ``kneighbors`` instead (the same neighbours, slower; for comparisons).
MLKNN_SPARSE_BLOCK_BYTES = 4 * 2**20


@register_method
class MLkNN(MultiLabelMethod):
    """ML-kNN (Zhang & Zhou, 2007), vectorised, returning the real posterior.

    For label l and a point whose k nearest training points contain j positives:
    P(y_l=1 | j) = P(H1) P(j|H1) / (P(H1) P(j|H1) + P(H0) P(j|H0)), with the prior
    P(H1) = (s + #positives) / (2s + n) and likelihoods P(j|H1) = (s + c[l, j]) / (s(k+1) +
    #positives), c[l, j] = #{positive training points with j positive neighbours} (and likewise
    c'[l, j] over the negatives for H0) -- the paper's Eqs. (1)-(2) and Fig. 2.

    A training point's own label is not counted among its neighbours when c and c' are estimated
    (the paper's N(x_i) excludes x_i; an identical duplicate of it still counts).

    ``normalize="minmax"`` (default) measures Euclidean distances on features min-max scaled with
    the training minimum and maximum, as the reference implementation (Mulan, through Weka's
    ``EuclideanDistance``) does; ``"none"`` uses raw features. See ``docs/methods-classic.md``.

    Hand-written rather than scikit-multilearn-ng's ``MLkNN`` (kept as the test reference): ng
    loops in Python over samples x labels on DOK/LIL matrices. Measured (benchmarks/mlknn_speed.py,
    docs/benchmarks.md): yeast 2.3 (ng) -> 0.06-0.07 CPU-seconds; delicious 168 s and 2.7 GB (ng)
    -> 3.1 s and 0.32 GB (4.0 s and 0.47 GB before the own sparse search), on a 2-core machine at
    load 8; the same probabilities (ng differs only where training rows are exact duplicates,
    see _drop_self).
    """

    id = "mlknn"
    display_name = "MLkNN"
    citation = "Zhang & Zhou, ML-KNN: A lazy learning approach to multi-label learning, PR 2007"
    params = {"k": 10, "s": 1.0, "normalize": "minmax", "standardize": False}
    param_ranges = {"k": ">= 1", "s": "> 0"}
    test_params = {"k": 3}

    def __init__(self, **params) -> None:
        super().__init__(**params)
        _FeatureScaling.check(self.hparams["normalize"], self.hparams["standardize"])

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from sklearn.neighbors import NearestNeighbors

        X, Y = feature_matrix(X), label_matrix(Y)
        k, s = self.hparams["k"], self.hparams["s"]
        if not 1 <= k < X.shape[0]:
            raise MlbenchError(f"mlknn needs 1 <= k < n_train ({X.shape[0]}), got k={k}.")
        if not s > 0:
            raise MlbenchError(f"mlknn needs a smoothing s > 0, got s={s}.")
        self.scaling_ = _FeatureScaling(self.hparams["normalize"], self.hparams["standardize"], X)
        X = self.scaling_.transform(X)
        n, self.n_labels_ = Y.shape
        # n_neighbors=k as in ng, so the "auto" algorithm choice (and tie order) is the same
        self.index_ = NearestNeighbors(n_neighbors=k).fit(X)
        # sparse training points: our own search (_sparse_kneighbors) on the transpose scikit-learn
        # would build per chunk, and the squared norms it would recompute per chunk
        self.train_T_ = X.T.tocsr() if sp.issparse(X) else None
        self.train_sq_norms_ = row_norms(X, squared=True)[None, :] if sp.issparse(X) else None
        self.Y_ = sp.csr_matrix(Y, dtype=np.int32)
        labels = np.arange(self.n_labels_)
        # hist[2 (l (k+1) + j) + y]: training points with j positive neighbours for label l and y_l = y
        hist = np.zeros(2 * self.n_labels_ * (k + 1), dtype=np.int64)
        for rows, counts in self._neighbour_counts(X, leave_self_out=True):
            cell = 2 * (counts + (k + 1) * labels) + Y[rows]
            hist += np.bincount(cell.ravel(), minlength=hist.size)
        c = hist[1::2].reshape(self.n_labels_, k + 1)
        c_neg = hist[0::2].reshape(self.n_labels_, k + 1)
        n_pos = Y.sum(axis=0)
        # same operations and order as ng's, so the probabilities agree to rounding
        prior_true = (s + n_pos) / (s * 2 + n)
        prior_false = 1 - prior_true
        cond_true = (s + c) / (s * (k + 1) + c.sum(axis=1, keepdims=True))
        cond_false = (s + c_neg) / (s * (k + 1) + c_neg.sum(axis=1, keepdims=True))
        p_true = prior_true[:, None] * cond_true
        p_false = prior_false[:, None] * cond_false
        self.posterior_ = p_true / (p_true + p_false)  # (L, k+1): P(y_l = 1 | j positives)
        return self

    def predict_proba(self, X) -> np.ndarray:
        X = self.scaling_.transform(feature_matrix(X))
        proba = np.empty((X.shape[0], self.n_labels_))
        labels = np.arange(self.n_labels_)
        for rows, counts in self._neighbour_counts(X, leave_self_out=False):
            proba[rows] = self.posterior_[labels, counts]
        return np.clip(proba, 0.0, 1.0)

    def _neighbour_counts(self, X, leave_self_out: bool):
        """Yield (row slice, (rows, L) positive-neighbour counts) chunk by chunk, so the distance
        block of a chunk stays within :data:`MLKNN_BLOCK_BYTES`."""
        from sklearn import config_context

        k = self.hparams["k"]
        n_train = self.index_.n_samples_fit_
        # multiples of 256 rows: scikit-learn's own query chunk, so chunking cannot change results
        step = max(256, MLKNN_BLOCK_BYTES // (8 * n_train) // 256 * 256)
        n_query = k + 1 if leave_self_out else k
        for start in range(0, X.shape[0], step):
            rows = slice(start, min(start + step, X.shape[0]))
            if MLKNN_SPARSE_BLOCK_BYTES and sp.issparse(X) and self.train_T_ is not None and _sparse_matmul():
                nbrs = _sparse_kneighbors(X[rows], self.train_T_, self.train_sq_norms_, n_query)
            else:
                with config_context(working_memory=max(1, MLKNN_BLOCK_BYTES // 2**20)):
                    nbrs = self.index_.kneighbors(X[rows], n_query, return_distance=False)
            if leave_self_out:
                nbrs = _drop_self(nbrs, np.arange(rows.start, rows.stop))
            m = nbrs.shape[0]
            adjacency = sp.csr_matrix(
                (np.ones(m * k, dtype=np.int32), nbrs.ravel(), np.arange(0, m * k + 1, k)),
                shape=(m, n_train),
            )
            yield rows, (adjacency @ self.Y_).toarray()


def _sparse_kneighbors(Q, train_T, train_sq_norms, n_neighbors: int) -> np.ndarray:
    """Indices of the ``n_neighbors`` nearest training points of each row of the CSR matrix ``Q``,
    nearest first: exactly what ``NearestNeighbors(...).fit(X).kneighbors(Q, n_neighbors)``
    returns for CSR ``X`` (``train_T = X.T.tocsr()``, ``train_sq_norms`` its squared row norms).

    Hand-written because scikit-learn does not use its fast kNN search for sparse-sparse
    Euclidean distances (scikit-learn#28191): it falls back to ``pairwise_distances_chunked``,
    whose ~100 MB blocks (1000 x 12884 on delicious) leave the cache between the product, the
    additions and ``argpartition``. Here the same floating-point operations in the same order on
    the same operands (so bit-identical distances, and the same ``argpartition``/``argsort``
    calls, so the same tie order) run on blocks of :data:`MLKNN_SPARSE_BLOCK_BYTES` in one reused
    buffer. Measured on delicious (benchmarks/mlknn_speed.py --before, docs/benchmarks.md): MLkNN
    fit + predict 3.66 -> 2.92 CPU-seconds and 474 -> 323 MB peak against scikit-learn's
    kneighbors, interleaved at load 8-9 on 2 cores, identical probabilities.
    """
    sparse_matmul_to_dense = _sparse_matmul()
    n_train = train_T.shape[1]
    step = max(1, min(MLKNN_BLOCK_BYTES, MLKNN_SPARSE_BLOCK_BYTES) // (8 * n_train))
    # scikit-learn's -2 * (q @ x) as q @ (-2 x): the same bits (scaling by a power of two is
    # exact) as long as no product leaves the normal range, which these bounds guarantee
    fold_minus_two = _within(Q.data, 2.0**-400, 2.0**400) and _within(train_T.data, 2.0**-400, 2.0**400)
    right = train_T * -2.0 if fold_minus_two else train_T
    dist_buffer = np.empty((min(step, Q.shape[0]), n_train))
    nbrs = np.empty((Q.shape[0], n_neighbors), dtype=np.intp)
    for start in range(0, Q.shape[0], step):
        stop = min(start + step, Q.shape[0])
        lo, hi = Q.indptr[start], Q.indptr[stop]
        # a row slice without scipy's general indexing (0.4 ms a call)
        q = sp.csr_matrix(
            (Q.data[lo:hi], Q.indices[lo:hi], Q.indptr[start : stop + 1] - lo), shape=(stop - start, Q.shape[1])
        )
        # scikit-learn's _euclidean_distances(squared=True): -2 q.x + |q|^2 + |x|^2, clipped at 0
        dist = sparse_matmul_to_dense(q, right, out=dist_buffer[: stop - start])
        if not fold_minus_two:
            dist *= -2
        dist += row_norms(q, squared=True)[:, None]
        dist += train_sq_norms
        if dist.min() < 0:  # rounding; reading is cheaper than clipping every block
            np.maximum(dist, 0, out=dist)
        # scikit-learn's _kneighbors_reduce_func
        nearest = np.argpartition(dist, n_neighbors - 1, axis=1)[:, :n_neighbors]
        rows = np.arange(stop - start)[:, None]
        nbrs[start:stop] = nearest[rows, np.argsort(dist[rows, nearest])]
    return nbrs


def _sparse_matmul():
    """scikit-learn's sparse x sparse -> dense product, or None where this scikit-learn lacks it
    (a private-ish helper: an upgrade that drops it falls back to ``kneighbors``, same results)."""
    try:
        from sklearn.utils.sparsefuncs import sparse_matmul_to_dense
    except ImportError:  # pragma: no cover - depends on the installed scikit-learn
        return None
    return sparse_matmul_to_dense


def _within(values: np.ndarray, low: float, high: float) -> bool:
    """Every nonzero |value| lies in [low, high]."""
    magnitude = np.abs(values[values != 0])
    return magnitude.size == 0 or (low <= magnitude.min() and magnitude.max() <= high)


def _drop_self(nbrs: np.ndarray, self_index: np.ndarray) -> np.ndarray:
    """k+1 neighbours of training points -> k, without the point itself; where it is missing
    (distance ties with duplicates pushed it out) the farthest is dropped (scikit-learn's rule for
    ``kneighbors(X=None)``)."""
    is_self = nbrs == self_index[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return nbrs[~is_self].reshape(len(nbrs), -1)


class _FeatureScaling:
    """MLkNN's feature scaling, fitted on the training features.

    ``minmax``: x -> (x - min) / (max - min) per feature with the training min and max, as Weka's
    ``EuclideanDistance`` normalises (Mulan's MLkNN); test values outside the training range are
    not clipped (Weka does not clip either). A feature constant in training is set to 0 (Weka's
    ``norm`` returns 0 for it), so it adds nothing to distances. Sparse inputs are only divided by
    (max - min): the shift by min cancels in every Euclidean distance, so neighbours are the same
    and the matrix stays sparse. ``none``: raw features. ``standardize`` (older option, with
    ``normalize="none"`` only): z-scores, without centring for sparse inputs.
    """

    CHOICES = ("minmax", "none")

    @classmethod
    def check(cls, normalize: str, standardize: bool) -> None:
        if normalize not in cls.CHOICES:
            raise MlbenchError(
                f"mlknn normalize must be one of {', '.join(cls.CHOICES)}, got {normalize!r}; "
                "use --set normalize=minmax or --set normalize=none."
            )
        if standardize and normalize != "none":
            raise MlbenchError(
                "mlknn: standardize=true and normalize=minmax both rescale the features; "
                "pass --set normalize=none with standardize=true."
            )

    def __init__(self, normalize: str, standardize: bool, X) -> None:
        self.check(normalize, standardize)
        self.normalize = normalize
        self.scaler = StandardScaler(with_mean=not sp.issparse(X)).fit(X) if standardize else None
        if normalize == "minmax":
            lo, hi = X.min(axis=0), X.max(axis=0)
            if sp.issparse(X):  # min/max include the implicit zeros
                lo, hi = lo.toarray().ravel(), hi.toarray().ravel()
            span = hi - lo
            self.min = lo
            self.inv_span = np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)

    def transform(self, X):
        if self.scaler is not None:
            return self.scaler.transform(X)
        if self.normalize == "none":
            return X
        if sp.issparse(X):
            return sp.csr_matrix(X.multiply(self.inv_span[None, :]))
        return (X - self.min) * self.inv_span


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
    param_ranges = {"vigilance": "[0, 1]", "threshold": "[0, 1]"}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from skmultilearn.adapt import MLARAM

        X, Y = self._dense(X), label_matrix(Y)
        self.min_ = X.min(axis=0)
        span = X.max(axis=0) - self.min_
        self.span_ = np.where(span > 0, span, 1.0)
        self.n_labels_ = Y.shape[1]
        # A private float copy: MLARAM adds label counts into the rows it was given, in place.
        Y_aug = np.hstack([Y, np.ones((len(Y), 1))]).astype(np.float64)
        self.model_ = MLARAM(vigilance=self.hparams["vigilance"], threshold=self.hparams["threshold"])
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

    return mock.patch.object(mlaram, "_get_label_combination_representation", lambda v: v.nonzero()[0].tobytes())
