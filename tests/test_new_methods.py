"""The baselines of issue 12: cc, ecc, rf, boomer (classic) and the seed papers' SLEEC and RBCC."""

from __future__ import annotations

import builtins
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import make_multilabel_classification

from mlbench.errors import MlbenchError
from mlbench.methods import FitContext, create_method, method_ids
from mlbench.methods.rbcc import (
    bn_chain_nll,
    chow_liu_tree,
    label_mutual_information,
    tree_map,
    tree_marginals,
)
from mlbench.methods.sleec import label_neighbour_graph, svp_embedding, svp_objective
from mlbench.metrics import compute_metrics
from mlbench.metrics.protocols import best_threshold
from tests.conftest import invoke_cli
from tests.test_cli import assert_one_line_error

# Small settings keep the neural method to a second on the synthetic data.
FAST = {
    "cc": {},
    "ecc": {},
    "rf": {"n_estimators": 30},
    "sleec": {},
    "rbcc": {"epochs": 8, "lr": 3e-3, "dropout": 0.1, "hidden": [64], "rnn_size": 32, "position_dim": 8},
}


def _boomer_installed() -> bool:
    try:
        import mlrl.boosting  # noqa: F401
    except ImportError:
        return False
    return True


METHODS = list(FAST) + (["boomer"] if _boomer_installed() else [])


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(300, n_features=20, n_classes=5, random_state=0)
    return X[:250].astype(float), Y[:250], X[250:].astype(float), Y[250:]


def _fit(method, X, Y, seed=0, Xv=None, Yv=None, **extra):
    est = create_method(method, overrides={**FAST.get(method, {}), **extra})
    return est.fit(X, Y, Xv, Yv, context=FitContext(seed=seed, progress=False))


def test_registered():
    assert {"cc", "ecc", "rf", "boomer", "sleec", "rbcc"} <= set(method_ids())


@pytest.mark.parametrize("method", METHODS)
def test_learns_shapes_ranges_and_is_deterministic(data, method):
    X, Y, Xt, Yt = data
    p = _fit(method, X, Y, Xv=Xt, Yv=Yt).predict_proba(Xt)
    assert p.shape == Yt.shape and p.dtype == np.float64
    assert 0.0 <= p.min() and p.max() <= 1.0
    prior = np.tile(Y.mean(axis=0), (len(Yt), 1))
    assert compute_metrics(Yt, p, 0.5, ["map"])["map"] > compute_metrics(Yt, prior, 0.5, ["map"])["map"] + 0.05
    again = _fit(method, X, Y, Xv=Xt, Yv=Yt).predict_proba(Xt)
    np.testing.assert_array_equal(p, again)


@pytest.mark.parametrize("method", ["cc", "ecc", "rf", "sleec"])
def test_other_seed_changes_the_randomised_parts(data, method):
    X, Y, Xt, _ = data
    if method == "sleec":  # one cluster for 250 points: nothing random, seeds agree
        np.testing.assert_array_equal(_fit(method, X, Y, 0).predict_proba(Xt), _fit(method, X, Y, 1).predict_proba(Xt))
        return
    assert not np.array_equal(_fit(method, X, Y, 0).predict_proba(Xt), _fit(method, X, Y, 1).predict_proba(Xt))


@pytest.mark.parametrize("method", ["cc", "ecc", "rf", "sleec"] + (["boomer"] if _boomer_installed() else []))
def test_constant_training_labels(data, method):
    X, Y, Xt, _ = data
    Y = np.column_stack([Y, np.zeros(len(Y), int), np.ones(len(Y), int)])
    p = _fit(method, X, Y).predict_proba(Xt)
    assert np.all(p[:, 5] == 0.0) and np.all(p[:, 6] == 1.0)
    assert p[:, :5].std(axis=0).min() > 0.01  # the other labels still vary


def test_cc_orders_are_random_and_ecc_has_ten_chains(data):
    X, Y, _, _ = data
    orders = [tuple(_fit("cc", X, Y, seed).orders_[0]) for seed in range(6)]
    assert all(sorted(o) == list(range(5)) for o in orders) and len(set(orders)) > 1
    ecc = _fit("ecc", X, Y, 0)
    assert len(ecc.orders_) == 10 and len({tuple(o) for o in ecc.orders_}) > 1


def _sklearn_forest_positive_proba(X, Y, Xt, seed, **params):
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(random_state=seed, **params).fit(X, Y if Y.shape[1] > 1 else Y[:, 0])
    per_label, classes = forest.predict_proba(Xt), forest.classes_
    if Y.shape[1] == 1:
        per_label, classes = [per_label], [classes]
    return np.column_stack(
        [p[:, list(c).index(1)] if 1 in c else np.zeros(Xt.shape[0]) for p, c in zip(per_label, classes)]
    )


@pytest.mark.parametrize("case", ["dense", "sparse", "one-label"])
def test_rf_is_scikit_learns_forest(data, case):
    # rf grows scikit-learn's trees with the forest's seeds and bootstraps but keeps only the
    # leaves' P(label = 1): the probabilities must be RandomForestClassifier's.
    import scipy.sparse as sp

    X, Y, Xt, _ = data
    Y = np.column_stack([Y, np.zeros(len(Y), int), np.ones(len(Y), int)])  # constant labels too
    if case == "sparse":
        X, Xt = (sp.csr_matrix(np.where(a > 2, a, 0.0)) for a in (X, Xt))
    if case == "one-label":
        Y = Y[:, :1]
    params = {"n_estimators": 12, "max_features": "sqrt", "min_samples_leaf": 2}
    for seed in (0, 3):
        ours = _fit("rf", X, Y, seed, **params).predict_proba(Xt)
        np.testing.assert_allclose(ours, _sklearn_forest_positive_proba(X, Y, Xt, seed, **params), rtol=0, atol=1e-12)


# -- SLEEC ------------------------------------------------------------------------------------------


def test_sleec_full_graph_embedding_reproduces_label_gram():
    # With Ω = every pair and as many dimensions as labels, P_Ω(Ŷ Ŷᵀ) = Ŷ Ŷᵀ has rank <= L and
    # is positive semidefinite: its factor U sqrt(S) reproduces it exactly (Eq. 2 at 0).
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    rng = np.random.default_rng(0)
    Y_hat = normalize(sp.csr_matrix((rng.random((40, 4)) < 0.4).astype(float)))
    omega = label_neighbour_graph(Y_hat, 40)
    Z = svp_embedding(omega, 4, seed=0)
    assert svp_objective(Y_hat, Z, omega) < 1e-9
    assert svp_objective(Y_hat, np.zeros_like(Z), omega) > 1.0


def test_sleec_neighbour_graph_keeps_the_most_similar_label_vectors():
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    Y = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]], dtype=float)
    omega = label_neighbour_graph(normalize(sp.csr_matrix(Y)), 2).toarray()
    assert (np.count_nonzero(omega, axis=1) == 2).all()
    # row 0's two most similar label vectors: itself and the identical row 1 (inner product 1)
    assert omega[0, 0] == pytest.approx(1.0) and omega[0, 1] == pytest.approx(1.0)
    assert omega[3, 3] == pytest.approx(1.0) and omega[3, 4] == pytest.approx(1 / np.sqrt(2))


def test_sleec_scores_are_neighbour_label_averages(data):
    X, Y, Xt, _ = data
    one = _fit("sleec", X, Y, test_neighbours=1).predict_proba(Xt)
    assert set(np.unique(one)) <= {0.0, 1.0}
    train_rows = {tuple(r) for r in Y}
    assert all(tuple(r.astype(int)) in train_rows for r in one)
    five = _fit("sleec", X, Y, test_neighbours=5).predict_proba(Xt)
    assert np.allclose(five * 5, np.round(five * 5))


def test_sleec_ensemble_over_clusterings(data):
    X, Y, Xt, _ = data
    est = _fit("sleec", X, Y, cluster_size=60, n_learners=3)  # round(250/60) = 4 clusters
    assert len(est.learners_) == 3 and all(len(c) == 4 for _, c in est.learners_)
    p = est.predict_proba(Xt)
    assert 0 <= p.min() and p.max() <= 1
    assert not np.array_equal(p, _fit("sleec", X, Y, 1, cluster_size=60, n_learners=3).predict_proba(Xt))


def test_sleec_more_dimensions_than_labels(data):
    X, Y, _, _ = data
    with pytest.raises(MlbenchError, match=r"--set embedding_dim=5"):
        _fit("sleec", X, Y, embedding_dim=6)


def test_sleec_too_many_dimensions_from_the_cli(tmp_path, capsys):
    assert invoke_cli("fetch", "yeast", "--data-dir", tmp_path / "data") == 0
    capsys.readouterr()
    code = invoke_cli(
        "train",
        "--method",
        "sleec",
        "--dataset",
        "yeast",
        "--set",
        "embedding_dim=20",
        "--runs-dir",
        tmp_path / "runs",
        "--data-dir",
        tmp_path / "data",
        "-q",
    )
    assert_one_line_error(code, capsys.readouterr().err, "embedding_dim=20", "14 labels", "--set embedding_dim=14")


# -- RBCC -------------------------------------------------------------------------------------------


def _random_tree(n_labels, rng):
    parents = np.array([-1] + [int(rng.integers(0, i)) for i in range(1, n_labels)])
    return parents, np.arange(n_labels)


def _joint(cond, parents, y):
    """P(y | x) = Π_l P(y_l | x, y_pa(l)) for one label vector y, per sample."""
    out = np.ones(cond.shape[0])
    for label, parent in enumerate(parents):
        v = y[parent] if parent >= 0 else 0
        p1 = cond[:, label, v]
        out *= p1 if y[label] else 1 - p1
    return out


def test_tree_inference_matches_enumeration():
    rng = np.random.default_rng(0)
    n, L = 7, 5
    parents, order = _random_tree(L, rng)
    perm = rng.permutation(L)  # relabel so that label index order is not topological
    inverse = np.argsort(perm)
    parents = np.array([inverse[parents[perm[i]]] if parents[perm[i]] >= 0 else -1 for i in range(L)])
    order = inverse[order]
    cond = rng.random((n, L, 2))
    configs = np.array(list(itertools.product([0, 1], repeat=L)))
    joint = np.stack([_joint(cond, parents, y) for y in configs], axis=1)  # (n, 2^L)
    assert np.allclose(joint.sum(1), 1.0)
    exact_marginals = joint @ configs
    got = tree_marginals(torch.as_tensor(cond), torch.as_tensor(parents), torch.as_tensor(order))
    np.testing.assert_allclose(got.numpy(), exact_marginals, atol=1e-12)
    np.testing.assert_array_equal(tree_map(cond, parents, order), configs[joint.argmax(1)])


def test_mutual_information_matches_sklearn():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(1)
    Y = (rng.random((200, 4)) < [0.2, 0.5, 0.7, 0.4]).astype(int)
    Y[:, 3] = Y[:, 1] ^ (rng.random(200) < 0.1)
    mi = label_mutual_information(Y)
    for a, b in itertools.combinations(range(4), 2):
        assert mi[a, b] == pytest.approx(mutual_info_score(Y[:, a], Y[:, b]), abs=1e-12)
    assert np.allclose(mi, mi.T) and np.all(np.diag(mi) == 0)


def test_chow_liu_recovers_a_chain_and_orders_parents_first():
    rng = np.random.default_rng(2)
    n = 4000
    a = rng.random(n) < 0.6
    b = a ^ (rng.random(n) < 0.05)
    c = b ^ (rng.random(n) < 0.1)
    d = rng.random(n) < 0.5  # independent of the rest
    e = c ^ (rng.random(n) < 0.2)
    Y = np.column_stack([c, a, e, d, b]).astype(int)  # labels: 0=c, 1=a, 2=e, 3=d, 4=b
    parents, order = chow_liu_tree(Y)
    edges = {frozenset((i, int(p))) for i, p in enumerate(parents) if p >= 0}
    assert {frozenset((1, 4)), frozenset((4, 0)), frozenset((0, 2))} <= edges
    assert sorted(order) == list(range(5))
    position = {label: i for i, label in enumerate(order)}
    assert all(position[p] < position[i] for i, p in enumerate(parents) if p >= 0)
    assert parents[1] == -1  # a is the most frequent label of its tree: the root


def test_bn_chain_nll_uses_the_true_parent_values():
    parents = torch.tensor([-1, 0])
    logits = torch.tensor([[[0.0, 9.0], [-3.0, 3.0]]])  # label 1: logit -3 if parent 0, 3 if 1
    y = torch.tensor([[1.0, 1.0]])
    expected = (np.log(2) + np.log1p(np.exp(-3.0))) / 2  # root uses column 0
    assert bn_chain_nll(logits, y, parents).item() == pytest.approx(expected)


def test_rbcc_single_label(data):
    X, Y, _, _ = data
    with pytest.raises(MlbenchError, match="at least 2 labels"):
        _fit("rbcc", X, Y[:, :1])


def test_rbcc_map_and_save_load(data, tmp_path):
    from mlbench.methods.rbcc import RBCC

    X, Y, Xt, Yt = data
    est = create_method("rbcc", overrides=FAST["rbcc"]).fit(
        X, Y, Xt, Yt, context=FitContext(seed=0, progress=False, run_dir=tmp_path)
    )
    y_map = est.predict_map(Xt)
    assert y_map.shape == Yt.shape and set(np.unique(y_map)) <= {0, 1}
    extras = est.extras()
    assert sorted(extras["order"]) == list(range(5)) and (extras["parents"] == -1).sum() >= 1
    loaded = RBCC.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(loaded.predict_proba(Xt), est.predict_proba(Xt))
    np.testing.assert_array_equal(loaded.predict_map(Xt), y_map)


# -- BOOMER -----------------------------------------------------------------------------------------


def test_boomer_missing_package(monkeypatch, tmp_path, capsys):
    real_import = builtins.__import__

    def no_mlrl(name, *args, **kwargs):
        if name.startswith("mlrl"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlrl)
    with pytest.raises(MlbenchError) as info:
        create_method("boomer")
    assert str(info.value) == "boomer needs mlrl-boomer: pip install 'mlbench[boomer]'"
    assert invoke_cli("fetch", "yeast", "--data-dir", tmp_path / "data") == 0
    capsys.readouterr()
    code = invoke_cli(
        "train",
        "--method",
        "boomer",
        "--dataset",
        "yeast",
        "--runs-dir",
        tmp_path / "runs",
        "--data-dir",
        tmp_path / "data",
        "-q",
    )
    assert_one_line_error(code, capsys.readouterr().err, "pip install 'mlbench[boomer]'")
    assert not list((tmp_path / "runs").rglob("scores.npz"))


# -- yeast: each beats the constant predictor ---------------------------------------------------------


@pytest.fixture(scope="module")
def yeast(tmp_path_factory):
    from mlbench.data import load_split
    from mlbench.data.fetch import fetch_dataset

    data_dir = tmp_path_factory.mktemp("data")
    fetch_dataset("yeast", data_dir)  # embedded in the package: offline
    return load_split("yeast", seed=0, data_dir=data_dir)


YEAST = {
    "cc": {},
    "ecc": {"n_chains": 3},
    "rf": {"n_estimators": 50},
    "sleec": {},
    "rbcc": {"epochs": 10, "lr": 4e-3, "dropout": 0.2, "hidden": [128]},
    "boomer": {"max_rules": 100},
}


@pytest.mark.slow
@pytest.mark.parametrize("method", [m for m in YEAST if m in METHODS])
def test_yeast_beats_the_label_frequency_baseline(yeast, method):
    d = yeast
    est = create_method(method, "yeast", YEAST[method])
    est.fit(d.X_train, d.Y_train, d.X_val, d.Y_val, FitContext(seed=0, progress=False))
    p = est.predict_proba(d.X_test)
    constant = np.tile(d.Y_train.mean(0), (len(d.Y_test), 1))
    ours, base = (compute_metrics(d.Y_test, s, 0.5, ["map", "ex-f1"]) for s in (p, constant))
    assert ours["map"] > base["map"] + 0.1, (ours, base)  # label frequencies: map 0.30
    _, best_ours = best_threshold(d.Y_test, p, "ex-f1")
    _, best_base = best_threshold(d.Y_test, constant, "ex-f1")
    assert best_ours > best_base + 0.05, (best_ours, best_base)


# -- paper tables -----------------------------------------------------------------------------------


def test_sleec_and_rbcc_rows_fill_in(tmp_path):
    from mlbench.papers.plan import cell_reason
    from mlbench.results.paper_tables import render_paper_table
    from mlbench.runs.store import COLUMNS

    assert cell_reason("sleec", "yeast", data_dir=tmp_path) is None
    assert cell_reason("rbcc", "scene", data_dir=tmp_path) is None
    empty = pd.DataFrame(columns=COLUMNS)
    cgmvae = render_paper_table(empty, "cgmvae", "ex-f1", "paper", "csv", data_dir=tmp_path)
    mulsupcon = render_paper_table(empty, "mulsupcon", "ex-f1", "paper", "csv", data_dir=tmp_path)
    assert "SLEEC," in cgmvae and "SLEEC (not implemented" not in cgmvae
    assert "RBCC," in mulsupcon and "RBCC (not implemented" not in mulsupcon


def test_cli_train_records_a_complete_run(tmp_path, capsys):
    from mlbench.io import read_json
    from mlbench.runs.runner import load_scores

    assert invoke_cli("fetch", "yeast", "--data-dir", tmp_path / "data") == 0
    code = invoke_cli(
        "train",
        "--method",
        "cc",
        "--dataset",
        "yeast",
        "--seed",
        "0",
        "--train-fraction",
        "0.5",
        "--runs-dir",
        tmp_path / "runs",
        "--data-dir",
        tmp_path / "data",
        "-q",
    )
    assert code == 0, capsys.readouterr().err
    (run_dir,) = [p.parent for p in (tmp_path / "runs").rglob("status.json")]
    assert read_json(run_dir / "status.json")["state"] == "complete"
    scores = load_scores(run_dir)
    assert scores["scores_test"].shape == scores["y_test"].shape
    assert set(read_json(run_dir / "metrics.json")) == {"fixed", "val", "paper"}
