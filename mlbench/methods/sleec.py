"""``sleec``: Sparse Local Embeddings for Extreme Classification (Bhatia, Jain, Kar, Varma &
Jain, "Sparse Local Embeddings for Extreme Multi-label Classification", NeurIPS 2015).

Training, per learner of the ensemble:

1. cluster the training points with k-means on their (row-normalised) features;
2. per cluster, embed the label vectors so that the embeddings' inner products reproduce the
   label vectors' inner products on their nearest-neighbour graph Ω: the paper's SVP objective
   (Eq. 2) ``min_Z ||P_Ω(Ŷ Ŷᵀ) − P_Ω(Z Zᵀ)||²_F``, see :func:`svp_objective`. We take the
   rank-d factor of ``P_Ω(Ŷ Ŷᵀ)`` (its top singular vectors scaled by the root of the singular
   values), which is how the official code initialises its alternating minimisation; we do not
   run that refinement (see docs/methods-classic.md);
3. per cluster, a linear regressor V from features to embeddings (the paper's Eq. 4 without its
   L1 term, whose weight in the official ADMM is 0.001, i.e. ridge; :func:`regressor_objective`),
   then, as the official code, the smallest ``w_thresh`` fraction of |V| set to 0 and, per
   embedding dimension, the smallest ``sp_thresh`` fraction of the training embeddings X V.

Prediction: a test point goes to its nearest cluster centre, is embedded with that cluster's V,
and gets the mean label vector of its ``test_neighbours`` nearest training points (Euclidean,
in the embedding space) of that cluster: a score in [0, 1] per label. Learners (k-means with
different seeds) are averaged, as the official code pools their neighbours.

Defaults are the official code's parameters for the small data sets (Bibtex): 250 label
neighbours for Ω, 100 embedding dimensions (capped at the number of labels), 25 test neighbours,
w_thresh = sp_thresh = 0.01, row-normalised features; clusters of about 6000 points (the official
settings for EUR-Lex and Mediamill), so data sets below 9000 training points are one cluster, for
which the learners would be identical and one is fitted.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from mlbench.errors import MlbenchError
from mlbench.methods.base import FitContext, MultiLabelMethod, register_method
from mlbench.methods.classic import feature_matrix, label_matrix

_CHUNK = 1024  # rows of the label-similarity matrix held at once (_CHUNK x n floats)


def svp_objective(Y_hat, Z, omega: sp.spmatrix) -> float:
    """SLEEC Eq. 2: ``||P_Ω(Ŷ Ŷᵀ) − P_Ω(Z Zᵀ)||²_F`` over the entries (i, j) of ``omega``."""
    omega = sp.coo_matrix(omega)
    i, j = omega.row, omega.col
    label_ip = (
        np.asarray(Y_hat[i].multiply(Y_hat[j]).sum(axis=1)).ravel()
        if sp.issparse(Y_hat)
        else np.einsum("nl,nl->n", Y_hat[i], Y_hat[j])
    )
    return float(np.sum((label_ip - np.einsum("nd,nd->n", Z[i], Z[j])) ** 2))


def regressor_objective(X, Z, V, ridge: float) -> float:
    """SLEEC Eq. 4 with the L1 weight at 0: ``||Z − X V||²_F + ridge ||V||²_F``."""
    residual = Z - X @ V
    return float(np.sum(np.asarray(residual) ** 2) + ridge * np.sum(V**2))


def label_neighbour_graph(Y_hat: sp.csr_matrix, n_neighbours: int) -> sp.csr_matrix:
    """Ω with values: each row i holds the inner products ⟨ŷ_i, ŷ_j⟩ of its ``n_neighbours``
    most similar label vectors j (itself included), zeros elsewhere."""
    n = Y_hat.shape[0]
    k = min(n_neighbours, n)
    rows, cols, vals = [], [], []
    YT = Y_hat.T.tocsc()
    for start in range(0, n, _CHUNK):
        sims = np.asarray((Y_hat[start : start + _CHUNK] @ YT).todense())
        # Stable ordering: ties (identical label sets) broken by index, so fits are reproducible.
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        rows.append(np.repeat(np.arange(start, start + len(sims)), k))
        cols.append(top.ravel())
        vals.append(np.take_along_axis(sims, top, axis=1).ravel())
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def svp_embedding(omega: sp.csr_matrix, dim: int, seed: int) -> np.ndarray:
    """Rank-``dim`` factor ``U sqrt(S)`` of the masked label Gram matrix (the official SVP
    initialisation). Small matrices use the dense SVD, larger ones ARPACK with a seeded start."""
    n = omega.shape[0]
    dim = min(dim, n - 1) if n > 1 else 1
    if n <= 1500:
        U, S, _ = np.linalg.svd(omega.toarray())
        U, S = U[:, :dim], S[:dim]
    else:
        from scipy.sparse.linalg import svds

        v0 = np.random.default_rng(seed).standard_normal(n)
        U, S, _ = svds(omega.astype(np.float64), k=dim, v0=v0, solver="arpack")
        order = np.argsort(-S, kind="stable")
        U, S = U[:, order], S[order]
    return U * np.sqrt(np.maximum(S, 0.0))


def _sparsify_smallest(values: np.ndarray, fraction: float, axis: int | None = None) -> np.ndarray:
    """Zero the ``fraction`` of entries with the smallest |value| (per column with axis=0)."""
    if fraction <= 0:
        return values
    values = values.copy()
    if axis is None:
        flat = np.abs(values).ravel()
        cut = max(int(np.ceil(fraction * flat.size)), 1)
        smallest = np.argsort(flat, kind="stable")[:cut]
        values.ravel()[smallest] = 0.0
        return values
    cut = max(int(np.ceil(fraction * values.shape[0])), 1)
    smallest = np.argsort(np.abs(values), axis=0, kind="stable")[:cut]
    np.put_along_axis(values, smallest, 0.0, axis=0)
    return values


class _ClusterModel:
    """One cluster's regressor, training embeddings and training labels."""

    def __init__(self, X, Y, Y_hat, hp, dim: int, seed: int) -> None:
        from sklearn.linear_model import Ridge
        from sklearn.preprocessing import StandardScaler

        omega = label_neighbour_graph(Y_hat, hp["svp_neighbours"])
        Z = svp_embedding(omega, dim, seed)
        # Standardised inside the regressor, as the official code's MATLAB ``ridge`` does.
        self.scaler = StandardScaler(with_mean=not sp.issparse(X)).fit(X)
        Xs = self.scaler.transform(X)
        ridge = Ridge(alpha=hp["ridge"], fit_intercept=True).fit(Xs, Z)
        self.W = _sparsify_smallest(np.atleast_2d(ridge.coef_).T, hp["w_thresh"])
        self.b = np.atleast_1d(ridge.intercept_)
        self.train_embedding = _sparsify_smallest(self.embed(X), hp["sp_thresh"], axis=0)
        self.Y = Y

    def embed(self, X) -> np.ndarray:
        return np.asarray(self.scaler.transform(X) @ self.W) + self.b


@register_method
class SLEEC(MultiLabelMethod):
    """SLEEC (Bhatia et al. 2015); see the module docstring."""

    id = "sleec"
    display_name = "SLEEC"
    citation = (
        "Bhatia, Jain, Kar, Varma & Jain, Sparse Local Embeddings for Extreme Multi-label Classification, NeurIPS 2015"
    )
    params = {
        "embedding_dim": 0,  # 0: min(100, number of labels)
        "svp_neighbours": 250,  # |Ω| per training point (label-space neighbours)
        "test_neighbours": 25,  # kNN in the embedding space at prediction
        "n_learners": 5,  # clusterings (k-means seeds) in the ensemble
        "cluster_size": 6000,  # k-means clusters = max(1, round(n_train / cluster_size))
        "ridge": 0.1,  # L2 weight of the regressor (official "cost")
        "w_thresh": 0.01,
        "sp_thresh": 0.01,
        "normalize": True,  # row-L2-normalise the features (official normalize=1)
    }

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        from sklearn.cluster import KMeans

        hp = self.hparams
        X, Y = feature_matrix(X), label_matrix(Y)
        n, n_labels = Y.shape
        self.n_labels_ = n_labels
        dim = hp["embedding_dim"] or min(100, n_labels)
        if dim > n_labels:
            raise MlbenchError(
                f"sleec: embedding_dim={dim} is more than the {n_labels} labels; "
                f"use --set embedding_dim={n_labels} (or less, or 0 for min(100, labels))."
            )
        if dim < 1:
            raise MlbenchError(
                f"sleec: embedding_dim must be >= 1 (or 0 for min(100, labels)), "
                f"got {dim}; fix it with --set embedding_dim=..."
            )
        for key in ("svp_neighbours", "test_neighbours", "n_learners", "cluster_size"):
            if hp[key] < 1:
                raise MlbenchError(f"sleec: {key} must be >= 1, got {hp[key]}; fix it with --set {key}=...")
        X = self._prepare(X)
        Y_hat = normalize(sp.csr_matrix(Y, dtype=np.float64))  # unit label vectors (0 rows stay 0)
        n_clusters = max(1, int(round(n / hp["cluster_size"])))
        # One k-means cluster is the same for every seed: the learners would be identical.
        n_learners = hp["n_learners"] if n_clusters > 1 else 1
        seeds = np.random.default_rng((context or FitContext()).seed).integers(0, 2**31 - 1, n_learners)
        self.learners_ = []
        for seed in seeds:
            if n_clusters > 1:
                kmeans = KMeans(n_clusters=n_clusters, n_init=1, random_state=int(seed)).fit(X)
                assign, centres = kmeans.labels_, kmeans.cluster_centers_
            else:
                assign, centres = np.zeros(n, dtype=int), None
            clusters = [
                _ClusterModel(X[idx], Y[idx], Y_hat[idx], hp, dim, int(seed))
                for idx in (np.flatnonzero(assign == c) for c in range(n_clusters))
            ]
            self.learners_.append((centres, clusters))
        return self

    def _prepare(self, X):
        return normalize(X) if self.hparams["normalize"] else X

    def predict_proba(self, X) -> np.ndarray:
        from sklearn.metrics import pairwise_distances_argmin
        from sklearn.neighbors import NearestNeighbors

        X = self._prepare(feature_matrix(X))
        scores = np.zeros((X.shape[0], self.n_labels_))
        for centres, clusters in self.learners_:
            assign = np.zeros(X.shape[0], dtype=int) if centres is None else pairwise_distances_argmin(X, centres)
            for c, model in enumerate(clusters):
                rows = np.flatnonzero(assign == c)
                if rows.size == 0:
                    continue
                k = min(self.hparams["test_neighbours"], len(model.Y))
                knn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(model.train_embedding)
                _, idx = knn.kneighbors(model.embed(X[rows]))
                scores[rows] += model.Y[idx].mean(axis=1)
        return np.clip(scores / len(self.learners_), 0.0, 1.0)
