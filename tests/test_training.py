"""The shared neural training loop (mlbench.methods.neural) and the ``bce`` baseline."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.datasets import make_multilabel_classification
from torch import nn

from mlbench.errors import MlbenchError
from mlbench.methods import FitContext, create_method
from mlbench.methods.mlp import BCEMethod, feature_encoder
from mlbench.methods.neural import (
    CHECKPOINT,
    MODEL,
    TRAIN_LOG,
    NeuralMethod,
    flushing_subnormals,
    resolve_device,
)
from mlbench.metrics import compute_metrics

SMALL = {"hidden": [32, 32], "epochs": 6, "batch_size": 32}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(300, n_features=20, n_classes=5, random_state=0)
    return X[:200], Y[:200], X[200:250], Y[200:250], X[250:], Y[250:]


def fit_bce(data, seed=0, run_dir=None, resume=False, interrupt_after=None, **params):
    X, Y, Xv, Yv, *_ = data
    est = BCEMethod(**{**SMALL, **params})
    if interrupt_after is not None:
        est.on_epoch_end = _interrupt(interrupt_after)
    ctx = FitContext(seed=seed, progress=False, run_dir=run_dir, resume=resume)
    est.fit(X, Y, Xv, Yv, ctx)
    return est, ctx


def _interrupt(at: tuple[str, int] | int):
    stage, epoch = at if isinstance(at, tuple) else ("train", at)

    def hook(name, record):
        if (name, record["epoch"]) == (stage, epoch):
            raise KeyboardInterrupt

    return hook


def _strip_seconds(log):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in log]


def test_same_seed_identical_different_seed_differs(data):
    Xt = data[4]
    a = fit_bce(data, seed=1)[0].predict_proba(Xt)
    b = fit_bce(data, seed=1)[0].predict_proba(Xt)
    c = fit_bce(data, seed=2)[0].predict_proba(Xt)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_predict_proba_shape_range_dtype(data):
    est, _ = fit_bce(data, epochs=2)
    p = est.predict_proba(data[4])
    assert p.shape == (50, 5) and p.dtype == np.float64
    assert p.min() >= 0.0 and p.max() <= 1.0
    assert est.predict_proba(data[4][:0]).shape == (0, 5)


def test_num_threads_holds_for_the_method_only(data):
    """``num_threads`` applies inside fit and predict and is restored after: it used to stay set
    for every later run of the process."""
    seen = []
    est = BCEMethod(**{**SMALL, "epochs": 1, "num_threads": 2})
    est.on_epoch_end = lambda stage, record: seen.append(torch.get_num_threads())
    X, Y, Xv, Yv, Xt, _ = data
    assert torch.get_num_threads() == 1  # the module's fixture
    est.fit(X, Y, Xv, Yv, FitContext(progress=False))
    assert seen == [2] and torch.get_num_threads() == 1
    est.predict_proba(Xt)
    assert torch.get_num_threads() == 1


def test_fit_and_predict_flush_subnormals_and_restore_the_setting(data):
    """Subnormal weights and Adam moments made CPU epochs up to 20x slower (docs/benchmarks.md):
    fit and predict flush them to zero, and leave the process's own setting as it was."""
    seen = []
    est = BCEMethod(**{**SMALL, "epochs": 1})
    est.on_epoch_end = lambda stage, record: seen.append(flushing_subnormals())
    X, Y, Xv, Yv, Xt, _ = data
    outer = flushing_subnormals()
    try:
        torch.set_flush_denormal(False)
        assert not flushing_subnormals()  # the probe sees a subnormal survive a multiply
        est.fit(X, Y, Xv, Yv, FitContext(progress=False))
        assert seen == [True] and not flushing_subnormals()
        scores = est.predict_scores_tensor
        est.predict_scores_tensor = lambda module, X: (seen.append(flushing_subnormals()), scores(module, X))[1]
        est.predict_proba(Xt)
        assert seen == [True, True] and not flushing_subnormals()
    finally:
        torch.set_flush_denormal(outer)


def test_sparse_input_matches_dense(data):
    X, Y, Xv, Yv, Xt, _ = data
    dense = BCEMethod(**{**SMALL, "epochs": 2}).fit(X, Y, Xv, Yv, FitContext(progress=False))
    sparse = BCEMethod(**{**SMALL, "epochs": 2}).fit(
        sp.csr_matrix(X), Y, sp.csr_matrix(Xv), Yv, FitContext(progress=False)
    )
    assert np.array_equal(dense.predict_proba(Xt), sparse.predict_proba(sp.csr_matrix(Xt)))


def test_bce_learns(data):
    X, Y, Xv, Yv, Xt, Yt = data
    est = create_method("bce", overrides={"epochs": 30, "hidden": "[64, 64]", "batch_size": 32})
    est.fit(X, Y, Xv, Yv, FitContext(progress=False))
    got = compute_metrics(Yt, est.predict_proba(Xt), est.selected_threshold_, ["ma-f1", "map"])
    # the best constant predictor, even with its threshold tuned on the test set
    prior = np.tile(Y.mean(axis=0), (len(Yt), 1))
    base = {m: max(compute_metrics(Yt, prior, t, [m])[m] for t in (0.0, 0.5, 1.0)) for m in ("ma-f1", "map")}
    assert got["ma-f1"] > base["ma-f1"] + 0.1
    assert got["map"] > base["map"] + 0.3


def test_selection_restores_best_validation_epoch(data):
    est, ctx = fit_bce(data, epochs=8, lr=3e-3)
    values = [r["val_value"] for r in ctx.log]
    best = int(np.argmax(values))  # the first best epoch wins ties
    assert est.best_epoch_ == best + 1 and ctx.log[best]["best"]
    assert est.selected_threshold_ == ctx.log[best]["val_threshold"]
    # the restored weights reproduce that epoch's validation score
    _, _, Xv, Yv, *_ = data
    from mlbench.metrics.protocols import VAL_GRID, best_threshold

    t, v = best_threshold(Yv, est.predict_proba(Xv), "ma-f1", VAL_GRID)
    assert (t, v) == (ctx.log[best]["val_threshold"], values[best])


def test_selection_on_fixed_threshold_and_loss(data):
    est, ctx = fit_bce(data, epochs=3, selection_threshold="0.5", selection_metric="mi-f1")
    assert all(r["val_threshold"] == 0.5 for r in ctx.log)
    est, ctx = fit_bce(data, epochs=4, selection_metric="loss")
    losses = [r["val_value"] for r in ctx.log]
    assert est.best_epoch_ == int(np.argmin(losses)) + 1


def test_early_stopping_stops(data):
    # lr=0: nothing changes, so no epoch after the first improves on it
    est, ctx = fit_bce(data, epochs=50, lr=0.0, early_stopping=2)
    assert len(ctx.log) == 3 and est.best_epoch_ == 1


def test_bad_params_are_user_errors(data):
    with pytest.raises(MlbenchError, match="unknown parameter"):
        create_method("bce", overrides={"epoch": 3})
    with pytest.raises(MlbenchError, match="expects"):
        create_method("bce", overrides={"epochs": "many"})
    with pytest.raises(MlbenchError, match="metric"):
        fit_bce(data, selection_metric="maf1")
    with pytest.raises(MlbenchError, match="selection_threshold"):
        fit_bce(data, selection_threshold="best")


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(MlbenchError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MlbenchError, match="CUDA is not available"):
            resolve_device("cuda")


def test_run_dir_outputs_and_load(data, tmp_path):
    est, ctx = fit_bce(data, epochs=3, run_dir=tmp_path)
    assert (tmp_path / MODEL).exists() and not (tmp_path / CHECKPOINT).exists()
    with open(tmp_path / TRAIN_LOG) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"stage", "train_loss", "val_value", "lr", "seconds"} <= set(rows[0])
    loaded = BCEMethod.load(tmp_path / MODEL)
    assert np.array_equal(loaded.predict_proba(data[4]), est.predict_proba(data[4]))


@pytest.mark.parametrize("stop", [2, 6])
def test_resume_after_interrupt_is_identical(data, tmp_path, stop):
    ref, ref_ctx = fit_bce(data, run_dir=tmp_path / "ref")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit_bce(data, run_dir=run, interrupt_after=stop)
    ckpt = torch.load(run / CHECKPOINT, weights_only=False)
    assert ckpt["current"]["state"]["epoch"] == stop - 1 and len(ckpt["log"]) == stop
    assert not (run / MODEL).exists()
    est, ctx = fit_bce(data, run_dir=run, resume=True)
    assert np.array_equal(est.predict_proba(data[4]), ref.predict_proba(data[4]))
    assert _strip_seconds(ctx.log) == _strip_seconds(ref_ctx.log)
    assert est.best_epoch_ == ref.best_epoch_


def test_resume_refuses_other_settings(data, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        fit_bce(data, run_dir=tmp_path, interrupt_after=2)
    with pytest.raises(MlbenchError, match="different hparams"):
        fit_bce(data, run_dir=tmp_path, resume=True, lr=0.01)


class TwoStage(BCEMethod):
    """Masked-reconstruction pretraining of the encoder, then fine-tuning with a scheduler."""

    stop_between = False

    def train_stages(self):
        encoder = self.module_[0]
        pretrain = nn.Sequential(encoder, nn.Linear(32, self.n_features_)).to(self.device_)
        self.run_stage("pre", pretrain, epochs=3, loss_fn=self.reconstruction, select="train_loss")
        if self.stop_between:
            raise KeyboardInterrupt
        optimizer = torch.optim.Adam(self.module_.parameters(), lr=2e-3)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        self.run_stage("fine", self.module_, epochs=4, optimizer=optimizer, scheduler=scheduler)

    @staticmethod
    def reconstruction(module, xb, yb):
        mask = (torch.rand_like(xb) > 0.5).float()  # draws from torch's global RNG
        mse = F.mse_loss(module(xb * mask), xb)
        return mse, {"mse": mse}


def fit_two_stage(data, run_dir, resume=False, interrupt_after=None, stop_between=False):
    X, Y, Xv, Yv, *_ = data
    est = TwoStage(**SMALL)
    est.stop_between = stop_between
    if interrupt_after is not None:
        est.on_epoch_end = _interrupt(interrupt_after)
    ctx = FitContext(seed=3, progress=False, run_dir=run_dir, resume=resume)
    return est.fit(X, Y, Xv, Yv, ctx), ctx


@pytest.mark.parametrize("stop", [("pre", 1), ("pre", 3), "between", ("fine", 1), ("fine", 4)])
def test_two_stage_resume_is_identical(data, tmp_path, stop):
    ref, ref_ctx = fit_two_stage(data, tmp_path / "ref")
    assert [r["stage"] for r in ref_ctx.log] == ["pre"] * 3 + ["fine"] * 4
    assert [r["lr"] for r in ref_ctx.log[3:]] == [2e-3, 2e-3, 1e-3, 1e-3]
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        if stop == "between":
            fit_two_stage(data, run, stop_between=True)
        else:
            fit_two_stage(data, run, interrupt_after=stop)
    est, ctx = fit_two_stage(data, run, resume=True)
    assert np.array_equal(est.predict_proba(data[4]), ref.predict_proba(data[4]))
    assert _strip_seconds(ctx.log) == _strip_seconds(ref_ctx.log)


def test_progress_bar_runs(data):
    X, Y, Xv, Yv, *_ = data
    BCEMethod(**{**SMALL, "epochs": 2}).fit(X, Y, Xv, Yv, FitContext(progress=True))


def test_feature_encoder_shape():
    enc = feature_encoder(7, (8, 16, 4), dropout=0.1)
    assert [m.out_features for m in enc if isinstance(m, nn.Linear)] == [8, 16, 4]
    assert enc(torch.zeros(3, 7)).shape == (3, 4)
    assert issubclass(BCEMethod, NeuralMethod) and BCEMethod.is_neural
