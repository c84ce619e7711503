"""MLkNN: the vectorised implementation against scikit-multilearn-ng's (kept as a test-only
reference), its leave-self-out rule, chunking, and the min-max normalisation (hand-computed)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mlbench.methods.classic as classic
from mlbench.errors import MlbenchError
from mlbench.methods.classic import MLkNN

from .conftest import invoke_cli


def ng_probabilities(X, Y, Xt, k=10, s=1.0):
    """scikit-multilearn-ng's MLkNN, fitted leaving each training point out (its first neighbour)
    and predicting with all k neighbours, as mlbench used it before."""
    from skmultilearn.adapt import MLkNN as NgMLkNN

    model = NgMLkNN(k=k, s=s, ignore_first_neighbours=1).fit(X, Y)
    model.ignore_first_neighbours = 0
    return model.predict_proba(Xt).toarray()


@pytest.fixture(scope="module")
def yeast(tmp_path_factory):
    from mlbench.data import load_split
    from mlbench.data.fetch import fetch_dataset

    data_dir = tmp_path_factory.mktemp("data")
    fetch_dataset("yeast", data_dir)  # embedded copy, no network
    return load_split("yeast", "iterative", 0, data_dir=data_dir)


# Both sides use scikit-learn's NearestNeighbors(n_neighbors=k) with its default ("auto") algorithm
# and metric on the same feature matrix, so distance ties are broken the same way and the
# neighbour sets are identical. ng leaves a training point out by dropping its first neighbour,
# which is the point itself unless an exact duplicate comes first; the data below have no
# duplicate rows (asserted), where that rule and ours agree.


@pytest.mark.slow
@pytest.mark.parametrize("normalize", ["minmax", "none"])
def test_equals_ng_on_yeast(yeast, normalize):
    X, Y, Xt = yeast.X_train, yeast.Y_train, yeast.X_test
    assert len(np.unique(X, axis=0)) == len(X)
    ours = MLkNN(normalize=normalize).fit(X, Y)
    scaled = ours.scaling_.transform(X), ours.scaling_.transform(Xt)
    if normalize == "minmax":
        assert scaled[0].min() == 0.0 and scaled[0].max() == 1.0
    np.testing.assert_allclose(ours.predict_proba(Xt), ng_probabilities(scaled[0], Y, scaled[1]), rtol=0, atol=1e-12)


def sparse_binary(n=600, d=300, L=12, seed=0):
    """Bag-of-words-like CSR data: binary features, so Euclidean distances tie a lot."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.05, format="csr", random_state=seed, data_rvs=np.ones)
    Y = (X @ rng.normal(size=(d, L)) + rng.normal(size=(n, L)) > 1.5).astype(int)
    return X, Y


@pytest.mark.parametrize("k", [10, 3])
def test_equals_ng_on_sparse_data_with_ties(k, monkeypatch):
    X, Y = sparse_binary()
    assert len(np.unique(X.toarray(), axis=0)) == X.shape[0]
    Xtr, Ytr, Xt = X[:450], Y[:450], X[450:]
    # a tiny distance block: the training part is queried in two chunks (256 + 194 rows)
    monkeypatch.setattr(classic, "MLKNN_BLOCK_BYTES", 1)
    ours = MLkNN(k=k).fit(Xtr, Ytr)
    p = ours.predict_proba(Xt)
    assert p.shape == (150, 12)
    ref = ng_probabilities(ours.scaling_.transform(Xtr), Ytr, ours.scaling_.transform(Xt), k=k)
    np.testing.assert_allclose(p, ref, rtol=0, atol=1e-12)


def test_chunking_does_not_change_probabilities(monkeypatch):
    X, Y = sparse_binary(n=700, seed=1)
    X = X.toarray() + 1e-3 * np.random.default_rng(2).random(X.shape)  # dense path too
    whole = MLkNN(k=5).fit(X[:600], Y[:600]).predict_proba(X[600:])
    monkeypatch.setattr(classic, "MLKNN_BLOCK_BYTES", 1)  # 256-row chunks
    chunked = MLkNN(k=5).fit(X[:600], Y[:600]).predict_proba(X[600:])
    np.testing.assert_array_equal(chunked, whole)


def test_a_duplicate_of_a_training_point_is_its_neighbour_not_itself():
    # k=1, s=1, one label. Points 0 and 1 are identical with different labels; 2 and 3 are far.
    #   x: 0  0  5  6      y: 1  0  1  1
    # Leaving the point itself out: 0 -> 1 (c=0), 1 -> 0 (c=1), 2 -> 3 (c=1), 3 -> 2 (c=1).
    # Positives (0, 2, 3) have c = 0, 1, 1 -> P(c|H1) = (1 + [1, 2]) / (2 + 3) = [2/5, 3/5].
    # Negative (1) has c = 1 -> P(c|H0) = (1 + [0, 1]) / (2 + 1) = [1/3, 2/3].
    # Prior P(H1) = (1 + 3) / (2 + 4) = 2/3, so
    #   P(y=1 | c=0) = (2/3 * 2/5) / (2/3 * 2/5 + 1/3 * 1/3) = 12/17,
    #   P(y=1 | c=1) = (2/3 * 3/5) / (2/3 * 3/5 + 1/3 * 2/3) = 9/14.
    # Test 5.9 has neighbour 3 (c=1) -> 9/14; test 4.9 has neighbour 2 (c=1) -> 9/14.
    # Counting point 1 as its own neighbour instead (ng's drop-the-first-neighbour rule does
    # when its duplicate 0 comes first) would give it c=0: P(c|H0) = [2/3, 1/3], 9/14 -> 18/23.
    X = np.array([[0.0], [0.0], [5.0], [6.0]])
    Y = np.array([[1], [0], [1], [1]])
    est = MLkNN(k=1, s=1.0, normalize="none").fit(X, Y)
    np.testing.assert_allclose(est.posterior_[0], [12 / 17, 9 / 14], rtol=1e-12)
    np.testing.assert_allclose(est.predict_proba(np.array([[5.9], [4.9]]))[:, 0], [9 / 14, 9 / 14], rtol=1e-12)


@pytest.mark.parametrize("as_sparse", [False, True])
def test_minmax_normalisation_hand_computed(as_sparse):
    # One label, k=1, s=1. Feature 1 spans [0, 100], feature 2 [0, 1], feature 3 is constant (7)
    # in training; the label is feature 2.
    #   p0 = (0, 0, 7) y=0   p1 = (10, 1, 7) y=1   p2 = (100, 0, 7) y=0   p3 = (90, 1, 7) y=1
    # minmax -> p0 = (0, 0, 0), p1 = (.1, 1, 0), p2 = (1, 0, 0), p3 = (.9, 1, 0) (constant -> 0).
    #   Nearest other point: p0 -> p2 (d=1 < 1.005), p1 -> p3 (.8), p2 -> p0 (1), p3 -> p1 (.8);
    #   positives p1, p3 have c=1, negatives p0, p2 have c=0; prior 1/2;
    #   P(c|H1) = (1 + [0, 2]) / 4 = [1/4, 3/4], P(c|H0) = [3/4, 1/4];
    #   so P(y=1 | c=0) = 1/4 and P(y=1 | c=1) = 3/4.
    # none (raw): f1 dominates: p0 -> p1, p1 -> p0, p2 -> p3, p3 -> p2 (d = 10.05 each):
    #   positives have c=0, negatives c=1: P(y=1 | c=0) = 3/4, P(y=1 | c=1) = 1/4.
    # Queries (f3 = 1000 in both: out of the training range, not clipped; the constant feature is
    # ignored by minmax and shifts every raw distance alike):
    #   q1 = (55, 0): minmax (.55, 0) -> p2 (.45) c=0 -> 1/4;  raw -> p3 (35.01) c=1 -> 1/4.
    #   q2 = (5, 1):  minmax (.05, 1) -> p1 c=1 -> 3/4;        raw -> p1 (5)    c=1 -> 1/4.
    X = np.array([[0.0, 0, 7], [10, 1, 7], [100, 0, 7], [90, 1, 7]])
    Y = X[:, [1]].astype(int)
    Q = np.array([[55.0, 0, 1000], [5, 1, 1000]])
    if as_sparse:
        X, Q = sp.csr_matrix(X), sp.csr_matrix(Q)
    minmax = MLkNN(k=1, s=1.0).fit(X, Y)
    np.testing.assert_allclose(minmax.posterior_[0], [1 / 4, 3 / 4], rtol=1e-12)
    np.testing.assert_allclose(minmax.predict_proba(Q)[:, 0], [1 / 4, 3 / 4], rtol=1e-12)
    raw = MLkNN(k=1, s=1.0, normalize="none").fit(X, Y)
    np.testing.assert_allclose(raw.predict_proba(Q)[:, 0], [1 / 4, 1 / 4], rtol=1e-12)
    if as_sparse:  # scaled without shifting, so it stays sparse
        assert sp.issparse(minmax.scaling_.transform(X))


def test_bad_settings_are_one_line_errors():
    with pytest.raises(MlbenchError, match="normalize must be one of minmax, none"):
        MLkNN(normalize="zscore")
    with pytest.raises(MlbenchError, match="normalize=none with standardize=true"):
        MLkNN(standardize=True)
    X, Y = sparse_binary(n=20, L=3)
    with pytest.raises(MlbenchError, match="must be > 0"):
        MLkNN(s=0.0).fit(X, Y)


def test_cli_rejects_bad_normalize_before_writing_a_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MLBENCH_RUNS", str(tmp_path / "runs"))
    assert invoke_cli("fetch", "yeast", "-q") == 0
    code = invoke_cli("train", "--method", "mlknn", "--dataset", "yeast", "--set", "normalize=l2", "-q")
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert err.count("error:") == 1 and "normalize=minmax or --set normalize=none" in " ".join(err.split())
    assert not (tmp_path / "runs" / "yeast").exists()


@pytest.mark.parametrize("scale", [1.0, 1e-130])  # 1e-130: products below 2^-400, no -2 folding
def test_own_sparse_search_equals_scikit_learns_kneighbors(scale, monkeypatch):
    # Non-integer values, so distances round; duplicated rows (rows 0-2 eight times, more than
    # the 6 neighbours), so some distances round below 0 and are clipped to exact ties; both the
    # bit-identical distances and the tie order must match.
    rng = np.random.default_rng(3)
    X = sp.random(300, 40, density=0.2, format="csr", random_state=3, data_rvs=lambda n: rng.random(n) * 3)
    X = sp.vstack([X, X[:40], X[:10]] + [X[:3]] * 6).tocsr() * scale
    Q = sp.vstack([X[::7], sp.random(30, 40, density=0.2, format="csr", random_state=4) * scale]).tocsr()
    from sklearn.neighbors import NearestNeighbors

    expected = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(Q, 6, return_distance=False)
    monkeypatch.setattr(classic, "MLKNN_SPARSE_BLOCK_BYTES", 8 * X.shape[0] * 5)  # 5-row blocks
    X_T, sq_norms = X.T.tocsr(), np.asarray(X.multiply(X).sum(axis=1)).T
    np.testing.assert_array_equal(classic._sparse_kneighbors(Q, X_T, sq_norms, 6), expected)
    Y = (X[:, :5].toarray() > 0.5 * scale).astype(int)
    ours = MLkNN(k=5, normalize="none").fit(X, Y).predict_proba(Q)
    monkeypatch.setattr(classic, "MLKNN_SPARSE_BLOCK_BYTES", 0)  # scikit-learn's kneighbors
    np.testing.assert_array_equal(ours, MLkNN(k=5, normalize="none").fit(X, Y).predict_proba(Q))
