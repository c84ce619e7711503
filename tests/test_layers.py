"""The speed-motivated replacements keep the math: dropout masks, logits reuse, fused Adam."""

import pytest
import torch
import torch.nn.functional as F

from mlbench.methods.layers import Dropout, bias_relu_dropout, l2_normalize
from mlbench.methods.losses.latent import (
    _masked_fill_min,
    _MaskedLogsumexp,
    label_contrastive_loss,
    label_contrastive_loss_from_logits,
)
from mlbench.methods.neural import adam


def test_dropout_keeps_expected_fraction_and_scale():
    torch.manual_seed(0)
    x = torch.ones(400, 500)
    out = Dropout(0.3).train()(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.7))
    assert abs(out.mean().item() - 1.0) < 0.02  # inverted dropout: expectation preserved


def test_dropout_is_identity_in_eval_and_deterministic_under_a_seed():
    x = torch.randn(8, 16)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    torch.manual_seed(3)
    a = Dropout(0.5).train()(x)
    torch.manual_seed(3)
    b = Dropout(0.5).train()(x)
    assert torch.equal(a, b)


def test_dropout_gradient_is_the_mask():
    torch.manual_seed(1)
    x = torch.randn(6, 7, requires_grad=True)
    out = Dropout(0.5).train()(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out.detach() != 0).float() * 2.0)


def test_fused_bias_relu_dropout_is_bit_identical_to_the_modules():
    # Values, both gradients and the random stream (the next draw) must match the unfused
    # ReLU -> Dropout of x + bias, including with a second use of x sharing its gradient.
    x0, b0 = torch.randn(40, 30), torch.randn(30) * 0.5
    g, w = torch.randn(40, 30), torch.randn(5, 30)
    results = []
    for fused in (False, True):
        x, b = x0.clone().requires_grad_(), b0.clone().requires_grad_()
        torch.manual_seed(5)
        if fused:
            out, x_again = bias_relu_dropout(x, b, 0.5, True, share=True)
        else:
            out, x_again = Dropout(0.5).train()(torch.relu(x + b)), x
        loss = (out * g).sum() + (x_again @ w.T).pow(2).sum()
        loss.backward()
        results.append((out.detach(), x.grad, b.grad, torch.rand(3)))
    for a, c in zip(*results):
        assert torch.equal(a, c)
    assert (results[0][0] == 0).float().mean() > 0.5  # dropout and ReLU both zeroed entries
    x = x0.clone().requires_grad_()
    assert torch.equal(bias_relu_dropout(x, b0, 0.5, False), torch.relu(x0 + b0))  # eval: no dropout
    # The backward reuses the mask's buffer: a second backward through the graph must fail loudly.
    out = bias_relu_dropout(x, b0, 0.5, True)
    out.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_fused_l2_normalize_is_bit_identical_to_f_normalize():
    torch.manual_seed(6)
    for scale in (1e-3, 1.0, 100.0):
        x0 = torch.randn(32, 50) * scale
        x0[0], x0[1] = 0.0, 1e-14  # zero and below-eps rows: the clamp's branch
        g = torch.randn(32, 50)
        outs = []
        for fn in (lambda t: F.normalize(t, dim=-1), l2_normalize):
            x = x0.clone().requires_grad_()
            y = fn(x)
            y.backward(g)
            outs.append((y.detach(), x.grad))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_masked_logsumexp_is_bit_identical_to_logsumexp_of_the_filled_tensor():
    torch.manual_seed(7)
    for scale, frac in ((1.0, 0.02), (50.0, 0.5), (1000.0, 1.0)):
        v0 = torch.randn(30, 60) * scale
        keep = torch.rand(30, 60) < frac
        keep[0], keep[1] = False, True  # a row without kept entries stays finite, NaN-free
        g = torch.randn(30)
        outs = []
        for fn in (lambda v, k: torch.logsumexp(_masked_fill_min(v, k), -1), _MaskedLogsumexp.apply):
            v = v0.clone().requires_grad_()
            r = fn(v, keep)
            r.backward(g)
            outs.append((r.detach(), v.grad))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
        assert torch.isfinite(outs[1][1]).all()


def test_contrastive_loss_from_reused_logits_is_bit_identical():
    torch.manual_seed(2)
    anchors, label_emb = torch.randn(10, 5), torch.randn(4, 5)
    y = (torch.rand(10, 4) > 0.5).float()
    y[0] = 0  # an anchor without positives is left out either way
    direct = label_contrastive_loss(anchors, label_emb, y, tau=0.5)
    reused = label_contrastive_loss_from_logits(anchors @ label_emb.T, y, tau=0.5)
    assert torch.equal(direct, reused)


def test_fused_adam_takes_the_same_step_as_adam():
    torch.manual_seed(4)
    a, b = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    opts = [
        adam(a.parameters(), lr=0.01, weight_decay=1e-4),
        torch.optim.Adam(b.parameters(), lr=0.01, weight_decay=1e-4),
    ]
    x = torch.randn(16, 5)
    for _ in range(5):
        for module, opt in zip((a, b), opts):
            opt.zero_grad()
            module(x).pow(2).sum().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_bf16_precision_trains_and_is_validated():
    import numpy as np
    import pytest

    from mlbench.errors import MlbenchError
    from mlbench.methods import FitContext, create_method

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 6)).astype(np.float32)
    Y = (X[:, :3] > 0).astype(np.int64)
    scores = {}
    for precision in ("fp32", "bf16"):
        est = create_method("bce", None, {"epochs": 2, "batch_size": 16, "hidden": [8], "precision": precision})
        est.fit(X, Y, X[:16], Y[:16], FitContext(seed=0, progress=False))
        scores[precision] = est.predict_proba(X)
        assert np.isfinite(scores[precision]).all() and scores[precision].shape == Y.shape
    assert not np.array_equal(scores["fp32"], scores["bf16"])  # autocast really ran
    est = create_method("bce", None, {"epochs": 1, "precision": "fp8"})
    with pytest.raises(MlbenchError, match="precision must be"):
        est.fit(X, Y, X[:16], Y[:16], FitContext(seed=0, progress=False))
