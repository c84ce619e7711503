"""CUDA behaviour; skipped on machines without a GPU (CI), run by benchmarks/gpu_check.sh."""

import numpy as np
import pytest
import torch

from mlbench.methods import FitContext, create_method

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TINY = {
    "bce": {"hidden": [32]},
    "cgmvae": {"feature_hidden": [32], "label_hidden": [32], "latent_dim": 8, "emb_size": 32},
}


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12)).astype(np.float32)
    Y = (X[:, :5] + 0.3 * rng.normal(size=(300, 5)) > 0).astype(np.int64)
    return X[:200], Y[:200], X[200:], Y[200:]


def _fit(method, device, **extra):
    X, Y, Xv, Yv = _data()
    est = create_method(method, None, {"epochs": 3, "batch_size": 32, **TINY[method], **extra})
    est.fit(X, Y, Xv, Yv, FitContext(seed=0, device=device, progress=False))
    return est, est.predict_proba(Xv)


@pytest.mark.parametrize("method", sorted(TINY))
def test_same_seed_same_scores_on_cuda(method):
    _, a = _fit(method, "cuda")
    _, b = _fit(method, "cuda")
    assert np.array_equal(a, b)


@pytest.mark.parametrize("method", sorted(TINY))
def test_data_and_weights_stay_on_the_device(method):
    est, _ = _fit(method, "cuda")
    assert est.train_[0].is_cuda and est.train_[1].is_cuda
    assert all(p.is_cuda for p in est.module_.parameters())


def test_cuda_and_cpu_train_to_close_scores():
    _, gpu = _fit("bce", "cuda")
    _, cpu = _fit("bce", "cpu")
    assert np.abs(gpu - cpu).max() < 0.05  # same math, different kernels and random streams


def test_model_saved_on_cuda_loads_on_cpu(tmp_path):
    est, scores = _fit("bce", "cuda")
    est.save(tmp_path / "model.pt")
    loaded = type(est).load(tmp_path / "model.pt", device="cpu")
    X, _, Xv, _ = _data()
    assert np.abs(loaded.predict_proba(Xv) - scores).max() < 1e-4


def test_bf16_autocast_on_cuda():
    _, scores = _fit("cgmvae", "cuda", precision="bf16")
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
