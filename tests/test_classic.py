"""Classic baselines: br, mlknn (checked against the paper's definition), haram."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_multilabel_classification

from mlbench.methods import FitContext, create_method
from mlbench.methods.classic import HARAM, BinaryRelevance, MLkNN
from mlbench.metrics import compute_metrics


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(300, n_features=20, n_classes=5, random_state=0)
    return X[:250], Y[:250], X[250:], Y[250:]


@pytest.mark.parametrize("method", ["br", "mlknn", "haram"])
def test_learns(data, method):
    X, Y, Xt, Yt = data
    est = create_method(method).fit(X, Y, context=FitContext(progress=False))
    p = est.predict_proba(Xt)
    assert p.shape == Yt.shape and p.dtype == np.float64
    assert 0.0 <= p.min() and p.max() <= 1.0
    prior = np.tile(Y.mean(axis=0), (len(Yt), 1))
    got, base = compute_metrics(Yt, p, 0.5, ["map"]), compute_metrics(Yt, prior, 0.5, ["map"])
    assert got["map"] > base["map"] + 0.05
    assert compute_metrics(Yt, p, 0.5, ["ma-f1"])["ma-f1"] > 0.45  # all-positive scores 0.51


@pytest.mark.parametrize("method,atol", [("br", 5e-3), ("mlknn", 0.0), ("haram", 0.0)])
def test_sparse_input(data, method, atol):
    X, Y, Xt, _ = data
    # jitter: integer features have many distance ties, which kNN searches break differently
    X, Xt = X + 1e-3 * np.random.default_rng(0).random(X.shape), Xt + 1e-3
    dense = create_method(method).fit(X, Y).predict_proba(Xt)
    sparse = create_method(method).fit(sp.csr_matrix(X), Y).predict_proba(sp.csr_matrix(Xt))
    # br: dense inputs are centred, sparse ones only scaled; same optimum up to solver tolerance
    np.testing.assert_allclose(sparse, dense, atol=atol)


def test_br_constant_labels(data):
    X, Y, Xt, _ = data
    Y = np.column_stack([Y, np.zeros(len(Y), int), np.ones(len(Y), int)])
    p = BinaryRelevance().fit(X, Y).predict_proba(Xt)
    assert np.all(p[:, 5] == 0.0) and np.all(p[:, 6] == 1.0)
    ref = BinaryRelevance().fit(X, Y[:, :5]).predict_proba(Xt)
    np.testing.assert_allclose(p[:, :5], ref)


def test_br_matches_sklearn_logistic_regression(data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, Y, Xt, _ = data
    scaler = StandardScaler().fit(X)
    clf = LogisticRegression(C=0.5, max_iter=1000).fit(scaler.transform(X), Y[:, 2])
    p = BinaryRelevance(C=0.5).fit(X, Y).predict_proba(Xt)
    np.testing.assert_allclose(p[:, 2], clf.predict_proba(scaler.transform(Xt))[:, 1], atol=1e-10)


# -- MLkNN against its definition (Zhang & Zhou 2007) --------------------------------------------


def test_mlknn_hand_computed():
    # One label, six 1-D training points, k=2, s=1.
    #   x:  0  1  2  10  11  12
    #   y:  1  1  0   0   0   1
    # Neighbours (self excluded) and their positive count c:
    #   0 -> {1, 2}: c=1;  1 -> {0, 2}: c=1;  2 -> {1, 0}: c=2
    #   10 -> {11, 12}: c=1;  11 -> {10, 12}: c=1;  12 -> {11, 10}: c=0
    # Prior P(H1) = (s + 3) / (2s + 6) = 1/2.
    # Positives have c = 1, 1, 0 -> P(c|H1) = (s + #)/(s(k+1) + 3) = [2, 3, 1] / 6 for c = 0, 1, 2.
    # Negatives have c = 2, 1, 1 -> P(c|H0) = [1, 3, 2] / 6.
    # Test 0.5 has neighbours {0, 1}: c=2 -> (1/6) / (1/6 + 2/6) = 1/3.
    # Test 11.9 has neighbours {12, 11}: c=1 -> (3/6) / (3/6 + 3/6) = 1/2.
    # Test 5.9 has neighbours {2, 10}: c=0 -> (2/6) / (2/6 + 1/6) = 2/3.
    X = np.array([[0.0], [1], [2], [10], [11], [12]])
    Y = np.array([[1], [1], [0], [0], [0], [1]])
    p = MLkNN(k=2, s=1.0).fit(X, Y).predict_proba(np.array([[0.5], [11.9], [5.9]]))
    np.testing.assert_allclose(p[:, 0], [1 / 3, 1 / 2, 2 / 3], rtol=1e-12)


def mlknn_oracle(X, Y, Xt, k, s):
    """Independent numpy ML-kNN straight from the paper's definitions."""
    n, L = Y.shape
    d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)  # a training point is not its own neighbour
    c = Y[np.argsort(d, axis=1)[:, :k]].sum(axis=1)  # (n, L) positive neighbours
    n_pos = Y.sum(axis=0)
    n_neg = n - n_pos
    prior = (s + n_pos) / (2 * s + n)
    # like1[j, l] = P(c = j | H1) for label l, smoothed; like0 likewise for H0
    counts = range(k + 1)
    like1 = np.stack([(s + ((c == j) & (Y == 1)).sum(0)) / (s * (k + 1) + n_pos) for j in counts])
    like0 = np.stack([(s + ((c == j) & (Y == 0)).sum(0)) / (s * (k + 1) + n_neg) for j in counts])
    dt = ((Xt[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    ct = Y[np.argsort(dt, axis=1)[:, :k]].sum(axis=1)
    cols = np.arange(L)
    p1 = prior * like1[ct, cols]
    p0 = (1 - prior) * like0[ct, cols]
    return p1 / (p1 + p0)


@pytest.mark.parametrize("k,s", [(10, 1.0), (3, 0.5)])
@pytest.mark.parametrize("normalize", ["none", "minmax"])
def test_mlknn_matches_oracle(data, k, s, normalize):
    X, Y, Xt, _ = data
    X = X + np.random.default_rng(0).normal(scale=1e-3, size=X.shape)  # no distance ties
    Xt = Xt + np.random.default_rng(1).normal(scale=1e-3, size=Xt.shape)
    X[:, 3] = 7.0  # a constant training feature: min-max maps it to 0, whatever the test value
    p = MLkNN(k=k, s=s, normalize=normalize).fit(X, Y).predict_proba(Xt)
    if normalize == "minmax":  # the oracle sees features scaled to [0, 1] by the training range
        lo, span = X.min(axis=0), np.ptp(X, axis=0)
        span[3] = np.inf
        X, Xt = (X - lo) / span, (Xt - lo) / span
    np.testing.assert_allclose(p, mlknn_oracle(X, Y, Xt, k, s), rtol=1e-10)


# -- HARAM ---------------------------------------------------------------------------------------


def test_haram_scores_are_ngs_ranking_rescaled(data):
    from skmultilearn.adapt import MLARAM

    X, Y, Xt, _ = data
    est = HARAM().fit(X, Y)
    p = est.predict_proba(Xt)
    raw = MLARAM(vigilance=0.9, threshold=0.02).fit(est._scale(X), Y.astype(float).copy())
    r = raw.predict_proba(est._scale(Xt))
    # same prototypes, each row rescaled by one factor >= 1 (rows of zeros stay zero)
    zero = p.sum(axis=1) == 0
    assert np.all(r[zero] == 0)
    factor = r[~zero].sum(axis=1) / p[~zero].sum(axis=1)
    np.testing.assert_allclose(r[~zero], p[~zero] * factor[:, None], rtol=1e-9, atol=1e-12)
    assert np.all(factor >= 1.0 - 1e-12)


def test_haram_many_labels_and_out_of_range_inputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    Y = (rng.random((60, 200)) < 0.05).astype(int)  # label indices >= 128 broke ng's keys
    p = HARAM().fit(X, Y).predict_proba(rng.normal(scale=5.0, size=(10, 4)))
    assert p.shape == (10, 200) and 0.0 <= p.min() and p.max() <= 1.0
