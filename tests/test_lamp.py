"""LaMP: the label graph and the masked attention (hand-checked), shapes, determinism,
persistence, bad settings, and a short yeast run that beats a constant predictor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_multilabel_classification

from mlbench.errors import MlbenchError
from mlbench.methods import FitContext, create_method, get_method_class, resolve_params
from mlbench.methods.lamp import LaMPMethod, LaMPNet, MultiHeadAttention, attend, label_graph
from mlbench.methods.neural import MODEL
from mlbench.metrics import compute_metrics

TINY = {"d_model": 16, "d_inner": 16, "layers": 2, "heads": 2, "batch_size": 32, "epochs": 3, "num_threads": 1}


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()  # num_threads is process-wide; do not leak it to other tests
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(240, n_features=12, n_classes=5, random_state=0)
    Y[:5] = 0  # samples without labels must not break anything
    return X[:160], Y[:160], X[160:200], Y[160:200], X[200:], Y[200:]


def fit(data, seed=0, run_dir=None, **params):
    X, Y, Xv, Yv, *_ = data
    est = create_method("lamp", overrides={**TINY, **params})
    est.fit(X, Y, Xv, Yv, FitContext(seed=seed, progress=False, run_dir=run_dir))
    return est


# -- the label graph and the attention -------------------------------------------------------


def test_label_graph_by_hand():
    # Labels 0 and 1 co-occur (row 0), 1 and 2 co-occur (row 1); 3 never appears.
    Y = torch.tensor([[1.0, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0]])
    T, F_ = True, False
    assert label_graph(Y, "prior").tolist() == [[T, T, F_, F_], [T, T, T, F_], [F_, T, T, F_], [F_, F_, F_, T]]
    assert label_graph(Y, "self").equal(torch.eye(4, dtype=torch.bool))
    assert label_graph(Y, "no-self").equal(~torch.eye(4, dtype=torch.bool))
    assert label_graph(Y, "none").all()
    # A single label has no other label to hear from: it hears itself instead of nothing.
    assert label_graph(torch.ones(3, 1), "no-self").tolist() == [[True]]
    with pytest.raises(MlbenchError, match="label_mask must be one of"):
        label_graph(Y, "eye")


def test_masked_attention_by_hand():
    # One head, d_k = 1: query 1 against keys (0, ln 2 * ...) chosen so the weights are simple.
    q = torch.tensor([[[1.0], [1.0], [1.0]]])  # (1, 3 queries, d_k = 1)
    k = torch.tensor([[[0.0], [math.log(2.0)], [0.0]]])  # scores q.k / sqrt(1) = 0, ln 2, 0
    v = torch.tensor([[[10.0], [20.0], [40.0]]])
    allowed = torch.tensor(
        [
            [True, True, False],  # weights (1, 2) / 3 over keys 0, 1
            [True, True, True],  # weights (1, 2, 1) / 4
            [False, False, True],
        ]
    )  # key 2 alone
    out = attend(q, k, v, allowed).squeeze(0).squeeze(-1)
    expected = [(10 + 2 * 20) / 3, (10 + 2 * 20 + 40) / 4, 40.0]
    assert out.tolist() == pytest.approx(expected, rel=1e-6)
    assert attend(q, k, v, None).squeeze().tolist() == pytest.approx([expected[1]] * 3, rel=1e-6)


def test_attention_layer_only_mixes_allowed_labels():
    # With the label graph I (official 'inveye'), a label's state never depends on another
    # label's embedding; with 'prior', label 0 depends on label 1 (they co-occur) but not on 2.
    torch.manual_seed(0)
    att = MultiHeadAttention(8, 2, dropout=0.0).eval()
    h = torch.randn(1, 3, 8, requires_grad=True)
    allowed = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    out = att(h, h, allowed)
    assert out.shape == (1, 3, 8)
    probe = torch.randn(8)  # not .sum(): a LayerNorm output sums to a constant
    grad = torch.autograd.grad(out[0, 0] @ probe, h)[0][0]
    assert grad[1].abs().sum() > 0 and grad[2].abs().sum() == 0
    grad = torch.autograd.grad(att(h, h, torch.eye(3, dtype=torch.bool))[0, 0] @ probe, h)[0][0]
    assert grad[0].abs().sum() > 0 and grad[1:].abs().sum() == 0


def test_network_shapes_and_shared_readout():
    torch.manual_seed(0)
    net = LaMPNet(7, 5, d_model=8, d_inner=12, layers=2, heads=4, dropout=0.0).eval()
    x = torch.randn(3, 7)
    h = net.label_states(x)
    assert h.shape == (3, 5, 8) and net(x).shape == (3, 5)
    # Readout: logit_i = <h_i, w_i>, each node's state against its own output vector.
    assert torch.allclose(net(x), (h * net.readout).sum(-1), atol=1e-6)
    assert net(torch.randn(0, 7)).shape == (0, 5)
    assert net.label_graph.shape == (5, 5) and net.label_graph.dtype == torch.bool


# -- the method ------------------------------------------------------------------------------


def test_registry_defaults_are_the_official_command():
    assert get_method_class("lamp") is LaMPMethod and LaMPMethod.display_name == "LaMP"
    p = resolve_params("lamp")
    official = {
        "batch_size": 32,
        "d_model": 512,
        "d_inner": 512,
        "layers": 2,
        "heads": 4,
        "epochs": 50,
        "dropout": 0.2,
        "lr": 2e-4,
        "label_mask": "prior",
        "standardize": False,
        "weight_decay": 0.0,
    }
    assert {k: p[k] for k in official} == official


def test_fit_learns_the_prior_graph_and_predicts(data):
    est = fit(data)
    _, Y, *_, Xt, _ = data
    Yb = torch.as_tensor(Y, dtype=torch.float32)
    assert est.module_.label_graph.equal(label_graph(Yb, "prior"))
    scores = est.predict_proba(Xt)
    assert scores.shape == (40, 5) and np.all((scores >= 0) & (scores <= 1))
    assert est.extras()["label_embeddings"].shape == (5, TINY["d_model"])
    opt = est.configure_optimizer(est.module_)
    assert opt.param_groups[0]["betas"] == (0.9, 0.98)


def test_determinism(data):
    Xt = data[4]
    a = fit(data, seed=1).predict_proba(Xt)
    b = fit(data, seed=1).predict_proba(Xt)
    c = fit(data, seed=2).predict_proba(Xt)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_saved_model_reloads_with_its_label_graph(data, tmp_path):
    est = fit(data, run_dir=tmp_path, label_mask="no-self")
    loaded = LaMPMethod.load(tmp_path / MODEL)
    assert loaded.module_.label_graph.equal(~torch.eye(5, dtype=torch.bool))
    assert np.array_equal(loaded.predict_proba(data[4]), est.predict_proba(data[4]))


def test_bad_settings_are_one_line_errors_naming_the_fix():
    # Refused when set (a ValueError too, for scikit-learn), before anything trains.
    with pytest.raises(ValueError, match=r"divisible by heads \(3\); set e.g. --set heads=2"):
        LaMPMethod(**{**TINY, "heads": 3})
    with pytest.raises(MlbenchError, match="label_mask must be one of .* --set label_mask=prior"):
        LaMPMethod(**{**TINY, "label_mask": "eye"})
    est = LaMPMethod(**TINY)
    with pytest.raises(MlbenchError, match="divisible by heads"):
        est.set_params(d_model=15)
    assert est.get_params()["d_model"] == TINY["d_model"]  # nothing half-set
    assert est.set_params(d_model=15, heads=5).get_params()["heads"] == 5
    with pytest.raises(MlbenchError, match="'layers' of method 'lamp' must be >= 1"):
        LaMPMethod(layers=0)


def test_cli_rejects_a_bad_label_mask_in_one_line(tmp_path, capsys):
    from mlbench.data.fetch import fetch_dataset

    from .conftest import invoke_cli

    fetch_dataset("yeast", data_dir=tmp_path / "data")  # embedded: offline
    code = invoke_cli(
        "train",
        "--method",
        "lamp",
        "--dataset",
        "yeast",
        "--seed",
        "0",
        "--set",
        "label_mask=adjacency",
        "--data-dir",
        tmp_path / "data",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
    )
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "label_mask must be one of prior, none, no-self, self" in " ".join(err.split())
    assert not (tmp_path / "runs" / "yeast").exists()  # refused before any run directory


# -- a short run on real data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def yeast(tmp_path_factory):
    from mlbench.data import load_split
    from mlbench.data.fetch import fetch_dataset

    data_dir = tmp_path_factory.mktemp("data")
    fetch_dataset("yeast", data_dir)  # embedded: offline
    return load_split("yeast", "iterative", 0, data_dir=data_dir)


@pytest.mark.slow
def test_short_yeast_run_beats_a_constant_predictor(yeast):
    # Narrow and short, at a higher lr than the official 2e-4, to fit in a few seconds.
    est = create_method(
        "lamp", "yeast", {"d_model": 32, "d_inner": 32, "epochs": 3, "lr": 1e-3, "batch_size": 64, "num_threads": 1}
    )
    ctx = FitContext(seed=0, progress=False)
    est.fit(yeast.X_train, yeast.Y_train, yeast.X_val, yeast.Y_val, ctx)
    assert ctx.log[-1]["train_loss"] < ctx.log[0]["train_loss"]
    scores = est.predict_proba(yeast.X_test)
    Y_test = np.asarray(yeast.Y_test)
    prior = np.broadcast_to(np.asarray(yeast.Y_train).mean(0), Y_test.shape)
    ours = compute_metrics(Y_test, scores, 0.5, ["macro-auc", "map", "ex-f1"])
    const = compute_metrics(Y_test, prior, 0.5, ["macro-auc", "map", "ex-f1"])
    # The label-prior constant ranks nothing (macro-AUC 0.5) and, at 0.5, predicts the two
    # majority labels for every gene.
    assert ours["macro-auc"] > const["macro-auc"] + 0.1, (ours, const)
    assert ours["map"] > const["map"] + 0.05 and ours["ex-f1"] > const["ex-f1"], (ours, const)


def test_paper_tables_no_longer_mark_lamp_unimplemented(tmp_path):
    from mlbench.papers.plan import cell_reason, unimplemented_methods

    assert "lamp" not in unimplemented_methods()
    assert cell_reason("lamp", "yeast", data_dir=tmp_path) is None  # the papers' data decide
    assert cell_reason("lamp", "yeast", data_dir=tmp_path, available_methods={"lamp"}) is None
