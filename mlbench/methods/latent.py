"""Latent-space methods: C-GMVAE (+ its Table 4 ablations), MPVAE and C2AE.

Registered ids: ``cgmvae``, ``cgmvae-unigauss``, ``cgmvae-gm-only``, ``cgmvae-contrastive-only``,
``mpvae``, ``c2ae``. The losses are the pure functions of :mod:`mlbench.methods.losses.latent`; the training
loop, seeding, checkpoints and model selection (by default the epoch with the best validation
macro-F1 at the best validation threshold, which is what the official C-GMVAE and MPVAE code
keeps) come from :class:`mlbench.methods.neural.NeuralMethod`. ``docs/methods-latent.md`` lists every
paper-vs-code difference and every choice made here.

Everything is vectorised over samples and labels: the L mixture components are one batched pass
of the label encoder over the (L, E) embedding matrix, the mixture density is one (B, L) matrix,
probit draws are one (S, B, L) tensor, and the ranking losses use the factorised pair sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mlbench.errors import MlbenchError
from mlbench.methods.base import register_method, register_variant
from mlbench.methods.layers import Dropout, bias_relu_dropout, l2_normalize
from mlbench.methods.losses import latent as losses
from mlbench.methods.mlp import feature_encoder
from mlbench.methods.neural import NeuralMethod


def _mlp(
    widths: Sequence[int], dropout: float = 0.0, act: type[nn.Module] = nn.ReLU, **act_kwargs: Any
) -> nn.Sequential:
    """[Linear -> act -> Dropout] between consecutive ``widths`` (no dropout module if 0)."""
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(int(a), int(b)), act(**act_kwargs)]
        if dropout > 0:
            layers.append(Dropout(dropout))
    return nn.Sequential(*layers)


def _choice(hp: dict[str, Any], key: str, allowed: Sequence[str], method: str) -> str:
    value = hp[key]
    if value not in allowed:
        raise MlbenchError(f"parameter {key!r} of {method!r} must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def _reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None):
    if eps is None:
        eps = torch.randn_like(mu)  # torch's global RNG: checkpointed by the training loop
    return mu + eps * torch.exp(0.5 * logvar)


# =============================================================================================
# C-GMVAE
# =============================================================================================

#: C-GMVAE appendix Table 7 ("Major hyperparameters used in training"), per dataset.
#: reuters/bookmarks get one more 512-unit decoder layer (appendix "Implementation Details").
CGMVAE_TABLE7: dict[str, dict[str, Any]] = {
    "ebird": {"lr": 0.001, "alpha": 1.0, "beta": 0.5, "emb_size": 2048, "dropout": 0.5, "batch_size": 128},
    "bookmarks": {
        "lr": 0.002,
        "alpha": 1.0,
        "beta": 1.0,
        "emb_size": 2048,
        "dropout": 0.5,
        "batch_size": 128,
        "decoder_hidden": [512, 512, 512],
    },
    "nus-vec": {"lr": 0.004, "alpha": 1.0, "beta": 0.5, "emb_size": 1024, "dropout": 0.5, "batch_size": 256},
    "mirflickr": {"lr": 0.001, "alpha": 2.0, "beta": 0.5, "emb_size": 2048, "dropout": 0.5, "batch_size": 128},
    "reuters": {
        "lr": 0.005,
        "alpha": 2.0,
        "beta": 1.0,
        "emb_size": 2048,
        "dropout": 0.5,
        "batch_size": 128,
        "decoder_hidden": [512, 512, 512],
    },
    "scene": {"lr": 0.003, "alpha": 1.0, "beta": 0.5, "emb_size": 512, "dropout": 0.3, "batch_size": 128},
    "sider": {"lr": 0.002, "alpha": 1.0, "beta": 0.5, "emb_size": 512, "dropout": 0.5, "batch_size": 128},
    "yeast": {"lr": 0.002, "alpha": 1.0, "beta": 0.5, "emb_size": 512, "dropout": 0.5, "batch_size": 128},
    "delicious": {"lr": 0.001, "alpha": 1.0, "beta": 0.5, "emb_size": 2048, "dropout": 0.5, "batch_size": 128},
}


class CGMVAENet(nn.Module):
    """The C-GMVAE network; ``official`` switches to the architecture of the official model.py.

    Paper (appendix): feature encoder F-256-512-256 -> (mu, logvar) in R^64; learnable label
    embeddings w_j in R^E; label encoder E-512-256 -> one Gaussian (mu_j, logvar_j) per label;
    decoder z -> 512 -> 512 -> E, L2-normalised ("embeddings are normalized", appendix Eq. 9).
    Official: the label embeddings are the weight columns of Linear(L, E) whose bias is added
    before ReLU/Dropout in front of the label encoder; the decoder is concat(x, z) -> 512 -> E ->
    LeakyReLU -> L2-normalise (one hidden layer, raw x concatenated).
    """

    def __init__(self, n_features: int, n_labels: int, hp: dict[str, Any]) -> None:
        super().__init__()
        self.official = hp["preset"] == "official"
        self.unigauss = hp["prior"] == "unigauss"
        # 'auto': the preset's decoder input (paper: z only; official: concat(x, z)).
        self.decode_x = {"auto": self.official, "z": False, "xz": True}[hp["decoder_input"]]
        p = float(hp["dropout"])
        d, emb = int(hp["latent_dim"]), int(hp["emb_size"])
        feat_hidden = [int(h) for h in hp["feature_hidden"]]

        self.fx = feature_encoder(n_features, feat_hidden, p)
        width = feat_hidden[-1] if feat_hidden else n_features
        self.fx_mu, self.fx_logvar = nn.Linear(width, d), nn.Linear(width, d)

        # Same init as the official nn.Linear(L, E) weight: U(-1/sqrt(L), 1/sqrt(L)).
        bound = 1.0 / n_labels**0.5
        self.label_emb = nn.Parameter(torch.empty(n_labels, emb).uniform_(-bound, bound))
        label_hidden = [int(h) for h in hp["label_hidden"]]
        if self.official:
            self.label_bias = nn.Parameter(torch.empty(emb).uniform_(-bound, bound))
            self.fe = nn.Sequential(nn.ReLU(), Dropout(p), _mlp([emb, *label_hidden], p))
        else:
            self.label_bias = None
            self.fe = _mlp([emb, *label_hidden], p)
        width = label_hidden[-1] if label_hidden else emb
        self.fe_mu, self.fe_logvar = nn.Linear(width, d), nn.Linear(width, d)

        d_in = d + (n_features if self.decode_x else 0)
        if self.official:
            self.fd = nn.Sequential(nn.Linear(d_in, 512), nn.ReLU(), nn.Linear(512, emb), nn.LeakyReLU(0.01))
        else:
            dec = [d_in, *[int(h) for h in hp["decoder_hidden"]]]
            self.fd = nn.Sequential(_mlp(dec), nn.Linear(dec[-1], emb))

    # -- pieces ------------------------------------------------------------------------------
    def encode_x(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fx(x)
        return self.fx_mu(h), self.fx_logvar(h)

    def _encode_label_input(self, e: torch.Tensor, share: bool = False):
        """(mu, logvar) of the label encoder on ``e``; with ``share`` (official preset only) also
        ``e`` again, to be used in its place elsewhere (see ``layers.bias_relu_dropout``)."""
        shared = e
        if self.label_bias is not None:
            # fe = [ReLU, Dropout, MLP]: the first two fused with the bias add (fewer (L, E)
            # passes each way; the modules stay in fe so state_dict keys do not change).
            e = bias_relu_dropout(e, self.label_bias, self.fe[1].p, self.fe[1].training, share)
            if share:
                e, shared = e
            h = self.fe[2](e)
        else:
            h = self.fe(e)
        mu, logvar = self.fe_mu(h), self.fe_logvar(h)
        return (mu, logvar, shared) if share else (mu, logvar)

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu_j, logvar_j) of every label's Gaussian, (L, d) each: one batched pass over the
        embedding matrix (the official code feeds eye(L) through Linear(L, E), the same thing)."""
        return self._encode_label_input(self.label_emb)

    def components_and_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``components()`` plus the label embeddings to pass to ``logits(emb, weights)`` in the
        same graph: the same values, and both uses' gradients of ``label_emb`` accumulate in one
        (L, E) tensor instead of being summed into a third (983 x 2048 on delicious)."""
        return self._encode_label_input(self.label_emb, share=True)

    def label_gaussian(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Uni-Gaussian ablation: one Gaussian per sample from the label-weighted embedding sum
        sum_j y_j w_j (the MPVAE/C2AE style label encoder the paper contrasts with)."""
        return self._encode_label_input(y @ self.label_emb)

    def decode(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.decode_x:
            z = torch.cat([x, z], dim=-1)
        return l2_normalize(self.fd(z))  # F.normalize's values and gradients, fewer passes

    def logits(self, emb: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """<w_fx, w_j> for every label (Eq. 6 / prediction); (N, L). ``weights``: the label
        embeddings from ``components_and_weights`` (default ``label_emb``)."""
        return emb @ (self.label_emb if weights is None else weights).T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Prediction logits: decode the posterior mean (no label input)."""
        mu, _ = self.encode_x(x)
        return self.logits(self.decode(mu, x))


class CGMVAE(NeuralMethod):
    """Contrastive-learning boosted Gaussian-mixture VAE (Bai, Kong & Gomes, ICML 2022)."""

    id = "cgmvae"
    display_name = "C-GMVAE"
    citation = (
        "Bai, Kong & Gomes. Gaussian Mixture Variational Autoencoder with Contrastive "
        "Learning for Multi-Label Classification. ICML 2022"
    )
    params = {
        **NeuralMethod.params,
        # 'official': JunwenBai/C-GMVAE model.py; 'paper': the paper's text (Eq. 1-7, appendix).
        # 'official' is the default because the paper's text, as written, collapses to a constant
        # predictor on yeast and scene (docs/methods-latent.md, "Posterior collapse"), while the
        # official code reproduces the paper's tables.
        "preset": "official",
        "epochs": 100,
        "batch_size": 128,
        "lr": 1e-3,
        "weight_decay": 1e-5,  # official Adam weight decay (hard-coded); not in Table 7
        "dropout": 0.5,
        "feature_hidden": [256, 512, 256],
        "label_hidden": [512, 256],
        "decoder_hidden": [512, 512],  # paper preset only (official: one 512 layer)
        "decoder_input": "auto",  # 'auto' (paper: z; official: concat(x, z)), 'z' or 'xz'
        "latent_dim": 64,
        "emb_size": 2048,
        "prior": "mixture",  # 'mixture' (Eq. 1) or 'unigauss' (Table 4 ablation)
        "use_kl": True,  # False: Table 4 "contrastive only"
        "use_contrastive": True,  # False: Table 4 "GM only"
        # paper preset: L = kl_weight*L_KL + recon_weight*L_recon + alpha*L_CL + beta*BCE (Eq. 7)
        "alpha": 1.0,
        "beta": 0.5,
        "kl_weight": 1.0,
        "recon_weight": 1.0,
        "tau": 1.0,  # temperature of sim() in Eq. 5 (official: 1.0; the paper gives no value)
        # official preset: beta*(BCE_label + BCE_z1 + BCE_z2) + 6*KL + 1*CL (hard-coded in model.py)
        "official_kl_weight": 6.0,
        "official_contrastive_weight": 1.0,
        # CosineAnnealingWarmRestarts(T_0=50, T_mult=2, eta_min=2e-4) stepped per epoch (official)
        "scheduler": "cosine_restarts",
        "scheduler_t0": 50,
        "eta_min": 2e-4,
    }
    param_ranges = {
        "feature_hidden": ">= 1",
        "label_hidden": ">= 1",
        "decoder_hidden": ">= 1",
        "latent_dim": ">= 1",
        "emb_size": ">= 1",
        "alpha": ">= 0",
        "beta": ">= 0",
        "kl_weight": ">= 0",
        "recon_weight": ">= 0",
        "tau": "> 0",
        "official_kl_weight": ">= 0",
        "official_contrastive_weight": ">= 0",
        "scheduler_t0": ">= 1",
        "eta_min": ">= 0",
    }
    dataset_params = CGMVAE_TABLE7
    test_params = {
        **NeuralMethod.test_params,
        "feature_hidden": [8],
        "label_hidden": [8],
        "decoder_hidden": [8],
        "latent_dim": 4,
        "emb_size": 8,
    }

    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        hp = self.hparams
        _choice(hp, "preset", ("paper", "official"), self.id)
        _choice(hp, "prior", ("mixture", "unigauss"), self.id)
        _choice(hp, "scheduler", ("cosine_restarts", "none"), self.id)
        _choice(hp, "decoder_input", ("auto", "z", "xz"), self.id)
        return CGMVAENet(n_features, n_labels, hp)

    def configure_scheduler(self, optimizer, epochs):
        if self.hparams["scheduler"] == "none":
            return None
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer,
            T_0=max(1, self.hparams["scheduler_t0"]),
            T_mult=2,
            eta_min=min(self.hparams["eta_min"], self.hparams["lr"]),
        )

    # -- loss ----------------------------------------------------------------------------------
    def _kl(self, net: CGMVAENet, z, mu, logvar, y):
        """Eq. 3 (one posterior sample) against the Eq. 1 mixture, or the uni-Gaussian prior."""
        if net.unigauss:
            mu_p, logvar_p = net.label_gaussian(y)
            return losses.mixture_kl_estimate(z, mu, logvar, mu_p, logvar_p, None)
        mu_c, logvar_c = net.components()
        return losses.mixture_kl_estimate(z, mu, logvar, mu_c, logvar_c, y)

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        if module.official:
            return self._official_loss(module, xb, yb)
        return self._paper_loss(module, xb, yb)

    def _paper_loss(self, net: CGMVAENet, x, y):
        hp = self.hparams
        mu, logvar = net.encode_x(x)
        z0 = _reparameterize(mu, logvar)  # the single sample of Eq. 3
        # One decoder pass: the posterior sample z0 (Eq. 4) and the posterior mean, which is
        # what prediction decodes ("x is passed to the feature encoder and decoder to obtain
        # w_fx"): Eq. 6 (cross-entropy) and Eq. 5 (contrastive anchor) use that w_fx.
        logits_sample, logits = net.logits(net.decode(torch.cat([z0, mu]), torch.cat([x, x]))).split(x.shape[0])
        recon = losses.bce_sum(logits_sample, y)  # Eq. 4: -log p(y | z0)
        bce = losses.bce_sum(logits, y)  # Eq. 6 (minus sign: a loss)
        loss = hp["recon_weight"] * recon + hp["beta"] * bce
        parts: dict[str, Any] = {"recon": recon, "bce": bce}
        if hp["use_kl"]:
            kl = self._kl(net, z0, mu, logvar, y)
            loss = loss + hp["kl_weight"] * kl
            parts["kl"] = kl
        if hp["use_contrastive"]:
            # Eq. 5's <w_fx, w_j> are Eq. 6's logits: reused, not recomputed.
            cl = losses.label_contrastive_loss_from_logits(logits, y, hp["tau"])
            loss = loss + hp["alpha"] * cl
            parts["cl"] = cl
        return loss, parts

    def _official_loss(self, net: CGMVAENet, x, y):
        """model.py as coded: label branch = mean of the positive components' means (not
        sampled); two decoder samples of q(z|x), each with its own BCE; a third sample for the
        KL; contrastive anchors = label-branch and first feature-branch embeddings."""
        hp = self.hparams
        mu, logvar = net.encode_x(x)
        if net.unigauss:
            mu_p, logvar_p = net.label_gaussian(y)
            z_label = mu_p
        else:
            mu_c, logvar_c, label_w = net.components_and_weights()
            # (y @ mu_c) / |y|; label-less samples get z = 0 instead of the official 0/0.
            z_label = (y @ mu_c) / y.sum(-1, keepdim=True).clamp_min(1.0)
        z1, z2 = _reparameterize(mu, logvar), _reparameterize(mu, logvar)
        # One decoder pass over the three latents (label, z1, z2).
        emb = net.decode(torch.cat([z_label, z1, z2]), torch.cat([x, x, x]))
        logits = net.logits(emb, None if net.unigauss else label_w)
        B = x.shape[0]
        bce = sum(losses.bce_sum(part, y) for part in logits.split(B))
        loss = hp["beta"] * bce
        parts: dict[str, Any] = {"bce": bce}
        if hp["use_kl"]:
            z_kl = _reparameterize(mu, logvar)  # the separate KL sample
            if net.unigauss:
                kl = losses.mixture_kl_estimate(z_kl, mu, logvar, mu_p, logvar_p, None)
            else:
                kl = losses.mixture_kl_estimate(z_kl, mu, logvar, mu_c, logvar_c, y)
            loss = loss + hp["official_kl_weight"] * kl
            parts["kl"] = kl
        if hp["use_contrastive"]:
            cl = losses.label_contrastive_loss_from_logits(logits[: 2 * B], torch.cat([y, y]), hp["tau"])
            loss = loss + hp["official_contrastive_weight"] * cl
            parts["cl"] = cl
        return loss, parts

    def extras(self) -> dict[str, Any]:
        """The learnt label embeddings w_j (L x E), for the Fig. 3 label-label heatmap."""
        module = getattr(self, "module_", None)
        if module is None:
            return {}
        return {"label_embeddings": module.label_emb.detach().float().cpu().numpy()}


register_method(CGMVAE)
register_variant(CGMVAE, "cgmvae-unigauss", "C-GMVAE (uni-Gaussian)", prior="unigauss")
register_variant(CGMVAE, "cgmvae-gm-only", "C-GMVAE (GM only)", use_contrastive=False)
register_variant(CGMVAE, "cgmvae-contrastive-only", "C-GMVAE (contrastive only)", use_kl=False)


# =============================================================================================
# MPVAE
# =============================================================================================

#: Per-dataset settings of the official scripts (JunwenBai/MPVAE scripts/run_train_<ds>.sh).
#: dropout = 1 - keep_prob (TF slim's keep probability).
MPVAE_SCRIPTS: dict[str, dict[str, Any]] = {
    "bibtex": {
        "lr": 2.5e-4,
        "epochs": 200,
        "nll_coeff": 10.0,
        "c_coeff": 0.1,
        "l2_coeff": 1.0,
        "lr_decay_ratio": 0.8,
        "lr_decay_times": 4,
        "dropout": 0.5,
    },
    "delicious": {
        "lr": 5e-4,
        "epochs": 200,
        "nll_coeff": 10.0,
        "c_coeff": 0.1,
        "l2_coeff": 1.0,
        "lr_decay_ratio": 0.8,
        "lr_decay_times": 4,
        "dropout": 0.5,
        "train_samples": 5,
    },
    "ebird": {
        "lr": 1.5e-3,
        "epochs": 200,
        "nll_coeff": 0.1,
        "c_coeff": 200.0,
        "l2_coeff": 1.0,
        "lr_decay_ratio": 0.5,
        "lr_decay_times": 3,
        "dropout": 0.0,
    },
    "fish": {
        "lr": 2.5e-4,
        "epochs": 250,
        "nll_coeff": 10.0,
        "c_coeff": 0.1,
        "l2_coeff": 0.01,
        "lr_decay_ratio": 0.9,
        "lr_decay_times": 8,
        "dropout": 0.3,
    },
    "mirflickr": {
        "lr": 7.5e-4,
        "epochs": 300,
        "nll_coeff": 0.1,
        "c_coeff": 200.0,
        "l2_coeff": 1.0,
        "lr_decay_ratio": 0.5,
        "lr_decay_times": 4,
        "dropout": 0.5,
    },
    "nus-vec": {
        "lr": 5e-4,
        "epochs": 50,
        "nll_coeff": 0.1,
        "c_coeff": 20.0,
        "l2_coeff": 1.0,
        "lr_decay_ratio": 0.8,
        "lr_decay_times": 4,
        "dropout": 0.5,
    },
    "scene": {
        "lr": 2e-3,
        "epochs": 400,
        "nll_coeff": 0.1,
        "c_coeff": 40.0,
        "l2_coeff": 1.0,
        "lr_decay_ratio": 0.8,
        "lr_decay_times": 4,
        "dropout": 0.5,
    },
    "sider": {
        "lr": 5e-4,
        "epochs": 400,
        "nll_coeff": 0.1,
        "c_coeff": 20.0,
        "l2_coeff": 1.0,
        "lr_decay_ratio": 0.8,
        "lr_decay_times": 4,
        "dropout": 0.1,
    },
    "yeast": {
        "lr": 6e-4,
        "epochs": 800,
        "nll_coeff": 0.1,
        "c_coeff": 20.0,
        "l2_coeff": 1.0,
        "lr_decay_ratio": 0.8,
        "lr_decay_times": 4,
        "dropout": 0.5,
    },
}


class MPVAENet(nn.Module):
    """Feature encoder q(z|x), label encoder q(z|x, y) (official) or q(z|y) (paper), a decoder
    trunk shared by both branches with one output head per branch, and the probit factor R."""

    def __init__(self, n_features: int, n_labels: int, hp: dict[str, Any]) -> None:
        super().__init__()
        p, d = float(hp["dropout"]), int(hp["latent_dim"])
        self.label_uses_x = hp["label_encoder_input"] == "xy"
        feat_hidden = [int(h) for h in hp["feature_hidden"]]
        self.fx = feature_encoder(n_features, feat_hidden, p)
        width = feat_hidden[-1] if feat_hidden else n_features
        self.fx_mu, self.fx_logvar = nn.Linear(width, d), nn.Linear(width, d)
        label_hidden = [int(h) for h in hp["label_hidden"]]
        fe_in = n_labels + (n_features if self.label_uses_x else 0)
        self.fe = _mlp([fe_in, *label_hidden], p)
        width = label_hidden[-1] if label_hidden else fe_in
        self.fe_mu, self.fe_logvar = nn.Linear(width, d), nn.Linear(width, d)
        dec = [n_features + d, *[int(h) for h in hp["decoder_hidden"]]]
        self.trunk = _mlp(dec)  # no dropout in the official decoder
        self.head_label, self.head_feat = nn.Linear(dec[-1], n_labels), nn.Linear(dec[-1], n_labels)
        k = int(hp["probit_rank"]) or n_labels  # z_dim = L in every official script
        self.r_sqrt_sigma = nn.Parameter(torch.empty(n_labels, k))
        # TF slim defaults: Glorot-uniform weights, zero biases; R is Glorot-uniform too.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.r_sqrt_sigma)

    def encode_x(self, x):
        h = self.fx(x)
        return self.fx_mu(h), self.fx_logvar(h)

    def encode_y(self, x, y):
        h = self.fe(torch.cat([x, y], dim=-1) if self.label_uses_x else y)
        return self.fe_mu(h), self.fe_logvar(h)

    def fc_weights(self) -> list[torch.Tensor]:
        return [m.weight for m in self.modules() if isinstance(m, nn.Linear)]

    def forward(self, x):
        """Probit means of the feature branch at z = mu_x (prediction)."""
        mu, _ = self.encode_x(x)
        return self.head_feat(self.trunk(torch.cat([x, mu], dim=-1)))


@register_method
class MPVAE(NeuralMethod):
    """Multivariate-probit VAE (Bai, Kong & Gomes, IJCAI 2020), as in the official TF code."""

    id = "mpvae"
    display_name = "MPVAE"
    citation = (
        "Bai, Kong & Gomes. Disentangled Variational Autoencoder based Multi-Label "
        "Classification with Covariance-Aware Multivariate Probit Model. IJCAI 2020"
    )
    params = {
        **NeuralMethod.params,
        "epochs": 200,
        "batch_size": 128,
        "lr": 1e-3,
        "weight_decay": 0.0,  # the official L2 (l2_coeff) is added to the loss instead
        "dropout": 0.5,  # = 1 - keep_prob
        "feature_hidden": [256, 512, 256],
        "label_hidden": [512, 256],
        "decoder_hidden": [256, 512],
        "latent_dim": 50,
        "label_encoder_input": "xy",  # 'xy': official concat(x, y); 'y': the paper's q(z|y)
        "probit_rank": 0,  # columns of R (z_dim); 0 = L, as every official script
        "train_samples": 100,  # probit draws per training step (n_train_sample)
        "test_samples": 0,  # 0 = exact marginals Phi(mu/sqrt(1+|R_j|^2)); else MC draws
        "nll_coeff": 0.1,
        "c_coeff": 10.0,
        "l2_coeff": 1.0,
        "l2_scale": 1e-5,  # slim.l2_regularizer(1e-5): l2_scale * sum ||W||^2 / 2
        "kl_weight": 1.1,  # hard-coded in model.py
        "rank_scale": 5.0,
        "lr_decay_ratio": 0.5,
        "lr_decay_times": 3,
    }
    param_ranges = {
        "feature_hidden": ">= 1",
        "label_hidden": ">= 1",
        "decoder_hidden": ">= 1",
        "latent_dim": ">= 1",
        "probit_rank": ">= 0",
        "train_samples": ">= 1",
        "test_samples": ">= 0",
        "nll_coeff": ">= 0",
        "c_coeff": ">= 0",
        "l2_coeff": ">= 0",
        "l2_scale": ">= 0",
        "kl_weight": ">= 0",
        "lr_decay_ratio": "(0, 1]",
        "lr_decay_times": ">= 0",
    }
    dataset_params = MPVAE_SCRIPTS
    test_params = {
        **NeuralMethod.test_params,
        "feature_hidden": [8],
        "label_hidden": [8],
        "decoder_hidden": [8],
        "latent_dim": 4,
        "train_samples": 4,
    }
    drop_last = True  # the official batching drops the last partial batch

    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        _choice(self.hparams, "label_encoder_input", ("xy", "y"), self.id)
        return MPVAENet(n_features, n_labels, self.hparams)

    def configure_scheduler(self, optimizer, epochs):
        # tf.train.exponential_decay(staircase=True) with decay_steps = steps_per_epoch *
        # epochs / times: x ratio every epochs/times epochs.
        times = max(1, self.hparams["lr_decay_times"])
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=max(1, epochs // times), gamma=self.hparams["lr_decay_ratio"]
        )

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        hp = self.hparams
        net: MPVAENet = module
        B = xb.shape[0]
        mu_x, logvar_x = net.encode_x(xb)
        mu_e, logvar_e = net.encode_y(xb, yb)
        eps = torch.randn_like(mu_x)  # one epsilon for both branches (official)
        z = torch.cat([_reparameterize(mu_e, logvar_e, eps), _reparameterize(mu_x, logvar_x, eps)])
        h = net.trunk(torch.cat([torch.cat([xb, xb]), z], dim=-1))
        mean_e, mean_x = net.head_label(h[:B]), net.head_feat(h[B:])
        # The same probit draws for both branches (official).
        xi = torch.randn(max(1, hp["train_samples"]), net.r_sqrt_sigma.shape[1], device=xb.device, dtype=xb.dtype)
        p_e = losses.probit_sample_probs(mean_e, net.r_sqrt_sigma, xi)
        p_x = losses.probit_sample_probs(mean_x, net.r_sqrt_sigma, xi)
        nll = losses.multivariate_probit_nll(p_e, yb) + losses.multivariate_probit_nll(p_x, yb)
        rank = losses.mpvae_ranking_loss(p_e, yb, hp["rank_scale"]) + losses.mpvae_ranking_loss(
            p_x, yb, hp["rank_scale"]
        )
        kl = losses.gaussian_kl(mu_e, logvar_e, mu_x, logvar_x, eps=1e-6).mean()
        l2 = hp["l2_scale"] * sum(w.pow(2).sum() for w in net.fc_weights()) / 2
        loss = hp["nll_coeff"] * nll + hp["c_coeff"] * rank + hp["kl_weight"] * kl + hp["l2_coeff"] * l2
        return loss, {"nll": nll, "rank": rank, "kl": kl}

    def predict_scores(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        net: MPVAENet = module
        mean = net(xb)
        n = self.hparams["test_samples"]
        if n <= 0:
            return losses.probit_marginal_probs(mean, net.r_sqrt_sigma)
        xi = torch.randn(n, net.r_sqrt_sigma.shape[1], device=xb.device, dtype=xb.dtype)
        return losses.probit_sample_probs(mean, net.r_sqrt_sigma, xi).mean(0)

    def extras(self) -> dict[str, Any]:
        """The learnt residual covariance Sigma = R R^T + I (L x L) of the probit model."""
        module = getattr(self, "module_", None)
        if module is None:
            return {}
        r = module.r_sqrt_sigma.detach().float().cpu()
        return {"residual_covariance": (r @ r.T + torch.eye(r.shape[0])).numpy()}


# =============================================================================================
# C2AE
# =============================================================================================


class C2AENet(nn.Module):
    """Fx: x -> 512 -> 512 -> K, Fe: y -> 512 -> K (both ending in sigmoid - 1/2, "sigmoid shifted
    to zero mean"), Fd: K -> 512 -> L (logits; sigmoid outputs), leaky-ReLU hidden units, as in the
    authors' demo (K = round(0.8 L))."""

    def __init__(self, n_features: int, n_labels: int, hp: dict[str, Any]) -> None:
        super().__init__()
        k = max(1, round(hp["latent_ratio"] * n_labels)) if hp["latent_dim"] <= 0 else hp["latent_dim"]
        slope, p = float(hp["leaky_slope"]), float(hp["dropout"])

        def net(widths):
            return nn.Sequential(
                _mlp(widths[:-1], p, nn.LeakyReLU, negative_slope=slope), nn.Linear(widths[-2], widths[-1])
            )

        self.fx = net([n_features, *[int(h) for h in hp["feature_hidden"]], k])
        self.fe = net([n_labels, *[int(h) for h in hp["label_hidden"]], k])
        self.fd = net([k, *[int(h) for h in hp["decoder_hidden"]], n_labels])

    def embed_x(self, x):
        return torch.sigmoid(self.fx(x)) - 0.5

    def embed_y(self, y):
        return torch.sigmoid(self.fe(y)) - 0.5

    def forward(self, x):
        return self.fd(self.embed_x(x))


@register_method
class C2AE(NeuralMethod):
    """Canonical-correlated autoencoder (Yeh, Wu, Ko & Wang, AAAI 2017)."""

    id = "c2ae"
    display_name = "C2AE"
    citation = "Yeh, Wu, Ko & Wang. Learning Deep Latent Spaces for Multi-Label Classification. AAAI 2017"
    params = {
        **NeuralMethod.params,
        "epochs": 100,
        "batch_size": 128,
        "lr": 1e-3,
        "weight_decay": 1e-5,
        "dropout": 0.0,  # the authors' demo trains without dropout
        "feature_hidden": [512, 512],
        "label_hidden": [512],
        "decoder_hidden": [512],
        "latent_dim": 0,  # 0 = round(latent_ratio * L)
        "latent_ratio": 0.8,
        "leaky_slope": 0.01,
        "alpha": 0.5,  # Phi = L_latent + alpha * L_ae (authors' demo: the ae gradient / 2)
        "lam": 0.5,  # orthogonality penalty (CORR_error.m)
        "rank_scale": 5.0,  # exp(scale (F_q - F_p)) on sigmoid outputs (BR_error.m); paper: 1
    }
    param_ranges = {
        "feature_hidden": ">= 1",
        "label_hidden": ">= 1",
        "decoder_hidden": ">= 1",
        "latent_dim": ">= 0",
        "latent_ratio": "> 0",
        "alpha": ">= 0",
        "lam": ">= 0",
    }
    test_params = {**NeuralMethod.test_params, "feature_hidden": [8], "label_hidden": [8], "decoder_hidden": [8]}

    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        return C2AENet(n_features, n_labels, self.hparams)

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        hp = self.hparams
        net: C2AENet = module
        z_x, z_y = net.embed_x(xb), net.embed_y(yb)
        latent = losses.c2ae_latent_loss(z_x, z_y, hp["lam"])
        # The output loss is the label autoencoder's: y -> Fe -> Fd (Fx only meets the latent
        # loss), summed over the batch like the latent loss.
        out = torch.sigmoid(net.fd(z_y))
        rank = losses.c2ae_ranking_loss(out, yb, hp["rank_scale"], reduction="none").sum()
        B = xb.shape[0]
        # Divided by B so that the loss (and the weight decay's relative strength) does not
        # scale with the batch size; Adam is otherwise invariant to a constant loss scale.
        loss = (latent + hp["alpha"] * rank) / B
        return loss, {"latent": latent / B, "rank": rank / B}
