"""MulSupConLD: MulSupCon with label distributions recovered from the logical labels.

Chen, Lyu, Wu, Wang & Tang, "Improving Multi-Label Contrastive Learning by Leveraging Label
Distribution", arXiv:2501.19145 (2025). Registered ids: ``mulsupconld-rld`` (RBF-based recovery)
and ``mulsupconld-cld`` (contrastive-loss-based recovery).

Only a summary of the paper is available and no code exists, so everything below the level of
that summary is our design. Each choice is listed in docs/methods-contrastive.md
(## MulSupConLD) and marked ``[LD-n]`` here; every one is a hyperparameter or one short
function, so it is easy to change.

What the summary fixes: MoCo-style pretraining with a queue that also keeps label
distributions; positives by label overlap ("any"); distributions recovered from the logical
labels by an RBF-based (RLD) or a contrastive-loss-based (CLD) module, constrained to be similar
among positives and aligned with the logical labels, with a Frobenius-norm regulariser (β) on the
recovery weights, an α-weighted constraint, σ = 0.01 for the RBF; distributions sum to 1; a
distribution-weighted contrastive loss; then BCE fine-tuning.

Our design:

* [LD-1] Recovery module: d_i = softmax(W h_i + b) over all L labels, h_i = the query
  encoder's backbone representation of the (masked) query view, detached (``ld_detach``) so
  the recovery terms train W only and representation learning is driven by the contrastive loss
  alone. The module lives in the pretrainer (checkpointed) and is discarded with the projection
  head.
* [LD-2] Recovery loss L_rec = L_sim + α L_align + β ||W||_F^2:
  L_align = ||D - Y/|y| ||_F^2 per sample (``ld_alignment_loss``); L_sim is the "similar among
  positives" term over the ANY positives in [batch | queue], the anchor's own entry excluded:
  RLD: sum_a k_ia ||d_i - d_a||^2 with RBF weights k_ia ∝ exp(-||z_i - z_a||^2 / 2σ^2) on the
  L2-normalised embeddings, normalised over the positives (``rbf_smoothness_loss``, σ =
  ``ld_sigma``); CLD: SupCon on the L2-normalised distributions, temperature
  ``ld_temperature`` (``distribution_contrastive_loss``).
* [LD-3] Distribution-weighted contrastive loss: MulSupCon's (anchor, label) rows
  (:func:`~mlbench.methods.losses.contrastive.mulsupcon_loss`) with (a) row weights ω_ij = |y_i| d_ij /
  sum_{l in y_i} d_il: the anchor's weight |y_i| of Eq. 5 redistributed over its labels by its
  recovered distribution (``ld_weight_anchors``), and (b) each positive p of label j counted
  with its degree d_pj (``ld_weight_positives``). Uniform distributions give MulSupCon exactly
  (with (b) off). The union of the per-label positive sets is the ANY set. The weights are
  detached: the encoder cannot lower its loss by moving the weights.
* [LD-4] Total pretraining loss = L_con + ``ld_loss_weight`` x L_rec, one optimiser (W without
  weight decay: β is its regulariser).
* [LD-5] Schedules: the MulSupCon presets (paper: 150 pretraining epochs on vector data), not the
  summary's 400 + 100 (image data), so that MulSupCon and MulSupConLD are compared like for like.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mlbench.errors import MlbenchError
from mlbench.methods.base import register_variant
from mlbench.methods.losses.contrastive import (
    distribution_contrastive_loss,
    ld_alignment_loss,
    mulsupcon_loss,
    positive_mask,
    rbf_smoothness_loss,
)
from mlbench.methods.mulsupcon import MoCoPretrainer, MulSupConMethod, projection_head
from mlbench.methods.neural import adam


class MulSupConLDMethod(MulSupConMethod):
    """Base of the two registered variants (``ld`` pinned to 'rld' or 'cld')."""

    id = "mulsupconld"
    display_name = "MulSupConLD"
    citation = (
        "Chen et al., Improving Multi-Label Contrastive Learning by Leveraging Label "
        "Distribution, arXiv:2501.19145, 2025"
    )
    params = {
        **{k: v for k, v in MulSupConMethod.params.items() if k != "pattern"},
        "ld": "cld",  # 'rld' | 'cld' (pinned by the registered variants)
        "ld_alpha": 1.0,  # weight of the alignment with the logical labels   [LD-2]
        "ld_beta": 1e-3,  # Frobenius regularisation of W                     [LD-2]
        "ld_sigma": 0.01,  # RBF width (RLD), on L2-normalised embeddings     [LD-2]
        "ld_temperature": 0.1,  # temperature of the CLD distribution SupCon  [LD-2]
        "ld_loss_weight": 1.0,  # L_con + this x L_rec                        [LD-4]
        "ld_weight_anchors": True,  # distribution-weighted (anchor, label) rows [LD-3]
        "ld_weight_positives": True,  # positives weighted by their degree    [LD-3]
        "ld_detach": True,  # recover from detached representations           [LD-1]
    }
    dataset_params = MulSupConMethod.dataset_params

    def build_pretrainer(self) -> MoCoPretrainer:
        hp = self.hparams
        rep = self.rep_dim(self.n_features_)
        head = projection_head(rep, hp["proj_dim"], hp["proj_dropout"])
        pre = MoCoPretrainer(
            self.module_.backbone, head, self.n_labels_, hp["queue_size"], hp["momentum"], store_distributions=True
        )
        pre.ld_head = nn.Linear(rep, self.n_labels_)  # [LD-1] W, b
        return pre.to(self.device_)

    def configure_pretrain_optimizer(self, pre: MoCoPretrainer) -> torch.optim.Optimizer:
        hp = self.hparams
        ld = set(map(id, pre.ld_head.parameters()))
        rest = [p for p in pre.parameters() if p.requires_grad and id(p) not in ld]
        return adam(
            [{"params": rest}, {"params": list(pre.ld_head.parameters()), "weight_decay": 0.0}],
            lr=hp["pretrain_lr"],
            weight_decay=hp["pretrain_weight_decay"],
        )

    def contrastive_objective(self, module, h, q, k, yb, queue):
        hp = self.hparams
        qz, qy, qd = queue
        feats = h.detach() if hp["ld_detach"] else h
        d = torch.softmax(module.ld_head(feats), dim=1)  # [LD-1]
        d_const = d.detach()
        ref_z, ref_y = torch.cat([k, qz]), torch.cat([yb, qy])
        ref_d = torch.cat([d_const, qd])

        # [LD-3] distribution-weighted MulSupCon loss.
        anchor_w = ref_w = None
        if hp["ld_weight_anchors"]:
            on_labels = d_const * yb
            anchor_w = on_labels / on_labels.sum(1, keepdim=True).clamp(min=1e-12)
            anchor_w = anchor_w * yb.sum(1, keepdim=True)
        if hp["ld_weight_positives"]:
            ref_w = ref_d
        sim = q @ ref_z.T
        con, rows = mulsupcon_loss(
            sim, yb, ref_y, hp["temperature"], weighted=hp["weighted"], anchor_weight=anchor_w, ref_weight=ref_w
        )

        # [LD-2] recovery: similar among (ANY) positives, aligned, Frobenius.
        b = yb.shape[0]
        own = torch.zeros(b, ref_y.shape[0], dtype=torch.bool, device=yb.device)
        own[:, :b] = torch.eye(b, dtype=torch.bool, device=yb.device)
        pos = positive_mask(yb, ref_y, "any") & ~own
        if hp["ld"] == "rld":
            similar = rbf_smoothness_loss(d, ref_d, q.detach(), ref_z, pos, hp["ld_sigma"])
        elif hp["ld"] == "cld":
            similar = distribution_contrastive_loss(d, ref_d, pos, hp["ld_temperature"], own)
        else:
            raise MlbenchError(f"parameter 'ld' must be 'rld' or 'cld', got {hp['ld']!r}.")
        align = ld_alignment_loss(d, yb)
        frob = module.ld_head.weight.pow(2).sum()
        rec = similar + hp["ld_alpha"] * align + hp["ld_beta"] * frob
        loss = con + hp["ld_loss_weight"] * rec
        parts: dict[str, Any] = {
            "contrastive": con.detach(),
            "ld_similar": similar.detach(),
            "ld_align": align.detach(),
            "ld_frob": frob.detach(),
            "rows": rows.float() / max(b, 1),
        }
        return loss, parts, d_const


register_variant(MulSupConLDMethod, "mulsupconld-rld", "MulSupConRLD", ld="rld")
register_variant(MulSupConLDMethod, "mulsupconld-cld", "MulSupConCLD", ld="cld")
