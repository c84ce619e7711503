"""``asl``: the Asymmetric Loss (Ridnik et al., "Asymmetric Loss for Multi-Label
Classification", ICCV 2021) on the BCE baseline's network.

Same MLP, optimiser, epochs and model selection as ``bce`` (:mod:`mlbench.methods.mlp`); only
the loss changes, to ``losses_contrastive.asymmetric_loss`` with the paper's defaults
gamma+ = 0, gamma- = 4 and probability margin (``clip``) 0.05. Negatives are down-weighted by
p_m^4 and those with p <= 0.05 are discarded, which counters the positive/negative imbalance
of many-label data. The loss is averaged over entries (the official code sums), so the
baseline's lr carries over unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from mlbench.methods.base import register_method
from mlbench.methods.losses.contrastive import asymmetric_loss
from mlbench.methods.mlp import BCEMethod


@register_method
class ASLMethod(BCEMethod):
    """The ``bce`` MLP trained with the asymmetric loss."""

    id = "asl"
    display_name = "ASL"
    citation = (
        "Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Giryes, Zelnik-Manor. Asymmetric Loss for "
        "Multi-Label Classification. ICCV 2021"
    )
    params = {
        **BCEMethod.params,
        "gamma_pos": 0.0,
        "gamma_neg": 4.0,
        "clip": 0.05,  # probability margin m
        "eps": 1e-8,  # log clamp, as the official AsymmetricLoss
    }
    param_ranges = {"gamma_pos": ">= 0", "gamma_neg": ">= 0", "clip": "[0, 1)", "eps": "> 0"}

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        hp = self.hparams
        loss = asymmetric_loss(
            module(xb),
            yb,
            gamma_pos=hp["gamma_pos"],
            gamma_neg=hp["gamma_neg"],
            clip=hp["clip"],
            eps=hp["eps"],
        )
        return loss, {}
