"""mlbench.methods.losses.latent against hand-computed values on tiny inputs, and on degenerate label sets."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from mlbench.methods.losses import latent as losses

torch.set_default_dtype(torch.float32)


def t(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype)


# -- Gaussian densities ------------------------------------------------------------------------
def test_gaussian_log_density_matches_scipy():
    z, mu, logvar = t([0.3, -1.2]), t([0.1, 0.5]), t([0.2, -0.7])
    expected = multivariate_normal(mu.numpy(), np.diag(np.exp(logvar.numpy()))).logpdf(z.numpy())
    assert losses.gaussian_log_density(z, mu, logvar).item() == pytest.approx(expected, rel=1e-12)


def test_component_log_densities_match_broadcasting():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 3, generator=g, dtype=torch.float64)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64)
    direct = losses.gaussian_log_density(z[:, None, :], mu[None], logvar[None])
    fast = losses.gaussian_component_log_densities(z, mu, logvar)
    assert fast.shape == (5, 4)
    torch.testing.assert_close(fast, direct, rtol=1e-10, atol=1e-10)


# -- Eq. 3: single-sample KL against the label-selected mixture ---------------------------------
def test_mixture_kl_estimate_hand_computed():
    # 1-d latent, z0 = 0, posterior N(0, 1); components N(0, 1), N(2, 1), N(-1, e^1).
    z = t([[0.0], [0.0], [0.0]])
    mu_q, logvar_q = torch.zeros(3, 1, dtype=torch.float64), torch.zeros(3, 1, dtype=torch.float64)
    mu_c, logvar_c = t([[0.0], [2.0], [-1.0]]), t([[0.0], [0.0], [1.0]])
    y = t([[1, 1, 0], [0, 0, 1], [0, 0, 0]])  # third sample: no labels -> no prior
    phi = norm.pdf
    log_q = math.log(phi(0.0))
    expected = [
        log_q - math.log(0.5 * (phi(0.0) + phi(2.0))),  # uniform mixture of two components
        log_q - math.log(norm(-1.0, math.exp(0.5)).pdf(0.0)),  # a single component
        0.0,
    ]
    per = losses.mixture_kl_estimate(z, mu_q, logvar_q, mu_c, logvar_c, y, reduction="none")
    np.testing.assert_allclose(per.numpy(), expected, rtol=1e-10, atol=1e-12)
    # The mean skips the label-less sample.
    mean = losses.mixture_kl_estimate(z, mu_q, logvar_q, mu_c, logvar_c, y)
    assert mean.item() == pytest.approx((expected[0] + expected[1]) / 2, rel=1e-10)


def test_mixture_kl_uni_gaussian_prior():
    z, mu_q, logvar_q = t([[0.5]]), t([[0.0]]), t([[0.0]])
    mu_p, logvar_p = t([[1.0]]), t([[math.log(4.0)]])
    expected = norm(0, 1).logpdf(0.5) - norm(1.0, 2.0).logpdf(0.5)
    assert losses.mixture_kl_estimate(z, mu_q, logvar_q, mu_p, logvar_p, None).item() == (
        pytest.approx(expected, rel=1e-12)
    )


def test_mixture_kl_no_nan_gradients_without_labels():
    z = torch.randn(4, 3, requires_grad=True)
    mu_c = torch.randn(5, 3, requires_grad=True)
    logvar_c = torch.zeros(5, 3, requires_grad=True)
    y = torch.zeros(4, 5)
    y[0, 1] = 1
    kl = losses.mixture_kl_estimate(z, torch.zeros(4, 3), torch.zeros(4, 3), mu_c, logvar_c, y)
    kl.backward()
    for g in (z.grad, mu_c.grad, logvar_c.grad):
        assert torch.isfinite(g).all()
    assert torch.all(z.grad[1:] == 0)  # label-less samples contribute nothing
    # A batch with no labels at all: 0, finite gradient.
    z.grad = None
    losses.mixture_kl_estimate(z, torch.zeros(4, 3), torch.zeros(4, 3), mu_c, logvar_c, torch.zeros(4, 5)).backward()
    assert torch.all(z.grad == 0)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mq, lq, mp, lp = (torch.randn(3, 4, generator=g, dtype=torch.float64) for _ in range(4))
    q = torch.distributions.Normal(mq, torch.exp(0.5 * lq))
    p = torch.distributions.Normal(mp, torch.exp(0.5 * lp))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(losses.gaussian_kl(mq, lq, mp, lp), expected)


# -- Eq. 5: contrastive loss --------------------------------------------------------------------
def test_label_contrastive_loss_hand_computed():
    anchors = t([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    label_emb = t([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    y = t([[1, 1, 0], [0, 1, 0], [0, 0, 0]])  # third anchor has no positive -> left out
    tau = 0.5
    # anchor 1: s = [1, 0, -1] / 0.5 = [2, 0, -2]
    log_z1 = math.log(math.exp(2) + 1 + math.exp(-2))
    l1 = -((2 - log_z1) + (0 - log_z1)) / 2
    # anchor 2: s = [0, 2, 0] / 0.5 = [0, 4, 0]
    log_z2 = math.log(2 + math.exp(4))
    l2 = -(4 - log_z2)
    got = losses.label_contrastive_loss(anchors, label_emb, y, tau)
    assert got.item() == pytest.approx((l1 + l2) / 2, rel=1e-12)


def test_contrastive_loss_without_positives_is_zero_with_finite_grad():
    anchors = torch.randn(3, 4, requires_grad=True)
    emb = torch.randn(5, 4, requires_grad=True)
    loss = losses.label_contrastive_loss(anchors, emb, torch.zeros(3, 5))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(anchors.grad).all() and torch.isfinite(emb.grad).all()


def test_bce_sum_is_summed_over_labels_averaged_over_samples():
    logits, y = t([[0.0, 2.0], [-1.0, 0.5]]), t([[1, 0], [0, 1]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = (-(math.log(0.5) + math.log(1 - sig(2.0))) - (math.log(1 - sig(-1.0)) + math.log(sig(0.5)))) / 2
    assert losses.bce_sum(logits, y).item() == pytest.approx(expected, rel=1e-12)


# -- MPVAE: multivariate probit -----------------------------------------------------------------
def test_probit_likelihood_hand_computed():
    mu = t([[0.3, -0.4]])
    R = t([[0.5], [-1.0]])  # L = 2, K = 1
    xi = t([[1.0], [-2.0]])  # S = 2 draws
    y = t([[1, 0]])
    eps = 1e-6
    probs = losses.probit_sample_probs(mu, R, xi, eps)
    # draw 1: r = mu + R xi = [0.8, -1.4]; draw 2: r = [-0.7, 1.6]
    p = lambda r: norm.cdf(r) * (1 - eps) + 0.5 * eps  # noqa: E731
    expected_probs = np.array([[[p(0.8), p(-1.4)]], [[p(-0.7), p(1.6)]]])
    np.testing.assert_allclose(probs.numpy(), expected_probs, rtol=1e-12)
    lik = [p(0.8) * (1 - p(-1.4)), p(-0.7) * (1 - p(1.6))]
    expected_nll = -math.log(sum(lik) / 2)
    assert losses.multivariate_probit_nll(probs, y).item() == pytest.approx(expected_nll, rel=1e-10)


def test_probit_marginals_are_the_limit_of_the_draws():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    R = torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.7
    xi = torch.randn(200_000, 4, generator=g, dtype=torch.float64)
    mc = losses.probit_sample_probs(mu, R, xi, eps=0.0).mean(0)
    torch.testing.assert_close(mc, losses.probit_marginal_probs(mu, R), atol=4e-3, rtol=0)


# -- ranking losses -----------------------------------------------------------------------------
def _brute_force_ranking(scores, y, scale):
    out = []
    for s, labels in zip(scores.tolist(), y.tolist()):
        P = [i for i, v in enumerate(labels) if v]
        N = [i for i, v in enumerate(labels) if not v]
        if not P or not N:
            out.append(0.0)
            continue
        out.append(sum(math.exp(scale * (s[q] - s[p])) for p, q in itertools.product(P, N)) / (len(P) * len(N)))
    return np.array(out)


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_ranking_loss_matches_pairwise_definition(scale):
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(6, 5, generator=g, dtype=torch.float64)
    y = t([[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 0, 0], [1, 1, 0, 0, 1], [0, 0, 0, 0, 1]])
    per = losses.c2ae_ranking_loss(scores, y, scale, reduction="none")
    np.testing.assert_allclose(per.numpy(), _brute_force_ranking(scores, y, scale), rtol=1e-12)
    # MPVAE's version divides by the scale and averages over draws and samples.
    probs = scores.expand(3, 6, 5)
    expected = _brute_force_ranking(scores, y, scale).mean() / scale
    assert losses.mpvae_ranking_loss(probs, y, scale).item() == pytest.approx(expected, rel=1e-12)


def test_ranking_loss_gradient_is_finite_on_degenerate_rows():
    scores = torch.rand(3, 4, requires_grad=True)
    y = torch.tensor([[0.0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    losses.c2ae_ranking_loss(scores, y, 5.0).backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.all(scores.grad[:2] == 0)


def test_c2ae_latent_loss_hand_computed():
    zx = t([[1.0, 0.0], [0.0, 0.5]])
    zy = t([[1.0, 0.0], [0.0, 1.0]])
    # ||zx - zy||^2 = 0.25; zx^T zx = diag(1, 0.25) -> ||. - I||^2 = 0.5625; zy^T zy = I -> 0
    assert losses.c2ae_latent_loss(zx, zy, lam=0.5).item() == pytest.approx(0.25 + 0.5 * 0.5625)
