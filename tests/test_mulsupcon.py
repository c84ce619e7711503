"""MulSupCon / MulSupConLD: losses against hand computation, MoCo queue and momentum, masking,
presets, determinism and resume, and a short run on yeast that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_multilabel_classification

from mlbench.errors import MlbenchError
from mlbench.methods import FitContext, create_method, method_ids, resolve_params
from mlbench.methods.losses.contrastive import (
    distribution_contrastive_loss,
    ld_alignment_loss,
    mulsupcon_loss,
    multilabel_contrastive_loss,
    positive_mask,
    rbf_smoothness_loss,
)
from mlbench.methods.mlp import feature_encoder
from mlbench.methods.mulsupcon import MoCoPretrainer, mask_features, projection_head

ln = math.log
TINY = {
    "hidden": [16, 16],
    "proj_dim": 8,
    "pretrain_epochs": 2,
    "epochs": 2,
    "paper_batch_size": 16,
    "queue_size": 32,
    "num_threads": 1,
}

# -- a tiny batch computed by hand ---------------------------------------------------------------
# Three samples whose references are their own keys (N = B = 3), labels A, B, C:
#   y0 = {A, B}, y1 = {A}, y2 = {} (no labels); label B has a single positive (sample 0),
#   label C none. With τ = 0.5 and sim = τ * ln(e), the softmax numerators are e:
#   row 0: (2, 1, 1) -> p = (1/2, 1/4, 1/4); row 1: (1, 3, 1) -> p = (1/5, 3/5, 1/5).
Y = torch.tensor([[1.0, 1, 0], [1, 0, 0], [0, 0, 0]])
TAU = 0.5
SIM = TAU * torch.tensor([[ln(2), 0, 0], [0, ln(3), 0], [0, 0, ln(5)]])
L0A = -0.5 * (ln(1 / 2) + ln(1 / 4))  # anchor 0, label A: positives {0, 1}
L0B = -ln(1 / 2)  # anchor 0, label B: the single positive {0}
L1A = -0.5 * (ln(1 / 5) + ln(3 / 5))  # anchor 1, label A: positives {0, 1}


def test_mulsupcon_loss_eq5_by_hand():
    loss, rows = mulsupcon_loss(SIM, Y, Y, TAU)
    assert rows.item() == 3  # the unlabeled anchor has no rows
    assert loss.item() == pytest.approx((L0A + L0B + L1A) / 3, rel=1e-6)


def test_mulsupcon_loss_eq6_weighted_by_hand():
    loss, _ = mulsupcon_loss(SIM, Y, Y, TAU, weighted=True)
    assert loss.item() == pytest.approx(((L0A + L0B) / 2 + L1A) / 2, rel=1e-6)


def test_all_and_any_patterns_by_hand():
    loss_all, n_all = multilabel_contrastive_loss(SIM, Y, Y, TAU, "all")
    assert n_all.item() == 2  # the unlabeled anchor has no positive set
    assert loss_all.item() == pytest.approx((-ln(1 / 2) - ln(3 / 5)) / 2, rel=1e-6)
    loss_any, _ = multilabel_contrastive_loss(SIM, Y, Y, TAU, "any")
    any0 = -0.5 * (ln(1 / 2) + ln(1 / 4))
    any1 = -0.5 * (ln(1 / 5) + ln(3 / 5))
    assert loss_any.item() == pytest.approx((any0 + any1) / 2, rel=1e-6)
    assert positive_mask(Y, Y, "all").tolist() == [[True, False, False], [False, True, False], [False, False, False]]
    with pytest.raises(ValueError):
        multilabel_contrastive_loss(SIM, Y, Y, TAU, "some")


def test_mulsupcon_reduces_to_supcon_for_single_labels():
    y = torch.tensor([[1.0, 0], [0, 1], [1, 0], [0, 1]])
    sim = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    a, _ = mulsupcon_loss(sim, y, y, 0.1)
    b, _ = multilabel_contrastive_loss(sim, y, y, 0.1, "all")
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_distribution_weighted_loss_by_hand():
    d = torch.tensor([[0.75, 0.25, 0.0], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]])
    loss, _ = mulsupcon_loss(SIM, Y, Y, TAU, anchor_weight=d, ref_weight=d)
    # Positives weighted by their degree for the label: A -> (0.75, 1.0), B -> (0.25).
    l0a = -(0.75 * ln(1 / 2) + 1.0 * ln(1 / 4)) / 1.75
    l0b = -ln(1 / 2)
    l1a = -(0.75 * ln(1 / 5) + 1.0 * ln(3 / 5)) / 1.75
    # Rows weighted by the anchor's degrees: ω = (0.75, 0.25) for anchor 0, (1.0) for anchor 1.
    expected = (0.75 * l0a + 0.25 * l0b + 1.0 * l1a) / 2.0
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # Uniform weights give the unweighted loss back.
    plain, _ = mulsupcon_loss(SIM, Y, Y, TAU)
    ones, _ = mulsupcon_loss(SIM, Y, Y, TAU, anchor_weight=torch.ones(3, 3), ref_weight=torch.ones(3, 3))
    assert ones.item() == pytest.approx(plain.item(), rel=1e-6)


def test_ld_recovery_terms_by_hand():
    d = torch.tensor([[0.5, 0.5, 0.0]])
    assert ld_alignment_loss(d, torch.tensor([[1.0, 0, 0]])).item() == pytest.approx(0.5)
    assert ld_alignment_loss(d, torch.zeros(1, 3)).item() == 0.0  # no labels: no target
    # RBF weights over two positives at squared distances 1 and 4 (σ = 1): ∝ e^-0.5, e^-2.
    d_ref = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    z, z_ref = torch.zeros(1, 2), torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    pos = torch.tensor([[True, True]])
    k1, k2 = math.exp(-0.5), math.exp(-2.0)
    expected = (k1 * 0.5 + k2 * 1.5) / (k1 + k2)  # ||d - d_ref||^2 = 0.5, 1.5
    got = rbf_smoothness_loss(d, d_ref, z, z_ref, pos, sigma=1.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert rbf_smoothness_loss(d, d_ref, z, z_ref, ~pos, 1.0).item() == 0.0
    # CLD: cosine similarities 1/√2 and 0; one positive (the first), τ = 1.
    c = 1 / math.sqrt(2)
    got = distribution_contrastive_loss(d, d_ref, torch.tensor([[True, False]]), 1.0)
    assert got.item() == pytest.approx(-(c - math.log(math.exp(c) + 1.0)), rel=1e-6)
    # Excluding the second reference leaves a single candidate: loss 0.
    got = distribution_contrastive_loss(d, d_ref, pos, 1.0, exclude=torch.tensor([[False, True]]))
    assert got.item() == pytest.approx(0.0, abs=1e-7)


def test_losses_have_finite_gradients_with_unlabeled_rows():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(4, 5), dim=1).requires_grad_()
    y = torch.tensor([[1.0, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0]])
    for pattern in ("mulsupcon", "all", "any"):
        loss, _ = multilabel_contrastive_loss(q @ q.detach().T, y, y, 0.1, pattern, weighted=True)
        (grad,) = torch.autograd.grad(loss, q)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        assert grad[1].abs().sum() == 0 and grad[3].abs().sum() == 0  # unlabeled anchors
    empty, _ = mulsupcon_loss(q @ q.detach().T, torch.zeros(4, 3), torch.zeros(4, 3), 0.1)
    assert empty.item() == 0.0


# -- MoCo mechanics ------------------------------------------------------------------------------
def _pretrainer(queue_size=4, momentum=0.9):
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
    return MoCoPretrainer(
        backbone, projection_head(4, 2), n_labels=2, queue_size=queue_size, momentum=momentum, store_distributions=True
    )


def test_queue_is_a_ring_buffer_of_keys_labels_and_distributions():
    pre = _pretrainer(queue_size=4)
    assert pre.queue()[0].shape == (0, 2)  # empty queue: only valid rows are returned
    z = [torch.full((3, 2), float(i)) for i in (1, 2)]
    y = [torch.tensor([[1.0, 0]] * 3), torch.tensor([[0.0, 1]] * 3)]
    pre.enqueue(z[0], y[0], torch.full((3, 2), 0.5))
    qz, qy, qd = pre.queue()
    assert qz.shape == (3, 2) and (qz == 1).all() and (qy[:, 0] == 1).all() and (qd == 0.5).all()
    pre.enqueue(z[1], y[1], torch.zeros(3, 2))  # wraps: rows 3, 0, 1 overwritten
    qz, qy, _ = pre.queue()
    assert qz[:, 0].tolist() == [2.0, 2.0, 1.0, 2.0]
    assert qy[:, 1].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert int(pre.queue_ptr) == 2 and int(pre.queue_len) == 4
    big = torch.arange(12.0).reshape(6, 2)  # larger than the queue: its last 4 rows
    pre.enqueue(big, torch.zeros(6, 2))
    assert sorted(pre.queue()[0][:, 0].tolist()) == [4.0, 6.0, 8.0, 10.0]
    # A snapshot is a copy: enqueueing after the loss is built does not alter it.
    snap = pre.queue()[0]
    pre.enqueue(torch.zeros(2, 2), torch.zeros(2, 2))
    assert sorted(snap[:, 0].tolist()) == [4.0, 6.0, 8.0, 10.0]


def test_momentum_update_is_an_ema_of_the_query_parameters():
    pre = _pretrainer(momentum=0.9)
    for qp, kp in zip(pre._query_params(), pre._key_params()):
        assert torch.equal(qp, kp) and not kp.requires_grad
    with torch.no_grad():
        for p in pre._query_params():
            p.add_(1.0)
    before = [k.clone() for k in pre._key_params()]
    pre.momentum_update()
    for b, q, k in zip(before, pre._query_params(), pre._key_params()):
        assert torch.allclose(k, 0.9 * b + 0.1 * q)


def test_pretrain_loss_updates_state_only_in_training():
    est = create_method("mulsupcon", overrides=TINY)
    torch.manual_seed(0)
    pre = MoCoPretrainer(
        feature_encoder(3, [16, 16], 0.2), projection_head(16, 8), n_labels=2, queue_size=8, momentum=0.999
    )
    xb, yb = torch.randn(6, 3), torch.tensor([[1.0, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]])
    with torch.no_grad():
        for p in pre._query_params():
            p.add_(0.5)
    pre.eval()
    keys = [k.clone() for k in pre._key_params()]
    est.pretrain_loss(pre, xb, yb)
    assert int(pre.queue_len) == 0
    assert all(torch.equal(a, b) for a, b in zip(keys, pre._key_params()))
    pre.train()
    loss, parts = est.pretrain_loss(pre, xb, yb)
    assert torch.isfinite(loss) and int(pre.queue_len) == 6 and int(pre.queue_ptr) == 6
    assert not all(torch.equal(a, b) for a, b in zip(keys, pre._key_params()))
    assert torch.equal(pre.queue_y[:6], yb)


# -- augmentation ----------------------------------------------------------------------------------
def test_masking_statistics():
    torch.manual_seed(0)
    x = torch.randn(400, 250) + 5.0  # nonzero everywhere
    a, b = mask_features(x, 0.5), mask_features(x, 0.5)
    kept_a, kept_b = a != 0, b != 0
    assert abs(kept_a.float().mean().item() - 0.5) < 0.01  # 100k Bernoulli(0.5): sd 0.0016
    assert abs(mask_features(x, 0.2).ne(0).float().mean().item() - 0.8) < 0.01
    assert torch.equal(a[kept_a], x[kept_a])  # kept values unchanged, no 1/(1-p) rescaling
    # The two views are masked independently: P(kept in both) ≈ 1/4.
    assert abs((kept_a & kept_b).float().mean().item() - 0.25) < 0.01
    # Each row masks about half of its elements (no whole-row masks).
    assert kept_a.float().mean(1).min() > 0.3
    assert torch.equal(mask_features(x, 0.0), x)


# -- presets, registry ---------------------------------------------------------------------------
def test_registered_ids_and_presets():
    ids = method_ids()
    assert {"mulsupcon", "mulsupcon-all", "mulsupcon-any", "mulsupconld-rld", "mulsupconld-cld"} <= set(ids)
    paper = create_method("mulsupcon", "yeast").hparams
    assert (paper["pretrain_batch_size"], paper["batch_size"]) == (32, 32)
    assert paper["pretrain_iters"] == 0
    assert paper["pretrain_schedule"] == "cosine" and paper["pretrain_epochs"] == 150
    assert create_method("mulsupcon", "delicious").hparams["pretrain_batch_size"] == 256
    official = create_method("mulsupcon", "yeast", {"preset": "official"}).hparams
    assert (official["pretrain_batch_size"], official["pretrain_iters"]) == (64, 1000)
    assert (official["batch_size"], official["finetune_iters"]) == (32, 50)
    assert official["pretrain_schedule"] == "cosine-restarts"
    assert official["pretrain_min_lr"] == 1e-4
    explicit = create_method("mulsupcon", "yeast", {"preset": "official", "pretrain_iters": 7})
    assert explicit.hparams["pretrain_iters"] == 7  # explicit values win over the preset
    assert create_method("mulsupcon-any").hparams["pattern"] == "any"
    assert create_method("mulsupconld-rld").hparams["ld"] == "rld"
    with pytest.raises(MlbenchError):
        resolve_params("mulsupcon-all", overrides={"pattern": "any"})  # pinned by the variant
    with pytest.raises(MlbenchError):
        create_method("mulsupcon", overrides={"preset": "fancy"})
    # The runner's val protocol still sees a threshold metric.
    assert resolve_params("mulsupcon")["selection_metric"] == "ma-f1"


# -- whole fits ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy():
    X, Y_ = make_multilabel_classification(160, n_features=10, n_classes=4, random_state=1)
    return X[:100], Y_[:100], X[100:130], Y_[100:130], X[130:]


def _fit(toy, method="mulsupcon", seed=0, run_dir=None, resume=False, interrupt=None, **params):
    X, Y_, Xv, Yv, _ = toy
    est = create_method(method, overrides={**TINY, **params})
    if interrupt is not None:

        def hook(stage, record):
            if (stage, record["epoch"]) == interrupt:
                raise KeyboardInterrupt

        est.on_epoch_end = hook
    est.fit(X, Y_, Xv, Yv, FitContext(seed=seed, progress=False, run_dir=run_dir, resume=resume))
    return est


@pytest.mark.parametrize("method", ["mulsupcon", "mulsupconld-cld"])
def test_determinism(toy, method):
    a = _fit(toy, method, seed=3).predict_proba(toy[4])
    b = _fit(toy, method, seed=3).predict_proba(toy[4])
    c = _fit(toy, method, seed=4).predict_proba(toy[4])
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_resume_after_interrupt_matches_uninterrupted(toy, tmp_path):
    params = {"pretrain_epochs": 3, "epochs": 3}
    full = _fit(toy, **params).predict_proba(toy[4])
    with pytest.raises(KeyboardInterrupt):
        _fit(toy, run_dir=tmp_path, interrupt=("pretrain", 2), **params)
    resumed = _fit(toy, run_dir=tmp_path, resume=True, **params).predict_proba(toy[4])
    assert np.array_equal(full, resumed)
    assert (tmp_path / "resolved_params.json").is_file()


def test_linear_probe_keeps_the_pretrained_backbone(toy):
    est = _fit(toy, probe="linear", pretrain_epochs=2, epochs=3)
    # The pretrainer shares the backbone; after fine-tuning it must equal the pretrained weights.
    pre_state = {k[len("backbone.") :]: v for k, v in est.pretrainer_.state_dict().items() if k.startswith("backbone.")}
    for key, value in est.module_.backbone.state_dict().items():
        assert torch.equal(value, pre_state[key])
    est_ft = _fit(toy, pretrain_epochs=0, epochs=2)  # 0 = no pretraining: a plain BCE MLP
    assert not hasattr(est_ft, "pretrainer_")


def test_ld_queue_keeps_distributions(toy):
    est = _fit(toy, "mulsupconld-rld", pretrain_epochs=1, epochs=1)
    pre = est.pretrainer_
    n = int(pre.queue_len)
    assert n > 0 and pre.queue_d.shape == (32, 4)
    assert torch.allclose(pre.queue_d[:n].sum(1), torch.ones(n), atol=1e-5)  # distributions
    parts = {k for r in est.log_ for k in r}
    assert {"train_contrastive", "train_ld_similar", "train_ld_align"} <= parts


def test_short_run_on_yeast_learns(tmp_path):
    from mlbench.data import load_split
    from mlbench.data.fetch import fetch_dataset
    from mlbench.metrics.protocols import evaluate

    fetch_dataset("yeast", tmp_path)  # embedded: offline
    data = load_split("yeast", "official", 0, data_dir=tmp_path)
    # A short schedule: a larger head lr than the paper's 4e-4 so that 6 epochs suffice.
    est = create_method("mulsupcon", "yeast", {"pretrain_epochs": 4, "epochs": 6, "lr": 2e-3, "num_threads": 1})
    ctx = FitContext(seed=0, progress=False)
    est.fit(data.X_train, data.Y_train, data.X_val, data.Y_val, ctx)
    pre = [r["train_loss"] for r in ctx.log if r["stage"] == "pretrain"]
    ft = [r for r in ctx.log if r["stage"] == "finetune"]
    assert all(np.isfinite(pre)) and ft[-1]["train_loss"] < ft[0]["train_loss"]
    assert ft[-1]["val_value"] < ft[0]["val_value"]  # validation BCE goes down
    scores = est.predict_proba(data.X_test)
    honest = evaluate(data.Y_test, scores, "fixed").metrics
    prior = np.tile(data.Y_train.mean(0), (len(data.Y_test), 1))  # label frequencies
    base = evaluate(data.Y_test, prior, "fixed").metrics
    assert honest["macro-auc"] > 0.63 > base["macro-auc"]
    assert honest["mi-f1"] > base["mi-f1"] + 0.1 and honest["map"] > base["map"] + 0.1
