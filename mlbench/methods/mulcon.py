"""``mulcon``: MulCon (Dao et al., "Contrastively enforcing distinctiveness for multi-label
classification", ICLR 2022 submission), adapted to vector data, and its Table 3 ablations.

The official code (SonDaoDuy/MulCon) is image-only: ResNet-101 feature-map tokens, attention
from L learned label queries, one embedding per label. Here (docs/methods-contrastive.md):

* **Tokens.** The BCE baseline's feature encoder (``mlp.feature_encoder``: F -> 256 -> 512 ->
  256) followed by one Linear(256, T*d) whose output is read as T feature tokens of width d
  (defaults T = 16, d = 64): the vector analogue of the HW positions of a feature map.
* **Label-level embedding network** (paper Eq. 6): r = SA(r); g = MultiAttBlock(U, r, r);
  g = SA(g), with U (L x d) learned label queries (Xavier init) and the Set-Transformer MAB of
  Eq. 3 (4 heads, LayerNorm). g holds one d-dim embedding per label and sample.
* **Classifiers**: one Linear(d, 1) per label (stored as an L x d matrix, applied at once);
  **projector**: Linear(d, d) -> ReLU -> Linear(d, proj_dim), L2-normalised.
* **Loss**: BCE (mean over entries, as the official sum/(B*L)) + llcl_weight * LLCL
  (``losses_contrastive.label_level_contrastive_loss``, tau = 0.2) on the projected embeddings
  of the active (sample, label) pairs only.
* **Training** (``schedule``): ``two-stage`` = MulCon: ``epochs`` of BCE (Adam, lr), keep the
  best epoch on validation, then ``finetune_epochs`` of BCE + LLCL with the encoder and
  attention at ``finetune_lr`` (10x lower) and the classifiers and projector at
  ``finetune_head_lr`` (as the official per-group lrs);
  ``bce-only`` = stage 1 alone (Table 3 "LLEN + BCE"); ``joint`` = BCE + LLCL from the start
  for ``epochs`` (Table 3 "LLEN + BCE + LLCL").

Deviations, because the official recipe is built around images: Adam in both stages (paper:
AdamW + 1-cycle, then SGD 0.01 with step decay) at the BCE baseline's lr; no EMA of the weights; no augmented second view (vector data has no natural
augmentation), so a label with one positive in the batch gives its anchor no positive and a
zero term, as in the official loss. The label self-attention is O(L^2) per sample; it runs
through ``scaled_dot_product_attention`` (memory-efficient kernels, no L x L matrix stored), and
``label_attention=induced`` (ISAB, Lee et al. 2019) or ``none`` trades it off for many labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlbench.errors import MlbenchError
from mlbench.methods.base import register_method, register_variant
from mlbench.methods.losses.contrastive import label_level_contrastive_loss
from mlbench.methods.mlp import BCEMethod, feature_encoder
from mlbench.methods.neural import NeuralMethod, adam

SCHEDULES = ("two-stage", "bce-only", "joint")
LABEL_ATTENTION = ("full", "induced", "none")
EVAL_ACTIVATION_BUDGET = 2**24  # floats per (rows, L, d) activation at evaluation (64 MiB)


class AttentionBlock(nn.Module):
    """MultiAttBlock(Q, K, V) of paper Eq. 3, i.e. the Set Transformer MAB that the official
    code uses: H = LN(Q W_q + MultiAtt(Q, K, V)); out = LN(H + ReLU(H W_o))."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.ln0, self.ln1 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def _split(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        # (b, n, d) -> (batch, heads, n, d / heads); b may be 1 (shared queries), broadcast.
        b, n, d = t.shape
        return t.view(b, n, self.heads, d // self.heads).transpose(1, 2).expand(batch, -1, -1, -1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        batch = keys.shape[0]
        q = self.q(query)
        # SDPA picks a fused kernel that never stores the (n_q x n_k) attention matrix: this is
        # what keeps the L x L label self-attention affordable for hundreds of labels.
        k, v = self._split(self.k(keys), batch), self._split(self.v(keys), batch)
        att = F.scaled_dot_product_attention(self._split(q, batch), k, v)
        h = self.ln0(q + att.transpose(1, 2).reshape(batch, -1, q.shape[-1]))
        return self.ln1(h + F.relu(self.o(h)))


class SelfAttention(nn.Module):
    """SA(X) = MultiAttBlock(X, X, X) (Eq. 4)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.block = AttentionBlock(dim, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x, x)


class InducedSelfAttention(nn.Module):
    """ISAB (Lee et al., 2019): self-attention routed through m learned inducing points,
    O(n m) instead of O(n^2); an option for label sets too large for full self-attention."""

    def __init__(self, dim: int, heads: int, n_inducing: int) -> None:
        super().__init__()
        self.inducing = nn.Parameter(torch.empty(1, n_inducing, dim))
        nn.init.xavier_uniform_(self.inducing)
        self.gather, self.scatter = AttentionBlock(dim, heads), AttentionBlock(dim, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scatter(x, self.gather(self.inducing, x))


class MulConNet(nn.Module):
    """Feature tokens -> label-level embeddings g (B, L, d) -> per-label logits / projections."""

    def __init__(
        self,
        n_features: int,
        n_labels: int,
        *,
        hidden,
        dropout: float,
        n_tokens: int,
        dim: int,
        heads: int,
        token_blocks: int,
        label_attention: str,
        n_inducing: int,
        proj_dim: int,
    ) -> None:
        super().__init__()
        self.n_tokens, self.dim = n_tokens, dim
        self.encoder = feature_encoder(n_features, hidden, dropout)
        width = int(hidden[-1]) if hidden else n_features
        self.to_tokens = nn.Linear(width, n_tokens * dim)
        self.token_sa = nn.Sequential(*(SelfAttention(dim, heads) for _ in range(token_blocks)))
        self.label_queries = nn.Parameter(torch.empty(1, n_labels, dim))
        self.label_mab = AttentionBlock(dim, heads)
        if label_attention == "full":
            self.label_sa: nn.Module = SelfAttention(dim, heads)
        elif label_attention == "induced":
            self.label_sa = InducedSelfAttention(dim, heads, n_inducing)
        else:
            self.label_sa = nn.Identity()
        # L independent Linear(d, 1) classifiers, stored as one matrix so they run as one op.
        self.cls_weight = nn.Parameter(torch.empty(n_labels, dim))
        self.cls_bias = nn.Parameter(torch.zeros(n_labels))
        self.projector = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, proj_dim))
        self._init_new_modules()

    def _init_new_modules(self) -> None:
        # The official code initialises every module on top of the backbone with N(0, 0.02)
        # weights and zero biases; the encoder keeps PyTorch's default, like the BCE baseline.
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and not name.startswith(("encoder", "to_tokens")):
                nn.init.normal_(module.weight, 0.0, 0.02)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.cls_weight, 0.0, 0.02)
        nn.init.xavier_uniform_(self.label_queries)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Label-level embeddings g, (B, L, d) (paper Eq. 6)."""
        tokens = self.to_tokens(self.encoder(x)).view(x.shape[0], self.n_tokens, self.dim)
        tokens = self.token_sa(tokens)
        return self.label_sa(self.label_mab(self.label_queries, tokens))

    def classify(self, g: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bld,ld->bl", g, self.cls_weight) + self.cls_bias

    def project(self, g: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projector(g), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))


@register_method
class MulConMethod(NeuralMethod):
    """Label-level embeddings by attention from label queries + BCE, then BCE + LLCL."""

    id = "mulcon"
    display_name = "MulCon"
    citation = (
        "Dao, Zhao, Phung, Cai. Contrastively Enforcing Distinctiveness for Multi-Label "
        "Classification. ICLR 2022 submission (arXiv:2107.11626); vector-data adaptation"
    )
    params = {
        **BCEMethod.params,  # encoder width/dropout, lr, weight decay, epochs: as the baseline
        "schedule": "two-stage",  # two-stage | bce-only | joint (see the module docstring)
        "n_tokens": 16,  # feature tokens read from the encoder output
        "dim": 64,  # label-level embedding width d (paper: 1024 on ResNet features)
        "heads": 4,
        "token_blocks": 1,  # SA blocks over the tokens (Eq. 6: one; official code: two)
        "label_attention": "full",  # SA over the label embeddings: full | induced | none
        "n_inducing": 32,  # inducing points when label_attention = induced
        "proj_dim": 64,  # projection head output (official: 128 for d = 1024)
        "temperature": 0.2,
        "llcl_weight": 0.5,  # gamma of Eq. 9 (official code 0.5; the paper's appendix says 0.1)
        "finetune_epochs": 50,
        "finetune_lr": 1e-4,  # stage 2 lr of encoder + attention ("small learning rate")
        "finetune_head_lr": 1e-3,  # stage 2 lr of the classifiers and the projection head
    }
    param_ranges = {
        "n_tokens": ">= 1",
        "dim": ">= 1",
        "heads": ">= 1",
        "token_blocks": ">= 0",
        "n_inducing": ">= 1",
        "proj_dim": ">= 1",
        "temperature": "> 0",
        "llcl_weight": ">= 0",
        "finetune_epochs": ">= 0",
        "finetune_lr": ">= 0",
        "finetune_head_lr": ">= 0",
    }
    test_params = {
        **BCEMethod.test_params,
        "n_tokens": 2,
        "dim": 4,
        "heads": 1,
        "n_inducing": 2,
        "proj_dim": 4,
        "finetune_epochs": 1,
    }

    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        hp = self.hparams
        if hp["schedule"] not in SCHEDULES:
            raise MlbenchError(f"schedule must be one of {', '.join(SCHEDULES)}, got {hp['schedule']!r}.")
        if hp["label_attention"] not in LABEL_ATTENTION:
            raise MlbenchError(
                f"label_attention must be one of {', '.join(LABEL_ATTENTION)}, got {hp['label_attention']!r}."
            )
        # Evaluation holds a few (rows, L, d) activations at once: size its batches by L*d, not
        # by the class-wide 4096 rows (4096 x 983 x 64 floats would be 1 GB per tensor).
        rows = EVAL_ACTIVATION_BUDGET // (n_labels * hp["dim"])
        self.eval_batch_size = int(min(4096, max(64, rows)))
        return MulConNet(
            n_features,
            n_labels,
            hidden=hp["hidden"],
            dropout=hp["dropout"],
            n_tokens=hp["n_tokens"],
            dim=hp["dim"],
            heads=hp["heads"],
            token_blocks=hp["token_blocks"],
            label_attention=hp["label_attention"],
            n_inducing=hp["n_inducing"],
            proj_dim=hp["proj_dim"],
        )

    def loss(self, module: MulConNet, xb: torch.Tensor, yb: torch.Tensor, llcl_weight: float):
        g = module.embed(xb)
        bce = F.binary_cross_entropy_with_logits(module.classify(g), yb)
        if llcl_weight == 0:
            return bce, {"bce": bce.detach()}
        # Only active pairs enter LLCL, so only they are projected: memory O(#positives), not
        # O(B L) (delicious: ~19 of 983 labels per sample).
        rows, labels = (yb > 0.5).nonzero(as_tuple=True)
        z = module.project(g[rows, labels])
        llcl = label_level_contrastive_loss(z, labels, self.hparams["temperature"])
        return bce + llcl_weight * llcl, {"bce": bce.detach(), "llcl": llcl.detach()}

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        weight = 0.0 if self.hparams["schedule"] == "bce-only" else self.hparams["llcl_weight"]
        return self.loss(module, xb, yb, weight)

    def train_stages(self) -> None:
        hp = self.hparams
        if hp["schedule"] != "two-stage":
            self.run_stage("train", self.module_, epochs=hp["epochs"])
            return
        # Step 1: BCE only, so the label queries learn the label semantics freely.
        self.run_stage(
            "bce",
            self.module_,
            epochs=hp["epochs"],
            loss_fn=lambda m, x, y: self.loss(m, x, y, 0.0),
        )
        # Step 2: from the best step-1 weights, BCE + LLCL at a lower lr, so that LLCL sharpens
        # the label embeddings without undoing the structure step 1 found (paper Sec. 2.3).
        if hp["finetune_epochs"] > 0:
            optimizer = adam(self._finetune_groups(self.module_), weight_decay=hp["weight_decay"])
            self.run_stage(
                "finetune",
                self.module_,
                epochs=hp["finetune_epochs"],
                optimizer=optimizer,
                loss_fn=lambda m, x, y: self.loss(m, x, y, hp["llcl_weight"]),
            )

    def _finetune_groups(self, module: MulConNet) -> list[dict]:
        # As the official stage 2: the encoder and the attention (the label-level embedding
        # network) move slowly, the classifiers and the new projection head at the full rate.
        head = {id(p) for p in (module.cls_weight, module.cls_bias, *module.projector.parameters())}
        body = [p for p in module.parameters() if id(p) not in head]
        heads = [p for p in module.parameters() if id(p) in head]
        return [
            {"params": body, "lr": self.hparams["finetune_lr"]},
            {"params": heads, "lr": self.hparams["finetune_head_lr"]},
        ]

    def extras(self) -> dict:
        module = getattr(self, "module_", None)
        if module is None:
            return {}
        return {"label_queries": module.label_queries.detach().squeeze(0).cpu().numpy()}


register_variant(MulConMethod, "mulcon-bce-only", "LLEN + BCE", schedule="bce-only")
register_variant(MulConMethod, "mulcon-joint", "LLEN + BCE + LLCL", schedule="joint")
