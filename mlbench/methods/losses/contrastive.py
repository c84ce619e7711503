"""Contrastive losses for multi-label data: small pure functions on tensors.

Sections (each self-contained; add new ones below, do not reuse another section's helpers):

* **MulSupCon / MulSupConLD** (Zhang & Wu, AAAI 2024; Chen et al., arXiv:2501.19145): the
  sample-level multi-label supervised contrastive losses (positive-set patterns ALL, ANY and
  MulSupCon, paper Eq. 1 and 4-6), the label-distribution-weighted MulSupCon loss and the
  label-distribution recovery terms of MulSupConLD.

Conventions of the MulSupCon section. ``sim`` is the (B, N) matrix of cosine similarities
s_a^(i) = z_q^(i) . z_k^(a) between B anchors (queries) and N references (the batch's keys followed
by the queue, so the anchor's own key, from the other view, is one of the references and always
one of its positives). ``y_anchor`` (B, L) and ``y_ref`` (N, L) are 0/1 label matrices (float).
Everything is computed for all (anchor, label) pairs at once with matrix products: no Python loop
over samples or labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# =================================================================================================
# MulSupCon / MulSupConLD
# =================================================================================================

#: Positive-set patterns of MulSupCon's paper (Figure 1 and Eq. 4).
PATTERNS = ("mulsupcon", "all", "any")


def label_overlap(y_anchor: torch.Tensor, y_ref: torch.Tensor) -> torch.Tensor:
    """(B, N) number of labels anchor i and reference a share: |y^(i) ∩ y^(a)|."""
    return y_anchor @ y_ref.T


def positive_mask(y_anchor: torch.Tensor, y_ref: torch.Tensor, pattern: str) -> torch.Tensor:
    """(B, N) bool positive set P^(i) of the single-positive-set patterns.

    ``all``: y^(a) = y^(i) (exact label-set match); ``any``: y^(a) ∩ y^(i) ≠ ∅. An anchor
    without labels has no positives under either (it carries no label information to contrast),
    even though "all" would formally match other empty label sets.
    """
    overlap = label_overlap(y_anchor, y_ref)
    n_anchor = y_anchor.sum(1, keepdim=True)
    if pattern == "any":
        return overlap > 0
    if pattern == "all":
        # For 0/1 vectors: equal <=> |a| = |b| = |a ∩ b|; avoids a (B, N, L) comparison.
        n_ref = y_ref.sum(1, keepdim=True).T
        return (overlap == n_anchor) & (overlap == n_ref) & (n_anchor > 0)
    raise ValueError(f"pattern must be 'all' or 'any' here, got {pattern!r}")


def supcon_loss(sim: torch.Tensor, pos_mask: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SupCon over one positive set per anchor (MulSupCon paper Eq. 1, used for ALL and ANY).

    L^(i) = -1/|P^(i)| sum_{p in P^(i)} log( exp(s_p/τ) / sum_{a in A} exp(s_a/τ) ), with A all N
    references (the anchor's own key included, as in MoCo). Returns (mean of L^(i) over anchors
    with at least one positive, number of such anchors); anchors without positives contribute
    nothing (0 when none has any).
    """
    log_prob = F.log_softmax(sim / temperature, dim=1)
    pos = pos_mask.to(log_prob.dtype)
    n_pos = pos.sum(1)
    has_pos = n_pos > 0
    per_anchor = -(log_prob * pos).sum(1) / n_pos.clamp(min=1)
    n = has_pos.sum()
    return (per_anchor * has_pos).sum() / n.clamp(min=1), n


def mulsupcon_loss(
    sim: torch.Tensor,
    y_anchor: torch.Tensor,
    y_ref: torch.Tensor,
    temperature: float,
    *,
    weighted: bool = False,
    anchor_weight: torch.Tensor | None = None,
    ref_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MulSupCon loss (paper Eq. 4-6): one positive set per (anchor, label) pair.

    For every label j of anchor i, P_j^(i) = {a : y_j^(a) = 1} over the N references and

        l_ij = -1/|P_j^(i)| sum_{p in P_j^(i)} log( exp(s_p^(i)/τ) / sum_{a in A} exp(s_a^(i)/τ) )

    (Eq. 4). The batch loss is the mean over all (anchor, label) pairs,
    sum_i sum_{j in y^(i)} l_ij / sum_i |y^(i)| (Eq. 5); with ``weighted`` each anchor's rows are
    first averaged, sum_i (1/|y^(i)|) sum_j l_ij / #anchors (Eq. 6, the 1/|y| weighting of the
    ablation, Table 8). Anchors without labels have no rows and contribute nothing.

    Vectorised: with log-probabilities P (B, N), the numerators of all pairs are the matrix
    product P @ y_ref (B, L), and |P_j^(i)| = sum_a y_ref[a, j] does not depend on i.

    Distribution weighting (MulSupConLD; both default to the plain labels):

    * ``ref_weight`` (N, L), non-negative: positive p of label j counts with weight
      ref_weight[p, j] instead of 1, i.e. l_ij = -sum_p w_pj log prob_p / sum_p w_pj over
      p in P_j^(i) (the references' label-distribution degrees: a positive that is "more j" pulls
      harder). Entries outside the positive sets are ignored.
    * ``anchor_weight`` (B, L), non-negative: the weight ω_ij of row (i, j) in the batch mean,
      sum ω_ij l_ij / sum ω_ij over labels of the anchors (ω = y gives Eq. 5, ω = y/|y| Eq. 6).
      With ``weighted`` each anchor's ω is rescaled to sum to 1 first.

    Returns (loss, number of (anchor, label) rows).
    """
    log_prob = F.log_softmax(sim / temperature, dim=1)
    w_ref = y_ref if ref_weight is None else y_ref * ref_weight
    denom = w_ref.sum(0)  # (L,): |P_j| (or its weighted size), the same for every anchor
    per_pair = -(log_prob @ w_ref) / denom.clamp(min=1e-12)  # (B, L)
    omega = y_anchor if anchor_weight is None else y_anchor * anchor_weight
    # A label whose positive set is empty (or has zero total weight) gives no row. It cannot
    # happen for an anchor's own labels when its own key is among the references.
    omega = omega * (denom > 0)
    if weighted:
        omega = omega / omega.sum(1, keepdim=True).clamp(min=1e-12)
    n_rows = (y_anchor * (denom > 0)).sum()
    total = omega.sum()
    return (omega * per_pair).sum() / total.clamp(min=1e-12), n_rows


def multilabel_contrastive_loss(
    sim: torch.Tensor,
    y_anchor: torch.Tensor,
    y_ref: torch.Tensor,
    temperature: float,
    pattern: str = "mulsupcon",
    *,
    weighted: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pretraining loss of MulSupCon for ``pattern`` in :data:`PATTERNS`.

    ``mulsupcon``: :func:`mulsupcon_loss` (Eq. 4-5, or Eq. 6 with ``weighted``); ``all`` /
    ``any``: :func:`supcon_loss` with the ALL / ANY positive set (one row per anchor, so
    ``weighted`` does not apply). Returns (loss, number of rows).
    """
    if pattern == "mulsupcon":
        return mulsupcon_loss(sim, y_anchor, y_ref, temperature, weighted=weighted)
    if pattern in ("all", "any"):
        return supcon_loss(sim, positive_mask(y_anchor, y_ref, pattern), temperature)
    raise ValueError(f"unknown pattern {pattern!r}; use one of {', '.join(PATTERNS)}")


def label_distribution_targets(y: torch.Tensor) -> torch.Tensor:
    """The logical labels as a distribution, y / |y| (rows without labels stay 0)."""
    return y / y.sum(1, keepdim=True).clamp(min=1)


def ld_alignment_loss(d: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Alignment of recovered distributions with the logical labels (MulSupConLD).

    ||D - Y/|y| ||_F^2 / B' over the B' rows that have labels: mass on irrelevant labels and
    uneven mass are both penalised, so the recovered distribution stays close to the uniform
    distribution over the sample's own labels unless the similarity term moves it.
    """
    has = (y.sum(1) > 0).to(d.dtype)
    err = ((d - label_distribution_targets(y)) ** 2).sum(1)
    return (err * has).sum() / has.sum().clamp(min=1)


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, N) squared Euclidean distances, by expansion: cdist's backward is NaN at distance 0
    and a broadcast difference would need a (B, N, L) tensor."""
    return ((a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp(min=0)


def rbf_smoothness_loss(
    d_anchor: torch.Tensor,
    d_ref: torch.Tensor,
    z_anchor: torch.Tensor,
    z_ref: torch.Tensor,
    pos_mask: torch.Tensor,
    sigma: float,
) -> torch.Tensor:
    """RBF-weighted similarity of distributions among positives (MulSupConLD-RLD).

    sum_{a in P(i)} k_ia ||d_i - d_a||^2 averaged over anchors with positives, where
    k_ia = exp(-||z_i - z_a||^2 / (2σ^2)) normalised over the positives of i (a softmax of the
    negated scaled squared distances, computed stably). Positives close in embedding space are
    pushed to have similar label distributions. With L2-normalised z and a small σ the weights
    concentrate on the nearest positive. ``pos_mask`` (B, N) bool should exclude the anchor's own
    entries.
    """
    dist_z = _sq_dists(z_anchor, z_ref)
    logits = (-dist_z / (2 * sigma**2)).masked_fill(~pos_mask, float("-inf"))
    has = pos_mask.any(1)
    k = torch.softmax(logits.masked_fill(~has[:, None], 0.0), dim=1) * pos_mask
    dist_d = _sq_dists(d_anchor, d_ref)
    per_anchor = (k * dist_d).sum(1)
    return (per_anchor * has).sum() / has.sum().clamp(min=1)


def distribution_contrastive_loss(
    d_anchor: torch.Tensor,
    d_ref: torch.Tensor,
    pos_mask: torch.Tensor,
    temperature: float,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Contrastive similarity of distributions among positives (MulSupConLD-CLD).

    SupCon (Eq. 1) on the L2-normalised label distributions: each anchor's distribution is pulled
    towards those of its positives and pushed from the others. ``exclude`` (B, N) bool removes
    references (the anchor's own entry) from both the positives and the denominator.
    """
    sim = F.normalize(d_anchor, dim=1) @ F.normalize(d_ref, dim=1).T
    if exclude is not None:
        sim = sim.masked_fill(exclude, float("-inf"))
        pos_mask = pos_mask & ~exclude
    log_prob = F.log_softmax(sim / temperature, dim=1)
    pos = pos_mask.to(log_prob.dtype)
    n_pos = pos.sum(1)
    has = n_pos > 0
    # -inf * 0 would be NaN: zero the excluded entries before weighting.
    per_anchor = -(log_prob.masked_fill(~pos_mask, 0.0) * pos).sum(1) / n_pos.clamp(min=1)
    return (per_anchor * has).sum() / has.sum().clamp(min=1)


__all__ = [
    "PATTERNS",
    "label_overlap",
    "positive_mask",
    "supcon_loss",
    "mulsupcon_loss",
    "multilabel_contrastive_loss",
    "label_distribution_targets",
    "ld_alignment_loss",
    "rbf_smoothness_loss",
    "distribution_contrastive_loss",
]


# --- MulCon: label-level contrastive loss (LLCL) ---


def label_level_contrastive_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """MulCon's label-level contrastive loss, Eq. 8 of Dao et al. (ICLR 2022 submission).

    ``z`` (M, d): the L2-normalised projections of the *active* label-level embeddings of a
    batch, one row per pair (sample i, label j) with y_ij = 1; ``labels`` (M,): the label j of
    each row. Each row is an anchor; its positives P(i, j) are the other rows of the same label,
    its contrast set A(i, j) all the other rows::

        L_ij = -1/|P(i,j)| * sum_{p in P(i,j)} log( exp(z_ij.z_p / tau) / sum_{a in A(i,j)} exp(z_ij.z_a / tau) )

    The batch loss is the mean of L_ij over all M anchors, as in the official ``SupConLoss``
    (base temperature = tau, so no extra scale); the paper writes a sum, which only rescales the
    weight gamma. An anchor whose label has no other active row in the batch (a label with a
    single positive) has an empty P and contributes 0 but still counts in the mean, again as the
    official code does. Samples without labels contribute no rows. With fewer than two rows no
    anchor has a positive and the loss is 0 (kept in the graph so ``backward`` works).
    """
    m = z.shape[0]
    if m < 2:
        return z.sum() * 0.0
    self_mask = torch.eye(m, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    # where(), not pos * log_prob: the diagonal is -inf and 0 * -inf would be NaN.
    pos_sum = torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    mean_log_prob_pos = pos_sum / pos.sum(dim=1).clamp(min=1)
    return -mean_log_prob_pos.mean()


# --- ASL ---


def asymmetric_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> torch.Tensor:
    """Asymmetric loss L_ASL (Ridnik et al., ICCV 2021, Sec. 3: asymmetric focusing plus
    asymmetric probability shifting):

        L+ = (1 - p)^gamma_pos * log(p)
        L- = p_m^gamma_neg * log(1 - p_m),   p_m = max(p - clip, 0)
        loss = -(y * L+ + (1 - y) * L-)

    with p = sigmoid(logits). As in the official ``AsymmetricLoss``, the logs are taken of the
    probabilities clamped to ``eps`` (so a saturated logit gives a finite loss and zero gradient)
    and the focusing weights keep their gradient. ``reduction``: ``mean`` over all (sample,
    label) entries (the scale of BCEWithLogits, so the BCE baseline's lr applies), ``sum`` (the
    official code) or ``none``.
    """
    p = torch.sigmoid(logits)
    # The probability margin discards easy negatives entirely (p <= clip gives zero loss).
    p_neg = (p - clip).clamp(min=0) if clip > 0 else p
    loss_pos = torch.log(p.clamp(min=eps))
    loss_neg = torch.log((1 - p_neg).clamp(min=eps))
    if gamma_pos > 0:
        loss_pos = loss_pos * (1 - p).pow(gamma_pos)
    if gamma_neg > 0:
        loss_neg = loss_neg * p_neg.pow(gamma_neg)
    loss = -(targets * loss_pos + (1 - targets) * loss_neg)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


__all__ += ["label_level_contrastive_loss", "asymmetric_loss"]
