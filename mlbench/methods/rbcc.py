"""``rbcc``: Recurrent Bayesian Classifier Chains (Gerych, Hartvigsen, Buquicchio, Agu &
Rundensteiner, "Recurrent Bayesian Classifier Chains for Exact Multi-Label Classification",
NeurIPS 2021).

A Bayesian network over the labels is learned from the training label matrix; the chain visits
the labels in a topological order of it, and one recurrent network predicts each label from the
features and the values of its parents:

* **Structure**: a Chow-Liu tree (Chow & Liu 1968), the maximum spanning tree of the labels'
  pairwise mutual information (:func:`label_mutual_information`, :func:`chow_liu_tree`), the
  maximum-likelihood tree-shaped network; each connected part is rooted at its most frequent
  label. Labels with zero mutual information to all others are roots of their own.
* **Classifier**: the C-GMVAE feature encoder gives the GRU's initial state; the GRU runs over
  the chain (input: a learned embedding of the chain position), and its state at step t, with
  the parent's value, gives P(y_t = 1 | x, y_parent(t)) (one logit per parent value).
  Teacher forcing: training uses the true parent values; the loss is the network's negative
  log-likelihood -Σ_t log P(y_t | x, y_pa(t)) (the paper's chain-rule factorisation;
  :func:`bn_chain_nll`).
* **Inference**: with a tree the joint is exact and cheap. Marginals
  P(y_t = 1 | x) = Σ_v P(y_t = 1 | x, y_pa = v) P(y_pa = v | x), propagated from the roots in
  the chain order (:func:`tree_marginals`), are the scores every metric uses; the exact joint
  mode (MAP label set, max-product over the tree, :func:`tree_map`) is ``predict_map``.

Parent values enter the readout, not the GRU's input, so that the GRU state depends on x only
and each conditional is exactly P(y_t | x, y_pa(t)); fed into the recurrence, the values of
earlier non-parent labels would leak into later conditionals and the network's factorisation,
hence exact inference, would not hold. See docs/methods-classic.md for the other choices.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mlbench.errors import MlbenchError
from mlbench.methods.base import register_method
from mlbench.methods.mlp import feature_encoder
from mlbench.methods.neural import NeuralMethod

# -- structure -------------------------------------------------------------------------------------


def label_mutual_information(Y: np.ndarray) -> np.ndarray:
    """(L, L) empirical mutual information (nats) between binary labels, zero diagonal.

    I(a; b) = Σ_{u,v ∈ {0,1}} p(a=u, b=v) log(p(a=u, b=v) / (p(a=u) p(b=v))).
    """
    Y = np.asarray(Y, dtype=np.float64)
    n = len(Y)
    p11 = Y.T @ Y / n
    p1 = np.diag(p11).copy()
    p10 = p1[:, None] - p11
    p01 = p1[None, :] - p11
    p00 = 1.0 - p11 - p10 - p01
    q1, q0 = p1, 1.0 - p1
    mi = np.zeros_like(p11)
    for joint, pa, pb in (
        (p11, q1[:, None], q1[None, :]),
        (p10, q1[:, None], q0[None, :]),
        (p01, q0[:, None], q1[None, :]),
        (p00, q0[:, None], q0[None, :]),
    ):
        with np.errstate(divide="ignore", invalid="ignore"):
            term = joint * np.log(joint / (pa * pb))
        mi += np.where(joint > 0, term, 0.0)
    np.fill_diagonal(mi, 0.0)
    return np.maximum(mi, 0.0)


def chow_liu_tree(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parents, order): the maximum-MI spanning forest, ``parents[l]`` = -1 for a root, and a
    topological order (every parent before its children)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

    Y = np.asarray(Y)
    n_labels = Y.shape[1]
    mi = label_mutual_information(Y)
    # Maximum spanning tree = minimum spanning tree of (max + eps - MI) on the edges with MI > 0
    # (the csgraph routines treat 0 as "no edge").
    weights = np.where(mi > 1e-12, mi.max() + 1.0 - mi, 0.0)
    tree = minimum_spanning_tree(csr_matrix(weights))
    tree = tree + tree.T
    n_parts, part = connected_components(tree, directed=False)
    frequency = Y.sum(axis=0)
    parents = np.full(n_labels, -1, dtype=np.int64)
    order: list[int] = []
    for c in range(n_parts):
        members = np.flatnonzero(part == c)
        root = int(members[np.argmax(frequency[members])])  # first most frequent label
        nodes, preds = breadth_first_order(tree, root, directed=False, return_predecessors=True)
        for node in nodes:
            parents[node] = preds[node] if node != root else -1
        order.extend(int(v) for v in nodes)
    return parents, np.asarray(order, dtype=np.int64)


# -- loss and inference (pure functions) -----------------------------------------------------------


def parent_values(Y: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """(n, L) long: the value of each label's parent (0 for roots)."""
    has_parent = parents >= 0
    values = Y[:, parents.clamp(min=0)] * has_parent.to(Y.dtype)
    return values.round().long()


def bn_chain_nll(logits: torch.Tensor, Y: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """Mean over samples and labels of -log P(y_l | x, y_pa(l)) (the network's factorisation
    P(y | x) = Π_l P(y_l | x, y_pa(l)); teacher forcing: the true parent values).

    ``logits``: (n, L, 2), the logit of y_l = 1 given parent value 0 and 1 (roots use 0).
    """
    chosen = logits.gather(2, parent_values(Y, parents).unsqueeze(-1)).squeeze(-1)
    return F.binary_cross_entropy_with_logits(chosen, Y)


def tree_marginals(cond: torch.Tensor, parents: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Exact P(y_l = 1 | x) of a tree-shaped network, (n, L), from ``cond`` (n, L, 2) =
    P(y_l = 1 | x, y_pa(l) = v): P(y_l=1) = P(y_l=1 | pa=1) P(pa=1) + P(y_l=1 | pa=0) P(pa=0),
    in topological order (roots: P(y_l=1 | pa=0))."""
    marginal = torch.empty(cond.shape[:2], dtype=cond.dtype, device=cond.device)
    for label in order.tolist():
        parent = int(parents[label])
        if parent < 0:
            marginal[:, label] = cond[:, label, 0]
        else:
            p = marginal[:, parent]
            marginal[:, label] = cond[:, label, 1] * p + cond[:, label, 0] * (1 - p)
    return marginal


def tree_map(cond: np.ndarray, parents: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The exact joint mode argmax_y Π_l P(y_l | x, y_pa(l)) of a tree (max-product from the
    leaves up, then decoding from the roots down); (n, L) 0/1."""
    eps = 1e-12
    n, n_labels = cond.shape[:2]
    # log P(y_l = u | pa = v), shape (n, L, u, v)
    logp = np.stack([np.log(np.clip(1 - cond, eps, 1)), np.log(np.clip(cond, eps, 1))], axis=2)
    # best[l][:, u]: best log-probability of l's subtree given y_l = u
    best = np.zeros((n, n_labels, 2))
    choice = np.zeros((n, n_labels, 2), dtype=np.int64)  # argmax y_l given the parent's value v
    for label in order[::-1]:
        total = logp[:, label] + best[:, label, :, None]  # (n, u, v)
        parent = parents[label]
        if parent >= 0:
            choice[:, label] = total.argmax(axis=1)
            best[:, parent] += total.max(axis=1)
        else:
            choice[:, label] = total[:, :, 0].argmax(axis=1)[:, None]
    y = np.zeros((n, n_labels), dtype=np.uint8)
    rows = np.arange(n)
    for label in order:
        parent = parents[label]
        v = y[:, parent] if parent >= 0 else np.zeros(n, dtype=np.int64)
        y[:, label] = choice[rows, label, v]
    return y


# -- the network -----------------------------------------------------------------------------------


class RecurrentChain(nn.Module):
    """Encoder -> GRU initial state; GRU over the chain positions; per step one logit per parent
    value. ``parents``/``order`` are buffers so they travel with the weights."""

    def __init__(
        self,
        n_features: int,
        n_labels: int,
        hidden,
        dropout: float,
        rnn_size: int,
        position_dim: int,
        parents: np.ndarray,
        order: np.ndarray,
    ) -> None:
        super().__init__()
        self.encoder = feature_encoder(n_features, hidden, dropout)
        width = int(hidden[-1]) if hidden else n_features
        self.to_state = nn.Linear(width, rnn_size)
        self.position = nn.Embedding(n_labels, position_dim)
        self.gru = nn.GRU(position_dim, rnn_size, batch_first=True)
        self.readout = nn.Linear(rnn_size, 2)
        self.register_buffer("parents", torch.as_tensor(parents, dtype=torch.long))
        self.register_buffer("order", torch.as_tensor(order, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, L, 2) logits in label index order."""
        h0 = torch.tanh(self.to_state(self.encoder(x))).unsqueeze(0)
        steps = self.position(self.order).unsqueeze(0).expand(x.shape[0], -1, -1)
        out, _ = self.gru(steps.contiguous(), h0)
        logits_chain = self.readout(out)  # (n, L, 2) in chain order
        logits = torch.empty_like(logits_chain)
        logits[:, self.order] = logits_chain
        return logits


@register_method
class RBCC(NeuralMethod):
    """RBCC (Gerych et al. 2021); see the module docstring."""

    id = "rbcc"
    display_name = "RBCC"
    citation = (
        "Gerych, Hartvigsen, Buquicchio, Agu & Rundensteiner, Recurrent Bayesian "
        "Classifier Chains for Exact Multi-Label Classification, NeurIPS 2021"
    )
    params = {
        **NeuralMethod.params,
        "weight_decay": 1e-5,
        "hidden": [256, 512, 256],
        "rnn_size": 128,
        "position_dim": 32,
    }
    test_params = {**NeuralMethod.test_params, "hidden": [8], "rnn_size": 8, "position_dim": 4}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        n_labels = Y.shape[1] if getattr(Y, "ndim", 2) == 2 else 1
        if n_labels < 2:
            raise MlbenchError(
                f"rbcc needs at least 2 labels to learn a network over them, got {n_labels}; "
                "use br (binary relevance) for a single label."
            )
        return super().fit(X, Y, X_val, Y_val, context)

    def build_module(self, n_features: int, n_labels: int) -> nn.Module:
        train = getattr(self, "train_", None)
        if train is not None:  # fitting: learn the structure from the training labels
            parents, order = chow_liu_tree(train[1].cpu().numpy() > 0.5)
        else:  # loading: the buffers come from the state dict
            parents, order = np.full(n_labels, -1), np.arange(n_labels)
        hp = self.hparams
        return RecurrentChain(
            n_features, n_labels, hp["hidden"], hp["dropout"], hp["rnn_size"], hp["position_dim"], parents, order
        )

    def batch_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
        return bn_chain_nll(module(xb), yb, module.parents), {}

    def predict_scores(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        return tree_marginals(torch.sigmoid(module(xb)), module.parents, module.order)

    @torch.no_grad()
    def predict_map(self, X) -> np.ndarray:
        """The exact most probable label set per sample (n, L) 0/1."""
        module = self.module_
        module.eval()
        cond = (
            torch.cat([torch.sigmoid(module(xb)) for xb in self._to_device(X).split(self.eval_batch_size)])
            .cpu()
            .numpy()
        )
        return tree_map(cond.astype(np.float64), module.parents.cpu().numpy(), module.order.cpu().numpy())

    def extras(self) -> dict[str, np.ndarray]:
        """The learned network: each label's parent (-1 for roots) and the chain order."""
        return {"parents": self.module_.parents.cpu().numpy(), "order": self.module_.order.cpu().numpy()}
