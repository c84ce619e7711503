"""``lamp``: LaMP, Label Message Passing (Lanchantin, Sekhon & Qi, "Neural Message Passing for
Multi-Label Classification", ECML-PKDD 2019), with the vector-input encoder of the authors'
code (QData/LaMP).

Each label is a node with a learned embedding e_i (d_model wide, the same for every sample).
A stack of ``layers`` identical layers updates the label nodes, each layer doing, as the
official ``GraphDecoder``/``DecoderLayer``:

1. **feature-to-label messages**: every label node attends over the encoded input (multi-head
   scaled dot-product attention, queries from the labels, keys/values from the input tokens),
   then a position-wise feed-forward block;
2. **label-to-label messages**: self-attention among the label nodes, restricted by the label
   graph ``label_mask`` (below), then a second feed-forward block.

Every sub-layer is post-LN, as the official code: LN(h + Dropout(sublayer(h))), with dropout also
on the attention weights. The **readout** is per label: logit_i = <h_i, w_i>, the final state of
node i against its own output vector w_i (no bias, Xavier-normal initialisation). This is what
the official code computes: it means to tie W to the label embeddings (``proj_share_weight``),
but assigns the embedding to an attribute of the ``XavierLinear`` wrapper that its forward never
reads, so the wrapper's own untied ``linear`` weight is used. Loss: BCE with logits, mean over
entries (official ``binary_cross_entropy_with_logits(..., reduction='mean')``); no other term.

**Input encoder for vector data**: the official ``MLPEncoder``, one Linear(F, d_model) whose
output is a single input token, so the feature-to-label attention has one key and each label
receives the encoded input through its own value projection. (For text the official code uses
a Transformer over word tokens; mlbench's datasets are feature vectors.)

**Label graph** (``label_mask``, the official ``-label_mask`` option; True = i hears from j):
``prior`` (default, the official README's command): labels that co-occur in some training sample,
plus the label itself; ``none``: every label; ``no-self`` (official ``eye``): every other label;
``self`` (official ``inveye``): the label alone, i.e. no label-to-label messages. A label with
no neighbour hears from itself (as the official code fixes empty adjacency rows; otherwise its
softmax is over nothing). The graph is a buffer of the module, saved with the weights.

Defaults: the official README command (``-batch_size 32 -d_model 512 -d_inner_hid 512
-n_layers_dec 2 -n_head 4 -epoch 50 -dropout 0.2 -dec_dropout 0.2 -lr 0.0002 -label_mask
prior``), Adam with betas (0.9, 0.98) and no weight decay, no learning-rate decay (the code's
default ``-lr_decay 0``), the last partial training batch dropped (its data loader drops the last
batch), raw input features (the code does not standardise them). Where mlbench differs, and
where the paper is silent: docs/methods-neural.md.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mlbench.errors import MlbenchError
from mlbench.methods.base import ParameterError, register_method
from mlbench.methods.neural import NeuralMethod

LABEL_MASKS = ("prior", "none", "no-self", "self")
EVAL_ACTIVATION_BUDGET = 2**24  # floats per (rows, L, width) activation at evaluation (64 MiB)


def label_graph(Y: torch.Tensor, mode: str) -> torch.Tensor:
    """(L, L) bool adjacency of the label-to-label messages, True where label i (row) receives
    a message from label j (column), built from the training label matrix ``Y`` (n, L).

    ``prior``: A_ij = 1 iff i = j or labels i and j are both positive in some row of ``Y`` (the
    official ``label_mask='prior'``); ``none``: all ones; ``no-self``: 1 - I; ``self``: I. A row
    left without any 1 gets its diagonal 1, so that every label attends to something.
    """
    if mode not in LABEL_MASKS:
        raise MlbenchError(
            f"label_mask must be one of {', '.join(LABEL_MASKS)}, got {mode!r}; set it with --set label_mask=prior."
        )
    n_labels = Y.shape[1]
    eye = torch.eye(n_labels, dtype=torch.bool, device=Y.device)
    if mode == "none":
        return torch.ones_like(eye)
    if mode == "self":
        return eye
    if mode == "no-self":
        allowed = ~eye
    else:
        positive = (Y > 0.5).to(torch.float32)
        allowed = (positive.T @ positive > 0) | eye
    return allowed | (eye & ~allowed.any(dim=1, keepdim=True))


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None, dropout_p: float = 0.0
) -> torch.Tensor:
    """Scaled dot-product attention softmax(q k^T / sqrt(d_k) + mask) v (Vaswani et al. 2017,
    Eq. 1; LaMP's attention), each query attending only to the keys ``allowed`` marks True
    (a bool (L_q, L_k) matrix, broadcast over batch and heads; None = all keys), with dropout of
    rate ``dropout_p`` on the attention weights. q: (..., L_q, d_k), k/v: (..., L_k, d_k)."""
    # torch's fused kernel: never stores the (L_q x L_k) weights when it can avoid it, which
    # matters for label self-attention over hundreds of labels.
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)


class MultiHeadAttention(nn.Module):
    """LN(query + Dropout(W_o [head_1; ...; head_H])), head_h = attend(query W_q^h, memory W_k^h,
    memory W_v^h): the official sub-layer (bias-free projections initialised N(0, 2/(d + d_k)),
    Xavier-normal output projection, present only with more than one head)."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        d_k = d_model // heads
        self.w_q, self.w_k, self.w_v = (nn.Linear(d_model, d_model, bias=False) for _ in range(3))
        for w in (self.w_q, self.w_k, self.w_v):
            nn.init.normal_(w.weight, 0.0, float(np.sqrt(2.0 / (d_model + d_k))))
        self.w_o: nn.Module = nn.Identity()
        if heads > 1:
            self.w_o = nn.Linear(d_model, d_model, bias=False)
            nn.init.xavier_normal_(self.w_o.weight)
        self.norm = nn.LayerNorm(d_model)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, d = t.shape
        return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, memory: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        p = self.dropout if self.training else 0.0
        if memory.shape[1] == 1 and allowed is None:
            # One key (the vector encoder's single token): its softmax weight is 1 whatever the
            # query, so the message is the value itself (the query/key projections get no
            # gradient). Skipping them saves ~15% of a training step at the default sizes on
            # yeast (measured: 1.22 vs 1.44 s, one thread); the weight 1 still gets dropout.
            v = self._heads(self.w_v(memory))
            weights = F.dropout(v.new_ones(v.shape[0], self.heads, query.shape[1], 1), p, self.training)
            out = weights * v
        else:
            out = attend(
                self._heads(self.w_q(query)), self._heads(self.w_k(memory)), self._heads(self.w_v(memory)), allowed, p
            )
        out = out.transpose(1, 2).reshape(query.shape)
        return self.norm(query + F.dropout(self.w_o(out), p, self.training))


class FeedForward(nn.Module):
    """LN(x + Dropout(W_2 ReLU(W_1 x))), position-wise (the official 1x1 convolutions)."""

    def __init__(self, d_model: int, d_inner: int, dropout: float) -> None:
        super().__init__()
        self.w_1, self.w_2 = nn.Linear(d_model, d_inner), nn.Linear(d_inner, d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.dropout(self.w_2(F.relu(self.w_1(x)))))


class LaMPLayer(nn.Module):
    """One round of message passing: feature-to-label, then label-to-label (official
    ``DecoderLayer``: enc_attn -> pos_ffn1 -> slf_attn -> pos_ffn2)."""

    def __init__(self, d_model: int, d_inner: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.feature_to_label = MultiHeadAttention(d_model, heads, dropout)
        self.ffn1 = FeedForward(d_model, d_inner, dropout)
        self.label_to_label = MultiHeadAttention(d_model, heads, dropout)
        self.ffn2 = FeedForward(d_model, d_inner, dropout)

    def forward(self, labels: torch.Tensor, features: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        h = self.ffn1(self.feature_to_label(labels, features))
        return self.ffn2(self.label_to_label(h, h, allowed))


class LaMPNet(nn.Module):
    """x (B, F) -> one input token -> ``layers`` rounds of message passing over L label nodes ->
    logits (B, L). ``label_graph`` (buffer) holds the label-to-label adjacency."""

    def __init__(
        self,
        n_features: int,
        n_labels: int,
        *,
        d_model: int,
        d_inner: int,
        layers: int,
        heads: int,
        dropout: float,
        masked: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = nn.Linear(n_features, d_model)  # official MLPEncoder: no activation
        # nn.Embedding's N(0, 1) initialisation, as the official tgt_word_emb.
        self.label_embedding = nn.Parameter(torch.randn(n_labels, d_model))
        self.layers = nn.ModuleList(LaMPLayer(d_model, d_inner, heads, dropout) for _ in range(layers))
        # Per-label readout vectors: the official XavierLinear(d_model, L, bias=False) weight.
        self.readout = nn.Parameter(torch.empty(n_labels, d_model))
        nn.init.xavier_normal_(self.readout)
        self.masked = masked  # False: every label hears every label, no mask (fused kernels)
        self.register_buffer("label_graph", torch.ones(n_labels, n_labels, dtype=torch.bool))

    def label_states(self, x: torch.Tensor) -> torch.Tensor:
        """The label nodes' final hidden states h, (B, L, d_model)."""
        features = self.encoder(x).unsqueeze(1)  # (B, 1, d_model)
        h = self.label_embedding.unsqueeze(0).expand(x.shape[0], -1, -1)
        allowed = self.label_graph if self.masked else None
        for layer in self.layers:
            h = layer(h, features, allowed)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bld,ld->bl", self.label_states(x), self.readout)


@register_method
class LaMPMethod(NeuralMethod):
    """Label nodes exchanging attention messages with the input and each other; BCE."""

    id = "lamp"
    display_name = "LaMP"
    citation = (
        "Lanchantin, Sekhon & Qi. Neural Message Passing for Multi-Label Classification. "
        "ECML-PKDD 2019 (arXiv:1904.08049); vector-input encoder of QData/LaMP"
    )
    params = {
        **NeuralMethod.params,
        "epochs": 50,
        "batch_size": 32,
        "lr": 2e-4,
        "weight_decay": 0.0,
        "dropout": 0.2,  # official -dropout and -dec_dropout
        "standardize": False,  # the official code feeds the features as stored
        "d_model": 512,
        "d_inner": 512,  # feed-forward width (official -d_inner_hid; its code default: 2 d_model)
        "layers": 2,  # message-passing rounds (official -n_layers_dec)
        "heads": 4,
        "label_mask": "prior",  # prior | none | no-self | self (see the module docstring)
    }
    param_ranges = {"d_model": ">= 1", "d_inner": ">= 1", "layers": ">= 1", "heads": ">= 1"}
    test_params = {**NeuralMethod.test_params, "d_model": 8, "d_inner": 8, "layers": 1, "heads": 2}
    drop_last = True

    @property
    def eval_batch_size(self) -> int:
        # Evaluation holds a few (rows, L, width) activations: size its batches by L * width,
        # not by the class-wide 4096 rows (delicious: 4096 x 983 x 512 floats would be 8 GB).
        width = max(self.hparams["d_model"], self.hparams["d_inner"])
        rows = EVAL_ACTIVATION_BUDGET // (getattr(self, "n_labels_", 1) * width)
        return int(min(4096, max(64, rows)))

    def __init__(self, **params) -> None:
        super().__init__(**params)
        _check_settings(self.hparams)  # when set, like the ranges: before any run directory

    def set_params(self, **params) -> LaMPMethod:
        _check_settings({**self.hparams, **params})  # all checked, then set
        return super().set_params(**params)

    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        hp = self.hparams
        net = LaMPNet(
            n_features,
            n_labels,
            d_model=hp["d_model"],
            d_inner=hp["d_inner"],
            layers=hp["layers"],
            heads=hp["heads"],
            dropout=hp["dropout"],
            masked=hp["label_mask"] != "none",
        )
        train = getattr(self, "train_", None)
        if train is not None:  # fitting: the graph of the training labels (loading: the buffer)
            net.label_graph.copy_(label_graph(train[1], hp["label_mask"]))
        return net

    def configure_optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        # betas (0.9, 0.98): the official optimiser (inherited from its Transformer code).
        return torch.optim.Adam(
            module.parameters(), lr=self.hparams["lr"], betas=(0.9, 0.98), weight_decay=self.hparams["weight_decay"]
        )

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        return F.binary_cross_entropy_with_logits(module(xb), yb), {}

    def extras(self) -> dict[str, np.ndarray]:
        module = getattr(self, "module_", None)
        if module is None:
            return {}
        return {"label_embeddings": module.label_embedding.detach().cpu().numpy()}


def _check_settings(hp: dict) -> None:
    """The settings the declared ranges cannot express, as one-line errors naming the fix."""
    if hp["label_mask"] not in LABEL_MASKS:
        raise ParameterError(
            f"label_mask must be one of {', '.join(LABEL_MASKS)}, got {hp['label_mask']!r}; "
            "set it with --set label_mask=prior."
        )
    d_model, heads = hp["d_model"], hp["heads"]
    if isinstance(d_model, int) and isinstance(heads, int) and d_model >= 1 and heads >= 1 and d_model % heads:
        raise ParameterError(
            f"lamp: d_model ({d_model}) must be divisible by heads ({heads}); "
            f"set e.g. --set heads={_divisor_at_most(d_model, heads)}."
        )


def _divisor_at_most(n: int, k: int) -> int:
    """The largest divisor of ``n`` that is at most ``k`` (a valid head count to suggest)."""
    return next(h for h in range(min(n, k), 0, -1) if n % h == 0)
