"""``bce``: the plain neural baseline, and the feature encoder the neural methods share.

The encoder is the C-GMVAE / MPVAE feature encoder ``fx`` (F -> 256 -> 512 -> 256, each Linear
followed by ReLU and Dropout), which MulSupCon also copies as its vector backbone
(official-implementations §2.1, §2.3). ``bce`` puts one Linear(256, L) on top and trains it with
BCEWithLogits: it is what every representation-learning method must beat.

Defaults: Adam lr 1e-3 (the C-GMVAE default), batch 128, 100 epochs, dropout 0.5 (C-GMVAE's
value; MulSupCon uses 0.2), weight decay 1e-5 (C-GMVAE's hard-coded Adam weight decay),
inputs standardised with the training statistics (as MulSupCon does), the epoch with the best
validation macro-F1 (best threshold on validation) kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mlbench.methods.base import register_method
from mlbench.methods.layers import Dropout
from mlbench.methods.neural import NeuralMethod


def feature_encoder(n_features: int, hidden: Sequence[int] = (256, 512, 256), dropout: float = 0.5) -> nn.Sequential:
    """[Linear -> ReLU -> Dropout] per width in ``hidden``; output width ``hidden[-1]``."""
    layers: list[nn.Module] = []
    width = n_features
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU(), Dropout(dropout)]
        width = int(h)
    return nn.Sequential(*layers)


@register_method
class BCEMethod(NeuralMethod):
    """Feature-encoder MLP + linear classifier trained with binary cross-entropy."""

    id = "bce"
    display_name = "BCE"
    citation = "MLP baseline with the C-GMVAE feature encoder (Bai et al., ICML 2022)"
    params = {**NeuralMethod.params, "weight_decay": 1e-5, "hidden": [256, 512, 256]}
    param_ranges = {"hidden": ">= 1"}
    test_params = {**NeuralMethod.test_params, "hidden": [8]}

    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        hidden = self.hparams["hidden"]
        return nn.Sequential(
            feature_encoder(n_features, hidden, self.hparams["dropout"]),
            nn.Linear(int(hidden[-1]) if hidden else n_features, n_labels),
        )

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        return F.binary_cross_entropy_with_logits(module(xb), yb), {}
