"""MulSupCon: multi-label supervised contrastive pretraining, then a linear classifier.

Zhang & Wu, "Multi-Label Supervised Contrastive Learning", AAAI 2024. Registered ids:

* ``mulsupcon``: the proposed positive sets, one per (anchor, label) pair (paper Eq. 4-5);
* ``mulsupcon-all`` / ``mulsupcon-any``: the ALL (exact label-set match) and ANY (at least one
  shared label) positive sets the paper compares against (Figure 1, Table 5).

Recipe (two stages, :meth:`MulSupConMethod.train_stages`):

1. **Pretraining** (MoCo, He et al. 2020): a query encoder (the C-GMVAE feature-encoder MLP as
   backbone + a projection head), a key encoder updated as an exponential moving average of it,
   and a queue of past keys *with their label vectors*. Each batch is masked twice (each
   standardised input element zeroed with probability ``mask_prob``: the paper's vector-data
   augmentation), the query view is encoded by the query encoder and the key view by the key
   encoder, and the contrastive loss of :mod:`mlbench.methods.losses.contrastive` is computed between the
   queries and [the batch's keys | the queue]. ``weighted=true`` adds the 1/|y| per-sample weight
   of Eq. 6 (the paper's ablation, Table 8).
2. **Classification**: the projection head and the key encoder are dropped; a fresh
   Linear(256, L) on the pretrained backbone is trained with BCE, either fine-tuning everything
   (``probe=finetune``: backbone lr = ``backbone_lr_mult`` x head lr) or as a linear probe
   (``probe=linear``: the backbone frozen, in eval mode). The epoch with the lowest validation
   BCE is kept (``finetune_select=loss``, as the official code) and the lr is cut by 10 on a
   plateau.

Presets (``--set preset=paper|official``; docs/methods-contrastive.md lists every difference).
Hyperparameters whose default is -1 (numbers) or "" (strings) take the preset's value; setting
them explicitly wins over the preset.

* ``paper`` (default): the paper's vector-data settings: 150 epochs, Adam 4e-4, a cosine
  schedule, batch 256 (32 for yeast and scene, via ``paper_batch_size`` in ``dataset_params``),
  an epoch = one pass over the training set. What the paper does not state (queue 256, momentum
  0.999, τ 0.1, projection head, dropout 0.2, weight decay 1e-5, fine-tuning length) comes from the
  official yeast configuration.
* ``official``: the official code's yeast configuration: batch 64, an "epoch" of 1000 iterations
  (150k iterations in all), cosine with warm restarts (T_0 50, T_mult 2, min lr 1e-4); fine-tuning
  30 "epochs" of 50 iterations with batch 32.

Mutable state (the key encoder, the queue and its labels, its write pointer) lives in module
buffers, so checkpoints and resume are exact (see :mod:`mlbench.methods.neural`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlbench.errors import MlbenchError
from mlbench.io import atomic_write_json
from mlbench.methods.base import register_method, register_variant
from mlbench.methods.layers import Dropout
from mlbench.methods.losses.contrastive import PATTERNS, multilabel_contrastive_loss
from mlbench.methods.mlp import feature_encoder
from mlbench.methods.neural import NeuralMethod, adam

#: Sentinels of hyperparameters taken from the preset.
FROM_PRESET_NUMBER = -1
FROM_PRESET_STR = ""

#: preset -> {hyperparameter: value, or a function of the other hyperparameters}.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "pretrain_batch_size": lambda hp: hp["paper_batch_size"],
        "pretrain_iters": 0,  # 0 = one pass over the training set per epoch
        "pretrain_schedule": "cosine",
        "pretrain_min_lr": 0.0,
        "batch_size": lambda hp: hp["paper_batch_size"],
        "finetune_iters": 0,
    },
    "official": {
        "pretrain_batch_size": 64,
        "pretrain_iters": 1000,
        "pretrain_schedule": "cosine-restarts",
        "pretrain_min_lr": 1e-4,
        "batch_size": 32,
        "finetune_iters": 50,
    },
}

SCHEDULES = ("cosine", "cosine-restarts", "constant")


def mask_features(x: torch.Tensor, p: float) -> torch.Tensor:
    """Vector-data augmentation: zero each element independently with probability ``p``.

    Inputs are standardised, so a masked element takes the training mean. No 1/(1-p) rescaling
    (the official code does none). Randomness from torch's global RNG (checkpointed).
    """
    if p <= 0:
        return x
    keep = torch.rand(x.shape, device=x.device) >= p
    return x * keep


def projection_head(n_in: int, n_out: int, dropout: float = 0.1) -> nn.Sequential:
    """The official MoCo projection head: Linear -> BatchNorm -> ReLU -> Dropout -> Linear.

    Hidden width n_in // 2 when n_in >= 2 n_out, else n_out (256 for the vector backbone).
    """
    hidden = n_in // 2 if n_in >= 2 * n_out else n_out
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        Dropout(dropout),
        nn.Linear(hidden, n_out),
    )


class Classifier(nn.Module):
    """Backbone + linear head. With ``frozen`` (linear probe) the backbone stays in eval mode
    (no dropout) even while the head trains, and gets no gradients."""

    def __init__(self, backbone: nn.Module, rep_dim: int, n_labels: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(rep_dim, n_labels)
        self.frozen = False

    def set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        for p in self.backbone.parameters():
            p.requires_grad_(not frozen)

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class MoCoPretrainer(nn.Module):
    """Query encoder, momentum key encoder and a ring-buffer queue of keys with their labels.

    ``backbone`` is shared with the :class:`Classifier` (pretraining trains it in place). The key
    encoder is a copy with ``requires_grad`` off, in the same train/eval mode as the query encoder
    (dropout and BatchNorm active, no shuffle-BN), like the official code. With
    ``store_distributions`` the queue also keeps one (L,) label distribution per key
    (MulSupConLD).
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        n_labels: int,
        queue_size: int,
        momentum: float,
        store_distributions: bool = False,
    ) -> None:
        super().__init__()
        if queue_size < 0:
            raise MlbenchError(f"queue_size must be >= 0, got {queue_size}.")
        self.backbone = backbone
        self.head = head
        self.key_backbone = copy.deepcopy(backbone)
        self.key_head = copy.deepcopy(head)
        for p in self._key_params():
            p.requires_grad_(False)
        self.momentum = float(momentum)
        out_dim = _out_features(head)
        # Only the first `queue_len` rows are valid (the ring fills from row 0), so the initial
        # contents never enter a loss; the official code starts with random keys and waits until
        # the queue is full, which only changes the first queue_size / batch iterations.
        self.register_buffer("queue_z", torch.zeros(queue_size, out_dim))
        self.register_buffer("queue_y", torch.zeros(queue_size, n_labels))
        n_dist = n_labels if store_distributions else 0
        self.register_buffer("queue_d", torch.zeros(queue_size, n_dist))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("queue_len", torch.zeros((), dtype=torch.long))

    def _query_params(self) -> list[nn.Parameter]:
        return [*self.backbone.parameters(), *self.head.parameters()]

    def _key_params(self) -> list[nn.Parameter]:
        return [*self.key_backbone.parameters(), *self.key_head.parameters()]

    def query(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(backbone representation, L2-normalised projection) of the query encoder."""
        h = self.backbone(x)
        return h, F.normalize(self.head(h), dim=1)

    @torch.no_grad()
    def key(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.key_head(self.key_backbone(x)), dim=1)

    @torch.no_grad()
    def momentum_update(self) -> None:
        """θ_k <- m θ_k + (1 - m) θ_q, parameters only (the key BatchNorm keeps its own running
        statistics, which are never used: the key encoder only runs in training)."""
        m = self.momentum
        for q, k in zip(self._query_params(), self._key_params()):
            k.mul_(m).add_(q.detach(), alpha=1.0 - m)

    def queue(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Copies of the valid (keys, labels, distributions) rows, oldest slot order."""
        n = int(self.queue_len)
        return self.queue_z[:n].clone(), self.queue_y[:n].clone(), self.queue_d[:n].clone()

    @torch.no_grad()
    def enqueue(self, z: torch.Tensor, y: torch.Tensor, d: torch.Tensor | None = None) -> None:
        """Write a batch at the pointer, overwriting the oldest rows (wrapping around); a batch
        larger than the queue keeps its last ``queue_size`` rows."""
        size = self.queue_z.shape[0]
        if size == 0:
            return
        if z.shape[0] > size:
            z, y = z[-size:], y[-size:]
            d = d[-size:] if d is not None else None
        idx = (self.queue_ptr + torch.arange(z.shape[0], device=z.device)) % size
        self.queue_z[idx] = z.detach().to(self.queue_z.dtype)
        self.queue_y[idx] = y.detach().to(self.queue_y.dtype)
        if d is not None and self.queue_d.shape[1]:
            self.queue_d[idx] = d.detach().to(self.queue_d.dtype)
        self.queue_ptr.copy_((self.queue_ptr + z.shape[0]) % size)
        self.queue_len.copy_(torch.clamp(self.queue_len + z.shape[0], max=size))


def _out_features(module: nn.Module) -> int:
    last = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    return last.out_features


@register_method
class MulSupConMethod(NeuralMethod):
    """MoCo pretraining with the multi-label supervised contrastive loss, then BCE."""

    id = "mulsupcon"
    display_name = "MulSupCon"
    citation = "Zhang & Wu, Multi-Label Supervised Contrastive Learning, AAAI 2024"
    params = {
        **NeuralMethod.params,
        "preset": "paper",  # 'paper' | 'official': fills the -1 / "" hyperparameters below
        # -- networks (official vector configuration)
        "hidden": [256, 512, 256],
        "dropout": 0.2,
        "proj_dim": 256,
        "proj_dropout": 0.1,
        # -- pretraining
        "pattern": "mulsupcon",  # 'mulsupcon' | 'all' | 'any'
        "weighted": False,  # Eq. 6: extra 1/|y| per-sample weight (ablation, Table 8)
        "temperature": 0.1,
        "queue_size": 256,
        "momentum": 0.999,
        "mask_prob": 0.5,
        "pretrain_epochs": 150,  # 0 skips pretraining (a BCE baseline with the same recipe)
        "pretrain_lr": 4e-4,
        "pretrain_weight_decay": 1e-5,
        "pretrain_batch_size": FROM_PRESET_NUMBER,
        "pretrain_iters": FROM_PRESET_NUMBER,  # iterations per epoch; 0 = one pass
        "pretrain_schedule": FROM_PRESET_STR,  # 'cosine' | 'cosine-restarts' | 'constant'
        "pretrain_min_lr": float(FROM_PRESET_NUMBER),
        "pretrain_restart_epochs": 50,  # T_0 of 'cosine-restarts' (T_mult 2)
        "pretrain_select": "train_loss",  # 'train_loss' (official) | 'last'
        "paper_batch_size": 256,  # the paper preset's batch size (32 for yeast, scene)
        # -- classification (fine-tuning or linear probe)
        "probe": "finetune",  # 'finetune' | 'linear'
        "epochs": 30,
        "batch_size": FROM_PRESET_NUMBER,
        "finetune_iters": FROM_PRESET_NUMBER,  # iterations per epoch; 0 = one pass
        "lr": 4e-4,  # head lr
        "backbone_lr_mult": 0.1,  # backbone lr = lr x this when fine-tuning
        "weight_decay": 0.0,
        "finetune_select": "loss",  # 'loss' (best val BCE, official) | 'metric' (selection_metric)
        "plateau_factor": 0.1,
        "plateau_patience": 2,
        "early_stopping": 0,  # patience in epochs, applies to every stage that selects
    }
    param_ranges = {
        "hidden": ">= 1",
        "proj_dim": ">= 1",
        "proj_dropout": "[0, 1)",
        "temperature": "> 0",
        "queue_size": ">= 1",
        "momentum": "[0, 1]",
        "mask_prob": "[0, 1)",
        "pretrain_epochs": ">= 0",
        "pretrain_lr": ">= 0",
        "pretrain_weight_decay": ">= 0",
        "pretrain_batch_size": "-1 or >= 1",
        "pretrain_iters": "-1 or >= 0",
        "pretrain_min_lr": "-1 or >= 0",
        "pretrain_restart_epochs": ">= 1",
        "paper_batch_size": ">= 1",
        "batch_size": "-1 or >= 1",
        "finetune_iters": "-1 or >= 0",
        "backbone_lr_mult": ">= 0",
        "plateau_factor": "(0, 1)",
        "plateau_patience": ">= 0",
    }
    dataset_params = {
        "yeast": {"paper_batch_size": 32},
        "scene": {"paper_batch_size": 32},
    }
    test_params = {
        "epochs": 1,
        "pretrain_epochs": 1,
        "hidden": [8],
        "proj_dim": 4,
        "queue_size": 8,
        "paper_batch_size": 16,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._unresolved = dict(self.hparams)
        self.hparams = resolve_preset(self.hparams)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return dict(self._unresolved)  # what was asked for; clone re-resolves the preset

    def set_params(self, **params: Any) -> MulSupConMethod:
        # Validated (a fixed parameter may only be restated) before anything changes.
        self.__init__(**{**self._unresolved, **params})
        return self

    # -- networks ------------------------------------------------------------------------------
    def rep_dim(self, n_features: int) -> int:
        hidden = self.hparams["hidden"]
        return int(hidden[-1]) if hidden else n_features

    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        backbone = feature_encoder(n_features, self.hparams["hidden"], self.hparams["dropout"])
        return Classifier(backbone, self.rep_dim(n_features), n_labels)

    def build_pretrainer(self) -> MoCoPretrainer:
        """The MoCo module around ``self.module_.backbone`` (shared, trained in place)."""
        hp = self.hparams
        head = projection_head(self.rep_dim(self.n_features_), hp["proj_dim"], hp["proj_dropout"])
        return MoCoPretrainer(self.module_.backbone, head, self.n_labels_, hp["queue_size"], hp["momentum"]).to(
            self.device_
        )

    # -- training recipe -----------------------------------------------------------------------
    def train_stages(self) -> None:
        hp = self.hparams
        self._check_mulsupcon_hparams()
        if self.context_.run_dir is not None:
            # config.json holds the unresolved values (-1 = from preset); keep what ran.
            atomic_write_json(Path(self.context_.run_dir) / "resolved_params.json", hp)
        if hp["pretrain_epochs"] > 0:
            pre = self.build_pretrainer()
            self.pretrainer_ = pre
            optimizer = self.configure_pretrain_optimizer(pre)
            self._batching = (hp["pretrain_iters"], True)  # full batches: BatchNorm, queue
            self.run_stage(
                "pretrain",
                pre,
                epochs=hp["pretrain_epochs"],
                loss_fn=self.pretrain_loss,
                optimizer=optimizer,
                scheduler=self.configure_pretrain_scheduler(optimizer, hp["pretrain_epochs"]),
                select="train_loss" if hp["pretrain_select"] == "train_loss" else None,
                batch_size=hp["pretrain_batch_size"],
            )
        self.module_.set_frozen(hp["probe"] == "linear")
        self._batching = (hp["finetune_iters"], False)
        optimizer = self.configure_optimizer(self.module_)
        self.run_stage(
            "finetune",
            self.module_,
            epochs=hp["epochs"],
            optimizer=optimizer,
            scheduler=self.configure_scheduler(optimizer, hp["epochs"]),
            select="val",
            batch_size=hp["batch_size"],
        )

    def epoch_batches(self, n: int, bs: int) -> Sequence[torch.Tensor]:
        """One pass (``iters`` 0) or ``iters`` batches drawn from back-to-back permutations (the
        official infinite sampler; unlike it, each epoch starts a fresh permutation)."""
        iters, drop_last = getattr(self, "_batching", (0, False))
        if iters <= 0:
            perm = torch.randperm(n, generator=self.generator_)
            stop = n - n % bs if drop_last and n >= bs else n
            return perm[:stop].to(self.device_).split(bs)
        need = iters * bs
        perms = [torch.randperm(n, generator=self.generator_) for _ in range(-(-need // n))]
        return torch.cat(perms)[:need].to(self.device_).split(bs)

    # -- pretraining ---------------------------------------------------------------------------
    def configure_pretrain_optimizer(self, pre: MoCoPretrainer) -> torch.optim.Optimizer:
        hp = self.hparams
        params = [p for p in pre.parameters() if p.requires_grad]
        return adam(params, lr=hp["pretrain_lr"], weight_decay=hp["pretrain_weight_decay"])

    def configure_pretrain_scheduler(self, optimizer: torch.optim.Optimizer, epochs: int) -> Any:
        hp = self.hparams
        schedule = hp["pretrain_schedule"]
        if schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=hp["pretrain_min_lr"])
        if schedule == "cosine-restarts":
            return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                optimizer, T_0=hp["pretrain_restart_epochs"], T_mult=2, eta_min=hp["pretrain_min_lr"]
            )
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)

    def pretrain_loss(
        self, module: MoCoPretrainer, xb: torch.Tensor, yb: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """One MoCo step: momentum update (training only, before the forward, as officially),
        two masked views, the contrastive loss against [batch keys | queue], then enqueue."""
        training = module.training
        if training:
            module.momentum_update()
        p = self.hparams["mask_prob"]
        h, q = module.query(mask_features(xb, p))
        k = module.key(mask_features(xb, p))
        queue = module.queue()  # snapshot before this batch is enqueued: no self-duplicates
        loss, parts, d = self.contrastive_objective(module, h, q, k, yb, queue)
        if training:
            module.enqueue(k, yb, d)
        return loss, parts

    def contrastive_objective(
        self,
        module: MoCoPretrainer,
        h: torch.Tensor,
        q: torch.Tensor,
        k: torch.Tensor,
        yb: torch.Tensor,
        queue: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor | None]:
        """(loss, logged parts, per-sample label distributions to enqueue or None)."""
        hp = self.hparams
        qz, qy, _ = queue
        sim = q @ torch.cat([k, qz]).T
        loss, rows = multilabel_contrastive_loss(
            sim, yb, torch.cat([yb, qy]), hp["temperature"], hp["pattern"], weighted=hp["weighted"]
        )
        return loss, {"rows": rows.float() / max(len(yb), 1)}, None

    # -- classification ------------------------------------------------------------------------
    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        return F.binary_cross_entropy_with_logits(module(xb), yb), {}

    def configure_optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        hp = self.hparams
        groups = [{"params": list(module.head.parameters()), "lr": hp["lr"]}]
        if not module.frozen:
            groups.append({"params": list(module.backbone.parameters()), "lr": hp["lr"] * hp["backbone_lr_mult"]})
        return adam(groups, lr=hp["lr"], weight_decay=hp["weight_decay"])

    def configure_scheduler(self, optimizer: torch.optim.Optimizer, epochs: int) -> Any:
        hp = self.hparams
        metric = hp["selection_metric"]
        from mlbench.metrics import get_metric

        higher = self.val_ is not None and metric != "loss" and get_metric(metric).higher_is_better
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max" if higher else "min",
            factor=hp["plateau_factor"],
            patience=hp["plateau_patience"],
            cooldown=1,
            threshold=1e-3,
        )

    # -- checks --------------------------------------------------------------------------------
    def _check_mulsupcon_hparams(self) -> None:
        hp = self.hparams
        checks = [
            ("pattern", hp.get("pattern", "mulsupcon") in PATTERNS, ", ".join(PATTERNS)),
            ("probe", hp["probe"] in ("finetune", "linear"), "finetune, linear"),
            ("pretrain_schedule", hp["pretrain_schedule"] in SCHEDULES, ", ".join(SCHEDULES)),
            ("pretrain_select", hp["pretrain_select"] in ("train_loss", "last"), "train_loss, last"),
            ("finetune_select", hp["finetune_select"] in ("loss", "metric"), "loss, metric"),
            ("mask_prob", 0.0 <= hp["mask_prob"] < 1.0, "a number in [0, 1)"),
            ("momentum", 0.0 <= hp["momentum"] <= 1.0, "a number in [0, 1]"),
            ("temperature", hp["temperature"] > 0, "a positive number"),
            ("pretrain_batch_size", hp["pretrain_batch_size"] >= 2, "an integer >= 2"),
            ("pretrain_iters", hp["pretrain_iters"] >= 0, "an integer >= 0"),
            ("finetune_iters", hp["finetune_iters"] >= 0, "an integer >= 0"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise MlbenchError(f"parameter {key!r} of {self.id!r} must be {expected}, got {hp.get(key)!r}.")


def resolve_preset(hparams: dict[str, Any]) -> dict[str, Any]:
    """``hparams`` with every preset-governed value still at its sentinel (-1 or "") replaced by
    the value of ``hparams['preset']``; explicit values are kept. ``finetune_select='loss'``
    turns the stage's selection metric into the validation loss (``selection_metric`` itself is
    still what the runner's ``val`` protocol uses to choose its threshold)."""
    preset = hparams["preset"]
    if preset not in PRESETS:
        raise MlbenchError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}.")
    out = dict(hparams)
    for key, value in PRESETS[preset].items():
        if key in out and out[key] in (FROM_PRESET_NUMBER, FROM_PRESET_STR):
            out[key] = value(out) if callable(value) else value
    if out.get("finetune_select") == "loss":
        out["selection_metric"] = "loss"
    return out


register_variant(MulSupConMethod, "mulsupcon-all", "MulSupCon (ALL)", pattern="all")
register_variant(MulSupConMethod, "mulsupcon-any", "MulSupCon (ANY)", pattern="any")
