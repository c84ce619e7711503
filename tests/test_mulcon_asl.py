"""MulCon (vector adaptation, with its ablation variants) and ASL: losses, determinism, yeast."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_multilabel_classification

from mlbench.errors import MlbenchError
from mlbench.methods import FitContext, create_method, get_method_class, resolve_params
from mlbench.methods.asl import ASLMethod
from mlbench.methods.losses.contrastive import asymmetric_loss, label_level_contrastive_loss
from mlbench.methods.mulcon import MulConMethod, MulConNet
from mlbench.metrics import compute_metrics

# Small enough for a loaded 2-core machine; num_threads=1 avoids oversubscription there.
TINY = {
    "hidden": [32],
    "n_tokens": 4,
    "dim": 16,
    "heads": 2,
    "proj_dim": 8,
    "batch_size": 32,
    "epochs": 3,
    "finetune_epochs": 2,
    "num_threads": 1,
}


@pytest.fixture(autouse=True)
def _restore_threads():
    # num_threads is applied process-wide by the training loop; do not leak it to other tests.
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(240, n_features=12, n_classes=5, random_state=0)
    Y[:5] = 0  # samples without labels must not break anything
    return X[:160], Y[:160], X[160:200], Y[160:200], X[200:], Y[200:]


def fit(method_id, data, seed=0, **params):
    X, Y, Xv, Yv, *_ = data
    est = create_method(
        method_id,
        overrides={**TINY, **params}
        if "mulcon" in method_id
        else {"hidden": [32], "epochs": 3, "batch_size": 32, "num_threads": 1, **params},
    )
    ctx = FitContext(seed=seed, progress=False)
    est.fit(X, Y, Xv, Yv, ctx)
    return est, ctx


# -- LLCL ------------------------------------------------------------------------------------


def test_llcl_hand_computed():
    # Batch y = [[1, 1, 0], [1, 0, 0], [0, 0, 0]]: sample 2 has no label, label 1 a single
    # positive. Active pairs in row-major order: (0,0), (0,1), (1,0), labels [0, 1, 0].
    y = torch.tensor([[1.0, 1, 0], [1, 0, 0], [0, 0, 0]])
    rows, labels = y.nonzero(as_tuple=True)
    s = math.sqrt(3) / 2
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, s]], dtype=torch.float64)
    tau = 0.2
    # Anchor (0,0): positive (1,0) (dot 0.5), others (0,1) (dot 0).
    l00 = -math.log(math.exp(0.5 / tau) / (math.exp(0.0) + math.exp(0.5 / tau)))
    # Anchor (0,1): label 1 has no other positive -> 0, but it still counts in the mean.
    # Anchor (1,0): positive (0,0) (dot 0.5), other (0,1) (dot sqrt(3)/2).
    l10 = -math.log(math.exp(0.5 / tau) / (math.exp(0.5 / tau) + math.exp(s / tau)))
    expected = (l00 + 0.0 + l10) / 3
    assert expected == pytest.approx(0.6859252, abs=1e-6)
    got = label_level_contrastive_loss(z, labels, tau)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    assert rows.tolist() == [0, 0, 1]


def test_llcl_degenerate_batches_are_finite_with_gradients():
    z = F.normalize(torch.randn(4, 3, dtype=torch.float64), dim=1).requires_grad_()
    # Every label distinct: no anchor has a positive -> 0, gradient zero but defined.
    loss = label_level_contrastive_loss(z, torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(z.grad).all()
    for m in (0, 1):  # no or one active pair in the batch
        zm = torch.randn(m, 3, requires_grad=True)
        out = label_level_contrastive_loss(zm, torch.zeros(m, dtype=torch.long))
        out.backward()
        assert out.item() == 0.0
    # A single-positive label next to a normal one: finite gradient everywhere.
    z = F.normalize(torch.randn(5, 3, dtype=torch.float64), dim=1).requires_grad_()
    loss = label_level_contrastive_loss(z, torch.tensor([0, 0, 1, 2, 2]))
    loss.backward()
    assert torch.isfinite(loss) and loss > 0 and torch.isfinite(z.grad).all()


def test_llcl_is_scale_free_in_batch_and_pulls_same_label_together():
    # Two perfectly clustered labels give a lower loss than the same points with labels swapped.
    z = torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    good = label_level_contrastive_loss(z, torch.tensor([0, 0, 1, 1]))
    bad = label_level_contrastive_loss(z, torch.tensor([0, 1, 0, 1]))
    assert good < bad
    # Duplicating the batch keeps the structure: mean over anchors, not a sum.
    z2, l2 = torch.cat([z, z]), torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
    assert label_level_contrastive_loss(z2, l2) < bad


# -- ASL -------------------------------------------------------------------------------------


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_asl_hand_computed():
    # Row 1 has no labels; label 0 and label 2 have a single positive each.
    logits = torch.tensor([[2.0, -1.0, 0.0], [-4.0, 1.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0, 1], [0, 0, 0]], dtype=torch.float64)

    def neg(x, m=0.05, g=4):  # p_m^g * -log(1 - p_m), p_m = max(p - m, 0)
        pm = max(_sig(x) - m, 0.0)
        return -(pm**g) * math.log(1 - pm)

    terms = [-math.log(_sig(2)), neg(-1), -math.log(_sig(0)), neg(-4), neg(1), neg(3)]
    assert terms[3] == 0.0  # p = 0.018 < margin: an easy negative is discarded entirely
    assert sum(terms) == pytest.approx(2.6118938, abs=1e-6)
    got_sum = asymmetric_loss(logits, y, reduction="sum")
    got_mean = asymmetric_loss(logits, y)
    assert got_sum.item() == pytest.approx(sum(terms), rel=1e-12)
    assert got_mean.item() == pytest.approx(sum(terms) / 6, rel=1e-12)
    per = asymmetric_loss(logits, y, reduction="none")
    assert per.shape == (2, 3) and per[1, 0].item() == 0.0


def test_asl_eps_clamp_gamma_pos_and_bce_limit():
    # A saturated wrong positive: log p is clamped at eps, finite loss, no gradient.
    logits = torch.tensor([[-40.0]], requires_grad=True)
    loss = asymmetric_loss(logits, torch.ones(1, 1), reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(-math.log(1e-8), rel=1e-6)
    assert logits.grad.item() == 0.0
    # gamma+ = 1: (1 - p) * -log p.
    x = 0.3
    got = asymmetric_loss(torch.tensor([[x]]), torch.ones(1, 1), gamma_pos=1.0, reduction="sum")
    assert got.item() == pytest.approx((1 - _sig(x)) * -math.log(_sig(x)), rel=1e-6)
    # No focusing and no margin: plain BCE.
    logits = torch.randn(6, 4, dtype=torch.float64)
    y = (torch.rand(6, 4) < 0.4).double()
    plain = asymmetric_loss(logits, y, gamma_pos=0.0, gamma_neg=0.0, clip=0.0)
    assert plain.item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, y).item(), rel=1e-9)
    with pytest.raises(ValueError):
        asymmetric_loss(logits, y, reduction="bogus")


# -- methods ---------------------------------------------------------------------------------


def test_registry_ids_variants_and_params():
    assert get_method_class("mulcon") is MulConMethod
    assert get_method_class("asl") is ASLMethod and issubclass(ASLMethod, get_method_class("bce"))
    assert get_method_class("mulcon").display_name == "MulCon"
    assert get_method_class("asl").display_name == "ASL"
    assert resolve_params("mulcon-bce-only")["schedule"] == "bce-only"
    assert resolve_params("mulcon-joint")["schedule"] == "joint"
    p = resolve_params("mulcon")
    assert (p["schedule"], p["temperature"]) == ("two-stage", 0.2)
    a = resolve_params("asl")
    assert (a["gamma_pos"], a["gamma_neg"], a["clip"]) == (0.0, 4.0, 0.05)
    with pytest.raises(MlbenchError, match="fixed by the variant"):
        resolve_params("mulcon-joint", overrides={"schedule": "two-stage"})


def test_bad_schedule_is_a_clear_error():
    with pytest.raises(MlbenchError, match="schedule"):
        MulConMethod(**{**TINY, "schedule": "three-stage"}).build_module(3, 2)
    with pytest.raises(MlbenchError, match="label_attention"):
        MulConMethod(**{**TINY, "label_attention": "sparse"}).build_module(3, 2)


def test_network_shapes_and_zero_label_batch():
    torch.manual_seed(0)
    net = MulConNet(
        7,
        5,
        hidden=[16],
        dropout=0.0,
        n_tokens=3,
        dim=8,
        heads=2,
        token_blocks=1,
        label_attention="induced",
        n_inducing=4,
        proj_dim=6,
    )
    x = torch.randn(4, 7)
    g = net.embed(x)
    assert g.shape == (4, 5, 8) and net(x).shape == (4, 5)
    assert net.project(g[0]).norm(dim=1).allclose(torch.ones(5))
    method = MulConMethod(**TINY)
    y = torch.zeros(4, 5)  # no labels at all: LLCL has no rows and is 0
    loss, parts = method.loss(net, x, y, 0.5)
    loss.backward()
    assert parts["llcl"] == 0.0 and torch.isfinite(loss)


@pytest.mark.parametrize("method_id", ["mulcon", "mulcon-joint", "asl"])
def test_determinism(data, method_id):
    Xt = data[4]
    a = fit(method_id, data, seed=1)[0].predict_proba(Xt)
    b = fit(method_id, data, seed=1)[0].predict_proba(Xt)
    c = fit(method_id, data, seed=2)[0].predict_proba(Xt)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_two_stage_logs_and_resume(data, tmp_path):
    est, ctx = fit("mulcon", data)
    stages = [(r["stage"], "train_llcl" in r) for r in ctx.log]
    assert stages == [("bce", False)] * 3 + [("finetune", True)] * 2
    assert ctx.log[3]["lr"] == TINY.get("finetune_lr", 1e-4)
    assert est.extras()["label_queries"].shape == (5, TINY["dim"])
    only = fit("mulcon-bce-only", data)[1].log
    assert {r["stage"] for r in only} == {"train"} and "train_llcl" not in only[0]
    joint = fit("mulcon-joint", data)[1].log
    assert len(joint) == 3 and "train_llcl" in joint[0]

    # Interrupted in stage 2, then resumed: exactly the uninterrupted result.
    X, Y, Xv, Yv, Xt, _ = data
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    broken = MulConMethod(**TINY)

    def stop(stage, record):
        if (stage, record["epoch"]) == ("finetune", 1):
            raise KeyboardInterrupt

    broken.on_epoch_end = stop
    with pytest.raises(KeyboardInterrupt):
        broken.fit(X, Y, Xv, Yv, FitContext(seed=0, progress=False, run_dir=run_dir))
    resumed = MulConMethod(**TINY).fit(X, Y, Xv, Yv, FitContext(seed=0, progress=False, run_dir=run_dir, resume=True))
    assert np.array_equal(resumed.predict_proba(Xt), est.predict_proba(Xt))


# -- a short run on real data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def yeast(tmp_path_factory):
    from mlbench.data import load_split
    from mlbench.data.fetch import fetch_dataset

    data_dir = tmp_path_factory.mktemp("data")
    fetch_dataset("yeast", data_dir)  # embedded: offline
    return load_split("yeast", "iterative", 0, data_dir=data_dir)


@pytest.mark.parametrize(
    "method_id,params",
    [
        (
            "mulcon",
            {
                "hidden": [64],
                "n_tokens": 8,
                "dim": 32,
                "heads": 4,
                "proj_dim": 32,
                "batch_size": 64,
                "epochs": 4,
                "finetune_epochs": 1,
                "num_threads": 1,
            },
        ),
        ("asl", {"hidden": [128], "batch_size": 64, "epochs": 6, "num_threads": 1}),
    ],
)
def test_short_yeast_run_learns(yeast, method_id, params):
    est = create_method(method_id, "yeast", params)
    ctx = FitContext(seed=0, progress=False)
    est.fit(yeast.X_train, yeast.Y_train, yeast.X_val, yeast.Y_val, ctx)
    first = [r for r in ctx.log if r["stage"] == ctx.log[0]["stage"]]
    loss_key = "train_bce" if method_id == "mulcon" else "train_loss"
    assert first[-1][loss_key] < first[0][loss_key]
    scores = est.predict_proba(yeast.X_test)
    m = compute_metrics(yeast.Y_test, scores, 0.5, ["macro-auc", "map", "mi-f1"])
    # Constant (label-prior) scores give macro-AUC 0.5 and mAP = mean prevalence (~0.30).
    prevalence = float(np.asarray(yeast.Y_test).mean())
    assert m["macro-auc"] > 0.6 and m["map"] > prevalence + 0.1 and m["mi-f1"] > 0.5, m
