"""Multi-label classification metrics (pure numpy).

Two families of definitions live here:

* **Honest definitions** (:data:`METRICS`, used by the ``fixed`` and ``val`` protocols). Degenerate
  cases follow one documented policy (see ``docs/metrics.md``):

  - threshold metrics whose ratio is 0/0 on a sample or label score ``zero_division`` there,
    **0** by default (scikit-learn's ``zero_division=0``; ``1`` on request): ``ex-f1``,
    ``jaccard`` per sample with no true and no predicted label, ``ex-precision`` per sample with no
    predicted label, ``ex-recall`` per sample with no true label, ``ma-f1`` per label with no
    positive and no positive prediction, ``mi-f1`` when everything is empty;
  - ranking metrics **skip** what cannot be ranked: samples with no true label (``p@k``,
    ``one-error``, ``coverage``, ``ranking-loss``; ``ranking-loss`` also skips samples with every
    label true), labels with no positive (``map``) and labels with a single class (``macro-auc``).
    If nothing is left the metric is ``nan``.

* **Paper definitions** (:data:`PAPER_METRICS`, used only by the ``paper`` protocol): exactly what
  the official C-GMVAE / MPVAE / MulSupCon evaluation code (``evals.py`` / ``metrics.py``) computes,
  including its quirks (deleted samples in example-F1, ``+1e-6`` in macro-F1, label-less samples
  counting 0 in precision@k, AP = 0 for labels without positives in mAP). ``zero_division`` does
  not change them.

Inputs: ``y_true`` (n, L) 0/1; ``y_pred`` (n, L) 0/1 for threshold metrics; ``scores`` (n, L)
floats in [0, 1] for ranking metrics. Binarization is ``scores >= t``, evaluated in the floating
dtype of ``scores`` (so float32 network outputs compare against ``float32(t)``, as numpy does in the
official code). Every public function validates its inputs and raises
:class:`~mlbench.errors.MlbenchError` with a one-line message on bad input.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial

import numpy as np

from mlbench.errors import MlbenchError, suggest

__all__ = [
    "MetricSpec",
    "METRICS",
    "PAPER_METRICS",
    "METRIC_IDS",
    "THRESHOLD_METRIC_IDS",
    "RANKING_METRIC_IDS",
    "COST_METRICS",
    "COST_METRIC_IDS",
    "DEFINITIONS",
    "get_metric",
    "resolve_metric_ids",
    "compute_metrics",
    "binarize",
    "validate_inputs",
    "ZERO_DIVISION_CHOICES",
    "check_zero_division",
    "hamming_accuracy",
    "hamming_loss",
    "subset_accuracy",
    "jaccard",
    "example_precision",
    "example_recall",
    "example_f1",
    "micro_f1",
    "macro_f1",
    "precision_at_k",
    "mean_average_precision",
    "macro_auc",
    "ranking_loss",
    "coverage",
    "one_error",
    "paper_hamming_accuracy",
    "paper_subset_accuracy",
    "paper_example_f1",
    "paper_micro_f1",
    "paper_macro_f1",
    "paper_precision_at_k",
    "paper_mean_average_precision",
]

#: ``definitions=`` values accepted by :func:`compute_metrics`.
DEFINITIONS = ("honest", "paper")

#: The ``+1e-6`` in the official macro-F1 denominator.
PAPER_MACRO_F1_EPS = 1e-6

#: Values accepted for ``zero_division`` (the score of a 0/0 sample or label); the default is 0.
ZERO_DIVISION_CHOICES = (0.0, 1.0)


def check_zero_division(value) -> float:
    """``value`` as a float if it is 0 or 1; MlbenchError otherwise."""
    try:
        z = float(value)
    except (TypeError, ValueError):
        z = None
    if isinstance(value, bool) or z not in ZERO_DIVISION_CHOICES:
        raise MlbenchError(f"zero_division must be 0 or 1 (the score of a 0/0 sample or label), got {value!r}")
    return z


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------


def _as_2d(name: str, a) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists etc.
        raise MlbenchError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype == object or not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)):
        raise MlbenchError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise MlbenchError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise MlbenchError(f"{name} must be a 2-D (n_samples, n_labels) array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MlbenchError(f"{name} is empty (shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            n_nan = int(np.isnan(arr).sum())
            n_inf = int(bad.sum()) - n_nan
            raise MlbenchError(f"{name} contains {n_nan} NaN and {n_inf} infinite value(s)")
    return arr


def _check_binary(name: str, a) -> np.ndarray:
    arr = _as_2d(name, a)
    if arr.dtype == bool:
        return arr
    ok = (arr == 0) | (arr == 1)
    if not ok.all():
        bad = np.unique(arr[~ok])
        shown = ", ".join(repr(v.item()) for v in bad[:3]) + (", ..." if bad.size > 3 else "")
        raise MlbenchError(f"{name} must contain only 0 and 1, found {shown}")
    return arr.astype(bool)


def _check_scores(name: str, a) -> np.ndarray:
    arr = _as_2d(name, a)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi > 1:
        raise MlbenchError(
            f"{name} must be probabilities in [0, 1], found values in [{lo:.4g}, {hi:.4g}] "
            "(apply a sigmoid to logits first)"
        )
    return arr


def _check_same_shape(y: np.ndarray, other: np.ndarray, name: str, y_name: str = "y_true") -> None:
    if other.shape != y.shape:
        raise MlbenchError(f"{name} has shape {other.shape} but {y_name} has shape {y.shape}")


def validate_inputs(
    y_true,
    scores=None,
    y_pred=None,
    *,
    names: tuple[str, str, str] = ("y_true", "scores", "y_pred"),
) -> tuple:
    """Validate and convert inputs; returns ``(y_true_bool, scores_float, y_pred_bool)``.

    Missing ones come back as ``None``. Raises :class:`MlbenchError` on: non-2-D or empty
    arrays, shape mismatch, NaN/inf, scores outside [0, 1], and labels/predictions that are
    not 0/1. ``names`` are the argument names used in error messages.
    """
    y_name, s_name, p_name = names
    y = _check_binary(y_name, y_true)
    s = p = None
    if scores is not None:
        s = _as_2d(s_name, scores)
        _check_same_shape(y, s, s_name, y_name)
        s = _check_scores(s_name, s)
    if y_pred is not None:
        p = _as_2d(p_name, y_pred)
        _check_same_shape(y, p, p_name, y_name)
        p = _check_binary(p_name, p)
    return y, s, p


def _check_thresholds(thresholds, n_labels: int) -> np.ndarray | float:
    try:
        t = np.asarray(thresholds, dtype=np.float64)
    except (TypeError, ValueError):
        raise MlbenchError(f"threshold must be a number in [0, 1], got {thresholds!r}") from None
    if t.ndim == 0:
        v = float(t)
        if not np.isfinite(v) or not 0.0 <= v <= 1.0:
            raise MlbenchError(f"threshold must be a number in [0, 1], got {v}")
        return v
    if t.shape != (n_labels,):
        raise MlbenchError(f"thresholds must be a number or an array of shape ({n_labels},), got shape {t.shape}")
    if not np.isfinite(t).all() or (t < 0).any() or (t > 1).any():
        raise MlbenchError("thresholds must all be finite numbers in [0, 1]")
    return t


def binarize(scores, thresholds) -> np.ndarray:
    """Predictions ``scores >= t`` (bool). ``thresholds``: a number or one per label, shape (L,).

    The comparison is done in the floating dtype of ``scores`` (the threshold is cast to it), which
    is what numpy does for ``float32_array >= python_float`` in the official evaluation code.
    """
    s = _check_scores("scores", _as_2d("scores", scores))
    t = _check_thresholds(thresholds, s.shape[1])
    return binarize_checked(s, t)


def binarize_checked(s: np.ndarray, t) -> np.ndarray:
    return s >= np.asarray(t, dtype=s.dtype)


# ----------------------------------------------------------------------------------------------
# counting helpers (threshold metrics)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    """Confusion counts of one (y_true, y_pred) pair, per label (``*_l``) and per sample (``*_s``)."""

    n: int
    L: int
    tp_l: np.ndarray
    fp_l: np.ndarray
    fn_l: np.ndarray
    tp_s: np.ndarray
    true_s: np.ndarray
    pred_s: np.ndarray
    zero_division: float = 0.0  # the score of a 0/0 ratio (honest definitions only)

    @property
    def wrong_s(self) -> np.ndarray:  # |y XOR y_hat| per sample
        return self.true_s + self.pred_s - 2 * self.tp_s


def _counts(y: np.ndarray, p: np.ndarray, true_l=None, true_s=None, zero_division=0.0) -> _Counts:
    tp = y & p
    tp_l = np.count_nonzero(tp, axis=0).astype(np.int64)
    pred_l = np.count_nonzero(p, axis=0).astype(np.int64)
    if true_l is None:
        true_l = np.count_nonzero(y, axis=0).astype(np.int64)
    if true_s is None:
        true_s = np.count_nonzero(y, axis=1).astype(np.int64)
    return _Counts(
        n=y.shape[0],
        L=y.shape[1],
        tp_l=tp_l,
        fp_l=pred_l - tp_l,
        fn_l=true_l - tp_l,
        tp_s=np.count_nonzero(tp, axis=1).astype(np.int64),
        true_s=true_s,
        pred_s=np.count_nonzero(p, axis=1).astype(np.int64),
        zero_division=zero_division,
    )


def _safe_ratio(num: np.ndarray, den: np.ndarray, empty_value: float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, empty_value, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


# honest ------------------------------------------------------------------------------------------


def _ha(c: _Counts) -> float:
    return float(1.0 - c.wrong_s.sum() / (c.n * c.L))


def _subset(c: _Counts) -> float:
    return float(np.mean(c.wrong_s == 0))


def _hamming_loss(c: _Counts) -> float:
    return float(c.wrong_s.sum() / (c.n * c.L))


def _ex_f1(c: _Counts) -> float:
    return float(np.mean(_safe_ratio(2 * c.tp_s, c.true_s + c.pred_s, c.zero_division)))


def _jaccard(c: _Counts) -> float:
    union = c.true_s + c.pred_s - c.tp_s
    return float(np.mean(_safe_ratio(c.tp_s, union, c.zero_division)))


def _ex_precision(c: _Counts) -> float:
    return float(np.mean(_safe_ratio(c.tp_s, c.pred_s, c.zero_division)))


def _ex_recall(c: _Counts) -> float:
    return float(np.mean(_safe_ratio(c.tp_s, c.true_s, c.zero_division)))


def _mi_f1(c: _Counts) -> float:
    tp, fp, fn = c.tp_l.sum(), c.fp_l.sum(), c.fn_l.sum()
    den = 2 * tp + fp + fn
    return c.zero_division if den == 0 else float(2 * tp / den)


def _ma_f1(c: _Counts) -> float:
    return float(np.mean(_safe_ratio(2 * c.tp_l, 2 * c.tp_l + c.fp_l + c.fn_l, c.zero_division)))


# paper -------------------------------------------------------------------------------------------


def _paper_ex_f1(c: _Counts) -> float:
    den = c.true_s + c.pred_s
    keep = den > 0
    if not keep.any():
        return float("nan")
    return float(np.mean(2.0 * c.tp_s[keep] / den[keep]))


def _paper_mi_f1(c: _Counts) -> float:
    tp, fp, fn = c.tp_l.sum(), c.fp_l.sum(), c.fn_l.sum()
    den = 2 * tp + fp + fn
    return float("nan") if den == 0 else float(2 * tp / den)


def _paper_ma_f1(c: _Counts) -> float:
    tp, fp, fn = (x.astype(np.float64) for x in (c.tp_l, c.fp_l, c.fn_l))
    return float(np.mean(2 * tp / (2 * tp + fp + fn + PAPER_MACRO_F1_EPS)))


def _paper_ha(c: _Counts) -> float:
    # official: 1 - mean over samples of mean over labels of XOR (identical value, as each row has L)
    return float(1.0 - np.mean(c.wrong_s / c.L))


# ----------------------------------------------------------------------------------------------
# ranking helpers
# ----------------------------------------------------------------------------------------------


class _Groups:
    """Each row of ``scores`` sorted by decreasing score, summarized as groups of tied scores.

    One entry per (row, group of equal scores), in decreasing-score order within each row:
    ``row``; ``start``/``end`` (0-based positions of the group's first/last item in the sorted row);
    ``pos`` (#relevant items in the group); ``pos_end`` (#relevant items scoring >= the group's
    score). The order of items inside a tie group does not matter for any metric computed here.
    """

    def __init__(self, scores: np.ndarray, rel: np.ndarray):
        n, m = scores.shape
        order = np.argsort(-scores, axis=1)
        s = np.take_along_axis(scores, order, axis=1)
        r = np.take_along_axis(rel, order, axis=1)
        is_start = np.empty((n, m), dtype=bool)
        is_start[:, 0] = True
        np.not_equal(s[:, 1:], s[:, :-1], out=is_start[:, 1:])
        starts = np.flatnonzero(is_start)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:] - 1
        ends[-1] = n * m - 1
        pos_cum = np.cumsum(r, axis=1, dtype=np.int64)
        self.n_rows, self.m = n, m
        self.n_pos = pos_cum[:, -1]
        flat_cum = pos_cum.ravel()
        self.row = starts // m
        self.start = starts - self.row * m
        self.end = ends - self.row * m
        self.pos_end = flat_cum[ends]
        self.pos = self.pos_end - (flat_cum[starts] - r.ravel()[starts])

    def row_sum(self, weights: np.ndarray) -> np.ndarray:
        return np.bincount(self.row, weights=weights, minlength=self.n_rows)

    def neg_upto_end(self) -> np.ndarray:
        """Per group: #irrelevant items scoring >= the group's score (ties included)."""
        return (self.end + 1) - self.pos_end

    def neg_above(self) -> np.ndarray:
        """Per group: #irrelevant items scoring strictly higher than the group."""
        return self.start - (self.pos_end - self.pos)


class ScoreContext:
    """Validated arrays plus lazily computed sort orders shared by several metrics."""

    def __init__(self, y: np.ndarray, s: np.ndarray | None, zero_division: float = 0.0):
        self.y = y
        self.s = s
        self.zero_division = zero_division
        self._topk_hits: dict[int, np.ndarray] = {}
        self._top: dict[int, np.ndarray] = {}

    @cached_property
    def rows(self) -> _Groups:  # samples: ranking of labels
        return _Groups(self.s, self.y)

    @cached_property
    def cols(self) -> _Groups:  # labels: ranking of samples
        return _Groups(np.ascontiguousarray(self.s.T), np.ascontiguousarray(self.y.T))

    @cached_property
    def true_l(self) -> np.ndarray:
        return np.count_nonzero(self.y, axis=0).astype(np.int64)

    @cached_property
    def true_s(self) -> np.ndarray:
        return np.count_nonzero(self.y, axis=1).astype(np.int64)

    def counts(self, p: np.ndarray) -> _Counts:
        return _counts(self.y, p, self.true_l, self.true_s, self.zero_division)

    def counts_at(self, thresholds: Sequence[float], max_cells: int = 1 << 24) -> list[_Counts]:
        """``counts(binarize_checked(s, t))`` for each ``t``, with the grid's thresholds
        binarized and counted together (at most ``max_cells`` booleans at a time): the same
        integers, 5x faster than one threshold at a time over the 19 of VAL_GRID on yeast's
        validation part, which model selection scores after every epoch (measured)."""
        y, s = self.y, self.s
        per = max(1, max_cells // max(1, y.size))
        out: list[_Counts] = []
        for start in range(0, len(thresholds), per):
            t = np.asarray(thresholds[start : start + per], dtype=s.dtype)[:, None, None]
            p = s[None] >= t
            tp = p & y[None]
            tp_l = np.count_nonzero(tp, axis=1).astype(np.int64)
            pred_l = np.count_nonzero(p, axis=1).astype(np.int64)
            tp_s = np.count_nonzero(tp, axis=2).astype(np.int64)
            pred_s = np.count_nonzero(p, axis=2).astype(np.int64)
            out += [
                _Counts(
                    n=y.shape[0],
                    L=y.shape[1],
                    tp_l=tp_l[i],
                    fp_l=pred_l[i] - tp_l[i],
                    fn_l=self.true_l - tp_l[i],
                    tp_s=tp_s[i],
                    true_s=self.true_s,
                    pred_s=pred_s[i],
                    zero_division=self.zero_division,
                )
                for i in range(len(t))
            ]
        return out

    def kth_largest(self, k: int) -> np.ndarray:
        """(n, 1) array: the k-th largest score of each row (1 <= k <= L)."""
        K = min(max(k, 5), self.s.shape[1])
        top = self._top.get(K)
        if top is None:
            part = np.partition(-self.s, list(range(K)), axis=1)[:, :K]
            top = self._top[K] = -part
        return top[:, k - 1 : k]

    def topk_hits(self, k: int) -> np.ndarray:
        """Per sample: #relevant labels among the top k, ties broken by lower label index first.

        Same result as ``argsort(-scores, kind='stable')[:, :k]``, without a full sort: with v the
        k-th largest score, take every label scoring > v, then the lowest-index labels scoring == v.
        """
        if k not in self._topk_hits:
            s, y = self.s, self.y
            n, m = s.shape
            if k >= m:
                hits = self.true_s
            elif k == 1:
                top = np.argmax(s, axis=1)  # first occurrence of the max = lowest index
                hits = y[np.arange(n), top].astype(np.int64)
            else:
                kth = self.kth_largest(k)
                above = s > kth
                room = k - np.count_nonzero(above, axis=1)
                tied = s == kth
                take = tied & (np.cumsum(tied, axis=1, dtype=np.int32) <= room[:, None])
                hits = np.count_nonzero(y & (above | take), axis=1).astype(np.int64)
            self._topk_hits[k] = hits
        return self._topk_hits[k]

    def paper_topk_hits(self, k: int) -> np.ndarray:
        """Per sample: #relevant labels in ``np.argsort(scores)[:, ::-1][:, :k]`` (official order).

        Rows whose top-k set is unambiguous (no tie across the k-th position) do not depend on the
        tie order; the other rows are argsorted exactly as the official code does (numpy sorts each
        row independently, so the subset gives the same order as the full matrix).
        """
        s, y = self.s, self.y
        n, m = s.shape
        if k >= m:
            return self.true_s
        kth = self.kth_largest(k)
        ge = s >= kth
        hits = np.count_nonzero(y & ge, axis=1).astype(np.int64)
        amb = np.flatnonzero(np.count_nonzero(ge, axis=1) > k)
        if amb.size:
            order = np.argsort(s[amb], axis=1)[:, ::-1][:, :k]
            hits[amb] = np.count_nonzero(np.take_along_axis(y[amb], order, axis=1), axis=1)
        return hits


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MlbenchError(f"k for precision@k must be a positive integer, got {k!r}")
    return int(k)


# honest ranking ------------------------------------------------------------------------------------


def _p_at_k(ctx: ScoreContext, k: int) -> float:
    has = ctx.true_s > 0
    if not has.any():
        return float("nan")
    return float(np.mean(ctx.topk_hits(k)[has] / k))


def _one_error(ctx: ScoreContext) -> float:
    has = ctx.true_s > 0
    if not has.any():
        return float("nan")
    return float(np.mean(ctx.topk_hits(1)[has] == 0))


def _coverage(ctx: ScoreContext) -> float:
    has = ctx.true_s > 0
    if not has.any():
        return float("nan")
    y, s = ctx.y[has], ctx.s[has]
    # 1-based depth of the lowest-scored relevant label, ties counted pessimistically
    lowest = np.where(y, s, np.inf).min(axis=1, keepdims=True)
    return float(np.mean(np.count_nonzero(s >= lowest, axis=1)))


def _ranking_loss(ctx: ScoreContext) -> float:
    n_pos = ctx.true_s
    n_neg = ctx.y.shape[1] - n_pos
    ok = (n_pos > 0) & (n_neg > 0)
    if not ok.any():
        return float("nan")
    g = ctx.rows
    bad_pairs = g.row_sum(g.pos * g.neg_upto_end())
    return float(np.mean(bad_pairs[ok] / (n_pos[ok] * n_neg[ok])))


def _ap_per_label(ctx: ScoreContext) -> np.ndarray:
    """sklearn-style AP per label (nan for labels without positives).

    AP = (1/P) * Σ over positives of the precision at the end of its tie group
       = Σ over distinct thresholds of (R_t - R_{t-1}) * P_t.
    """
    g = ctx.cols
    total = g.row_sum(g.pos * (g.pos_end / (g.end + 1.0)))
    ap = np.full(g.n_rows, np.nan)
    np.divide(total, g.n_pos, out=ap, where=g.n_pos > 0)
    return ap


def _map(ctx: ScoreContext) -> float:
    ap = _ap_per_label(ctx)
    ok = ~np.isnan(ap)
    return float(np.mean(ap[ok])) if ok.any() else float("nan")


def _auc_per_label(ctx: ScoreContext) -> np.ndarray:
    """ROC AUC per label (Mann-Whitney, ties count 1/2); nan for single-class labels."""
    g = ctx.cols
    n_neg = g.m - g.n_pos
    upto = g.neg_upto_end()
    lower = n_neg[g.row] - upto
    equal = upto - g.neg_above()
    total = g.row_sum(g.pos * (lower + 0.5 * equal))
    den = (g.n_pos * n_neg).astype(np.float64)
    auc = np.full(g.n_rows, np.nan)
    np.divide(total, den, out=auc, where=den > 0)
    return auc


def _macro_auc(ctx: ScoreContext) -> float:
    auc = _auc_per_label(ctx)
    ok = ~np.isnan(auc)
    return float(np.mean(auc[ok])) if ok.any() else float("nan")


# paper ranking -------------------------------------------------------------------------------------


def _paper_p_at_k(ctx: ScoreContext, k: int) -> float:
    # official ranking_precision_score: order = argsort(score)[:, ::-1]; mean over ALL samples
    return float(np.mean(ctx.paper_topk_hits(k) / k))


def _paper_map(ctx: ScoreContext) -> float:
    ap = _ap_per_label(ctx)
    ap[np.isnan(ap)] = 0.0  # sklearn >= 1.x gives AP 0 (with a warning) for labels without positives
    return float(np.mean(ap))


# ----------------------------------------------------------------------------------------------
# public metric functions
# ----------------------------------------------------------------------------------------------


def _threshold_public(impl: Callable[[_Counts], float]) -> Callable:
    def fn(y_true, y_pred, *, zero_division: float = 0.0) -> float:
        z = check_zero_division(zero_division)
        y, _, p = validate_inputs(y_true, y_pred=y_pred)
        return impl(_counts(y, p, zero_division=z))

    return fn


def _ranking_public(impl: Callable[[ScoreContext], float]) -> Callable:
    def fn(y_true, scores) -> float:
        y, s, _ = validate_inputs(y_true, scores=scores)
        return impl(ScoreContext(y, s))

    return fn


def hamming_accuracy(y_true, y_pred) -> float:
    """Hamming accuracy ``ha`` = 1 - Hamming loss = (1 / nL) * sum_i sum_j [y_ij == yhat_ij]."""
    return _threshold_public(_ha)(y_true, y_pred)


def hamming_loss(y_true, y_pred) -> float:
    """Hamming loss ``hamming-loss`` = (1 / nL) * sum_i sum_j [y_ij != yhat_ij] = 1 - ``ha``
    (Schapire & Singer 2000; ``sklearn.metrics.hamming_loss``). Lower is better.

    >>> hamming_loss([[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 1, 0]])  # 2 wrong cells of 6
    0.3333333333333333
    """
    return _threshold_public(_hamming_loss)(y_true, y_pred)


def subset_accuracy(y_true, y_pred) -> float:
    """Subset accuracy ``subset-acc`` (exact match ratio) = (1/n) * sum_i [y_i == yhat_i for all labels]."""
    return _threshold_public(_subset)(y_true, y_pred)


def example_f1(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Example-based F1 ``ex-f1`` = (1/n) * sum_i 2|y_i ∧ yhat_i| / (|y_i| + |yhat_i|).

    A sample with no true and no predicted label scores ``zero_division`` (0 by default, or 1);
    this equals ``sklearn.metrics.f1_score(average='samples', zero_division=...)``.
    """
    return _threshold_public(_ex_f1)(y_true, y_pred, zero_division=zero_division)


def jaccard(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Example-based accuracy ``jaccard`` (Godbole & Sarawagi 2004; MEKA's and Mulan's "accuracy")
    = (1/n) * sum_i |y_i ∧ yhat_i| / |y_i ∨ yhat_i|.

    A sample with no true and no predicted label scores ``zero_division`` (0 by default);
    ``sklearn.metrics.jaccard_score(average='samples', zero_division=...)``.

    >>> jaccard([[1, 1, 0], [0, 0, 1]], [[1, 0, 1], [0, 0, 1]])  # (1/3 + 1/1) / 2
    0.6666666666666666
    >>> jaccard([[0, 0]], [[0, 0]]), jaccard([[0, 0]], [[0, 0]], zero_division=1)
    (0.0, 1.0)
    """
    return _threshold_public(_jaccard)(y_true, y_pred, zero_division=zero_division)


def example_precision(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Example-based precision ``ex-precision`` = (1/n) * sum_i |y_i ∧ yhat_i| / |yhat_i|.

    A sample with no predicted label scores ``zero_division`` (0 by default);
    ``sklearn.metrics.precision_score(average='samples', zero_division=...)``.

    >>> example_precision([[1, 1, 0], [0, 1, 0]], [[1, 0, 1], [0, 0, 0]])  # (1/2 + 0) / 2
    0.25
    """
    return _threshold_public(_ex_precision)(y_true, y_pred, zero_division=zero_division)


def example_recall(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Example-based recall ``ex-recall`` = (1/n) * sum_i |y_i ∧ yhat_i| / |y_i|.

    A sample with no true label scores ``zero_division`` (0 by default);
    ``sklearn.metrics.recall_score(average='samples', zero_division=...)``.

    >>> example_recall([[1, 1, 0], [0, 0, 0]], [[1, 0, 1], [0, 1, 0]], zero_division=1)  # (1/2 + 1) / 2
    0.75
    """
    return _threshold_public(_ex_recall)(y_true, y_pred, zero_division=zero_division)


def micro_f1(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Micro-F1 ``mi-f1`` = 2 Σ_j tp_j / (2 Σ_j tp_j + Σ_j fp_j + Σ_j fn_j).

    ``zero_division`` (0 by default) when there is no true and no predicted label at all
    (``sklearn f1_score(average='micro', zero_division=...)``).
    """
    return _threshold_public(_mi_f1)(y_true, y_pred, zero_division=zero_division)


def macro_f1(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Macro-F1 ``ma-f1`` = (1/L) Σ_j 2 tp_j / (2 tp_j + fp_j + fn_j), over ALL labels.

    A label with no positive and no positive prediction scores ``zero_division`` (0 by default, or
    1); a label with no positive but some positive predictions scores 0 (``sklearn
    f1_score(average='macro', zero_division=...)``).

    >>> macro_f1([[1, 0], [0, 0]], [[1, 0], [0, 0]])  # label 2 is 0/0
    0.5
    >>> macro_f1([[1, 0], [0, 0]], [[1, 0], [0, 0]], zero_division=1)
    1.0
    """
    return _threshold_public(_ma_f1)(y_true, y_pred, zero_division=zero_division)


def precision_at_k(y_true, scores, k: int = 1) -> float:
    """Precision at k ``p@k`` = mean over samples with >= 1 true label of |top-k(s_i) ∩ y_i| / k.

    Samples without true labels are skipped (nothing to rank); ``nan`` if no sample has a label.
    Ties are broken deterministically: among equal scores the lower label index ranks first (stable
    sort of ``-scores``). The denominator is always ``k``, also when k > L.
    """
    k = _check_k(k)
    return _ranking_public(partial(_p_at_k, k=k))(y_true, scores)


def mean_average_precision(y_true, scores) -> float:
    """``map`` = mean over labels with >= 1 positive of the average precision of that label.

    AP_j = Σ_t (R_t - R_{t-1}) P_t over the distinct score thresholds t of column j (scikit-learn's
    ``average_precision_score``, no interpolation). Labels without positives are skipped (not counted
    as 0); ``nan`` if no label has a positive.
    """
    return _ranking_public(_map)(y_true, scores)


def macro_auc(y_true, scores) -> float:
    """``macro-auc`` = mean over labels having both classes of the ROC AUC of that label.

    AUC_j = P(s_pos > s_neg) + 0.5 P(s_pos == s_neg) (= ``sklearn roc_auc_score`` per column).
    Single-class labels are skipped; ``nan`` if no label has both classes.
    """
    return _ranking_public(_macro_auc)(y_true, scores)


def ranking_loss(y_true, scores) -> float:
    """``ranking-loss`` (Zhang & Zhou 2014): mean over samples of the fraction of (relevant, irrelevant)
    label pairs ordered wrongly, |{(a, b) ∈ Y_i × Ybar_i : s_ia <= s_ib}| / (|Y_i| |Ybar_i|).

    Ties count as wrongly ordered (as in ``sklearn label_ranking_loss``). Samples with no true label
    or with every label true are skipped (sklearn instead averages them in as 0); ``nan`` if none
    is left. Lower is better.
    """
    return _ranking_public(_ranking_loss)(y_true, scores)


def coverage(y_true, scores) -> float:
    """``coverage``: mean over samples with >= 1 true label of how far down the ranking one must go to
    cover every true label, 1-based: |{j : s_ij >= min_{a in Y_i} s_ia}|.

    This is ``sklearn coverage_error`` (ties counted pessimistically); the Zhang & Zhou (2014)
    0-based coverage is this value minus 1. Samples with no true label are skipped (sklearn counts
    them as 0); ``nan`` if none is left. Lower is better.
    """
    return _ranking_public(_coverage)(y_true, scores)


def one_error(y_true, scores) -> float:
    """``one-error`` (Zhang & Zhou 2014): fraction of samples whose top-ranked label is not relevant.

    Samples with no true label are skipped; ties at the top are broken as in :func:`precision_at_k`
    (lower label index first), so one-error = 1 - p@1 exactly. Lower is better.
    """
    return _ranking_public(_one_error)(y_true, scores)


# paper (official code) ----------------------------------------------------------------------------


def paper_hamming_accuracy(y_true, y_pred) -> float:
    """Official HA: 1 - mean over samples of mean over labels of XOR(y, yhat). Same value as :func:`hamming_accuracy`."""
    return _threshold_public(_paper_ha)(y_true, y_pred)


def paper_subset_accuracy(y_true, y_pred) -> float:
    """Official ACC: mean of ``all(y_i == yhat_i)``. Same value as :func:`subset_accuracy`."""
    return _threshold_public(_subset)(y_true, y_pred)


def paper_example_f1(y_true, y_pred) -> float:
    """Official ebF1: per sample 2 tp / (|y| + |yhat|); samples with |y| + |yhat| = 0 are DELETED from
    the average (neither 1 nor 0). ``nan`` if every sample is deleted."""
    return _threshold_public(_paper_ex_f1)(y_true, y_pred)


def paper_micro_f1(y_true, y_pred) -> float:
    """Official miF1: 2Σtp / (2Σtp + Σfp + Σfn); ``nan`` when the denominator is 0."""
    return _threshold_public(_paper_mi_f1)(y_true, y_pred)


def paper_macro_f1(y_true, y_pred) -> float:
    """Official maF1: (1/L) Σ_j 2 tp_j / (2 tp_j + fp_j + fn_j + 1e-6) over ALL labels.

    Labels with no positive score 0 whatever is predicted, and every F1 is shrunk by the 1e-6.
    (The official code works in float32, where the 1e-6 partly rounds away for large counts; we use
    float64, so values can differ from it by ~1e-7.)
    """
    return _threshold_public(_paper_ma_f1)(y_true, y_pred)


def paper_precision_at_k(y_true, scores, k: int = 1) -> float:
    """Official ``ranking_precision_score``: labels ranked by ``np.argsort(scores)[:, ::-1]``
    (ties follow numpy's default argsort order, reversed); (#relevant in top k) / k averaged over
    ALL samples, so samples without labels count 0."""
    k = _check_k(k)
    return _ranking_public(partial(_paper_p_at_k, k=k))(y_true, scores)


def paper_mean_average_precision(y_true, scores) -> float:
    """MulSupCon mAP: ``np.mean(average_precision_score(y, s, average=None))`` over ALL labels, with
    AP = 0 for labels without positives (what current scikit-learn returns; computed here without
    sklearn, so it does not depend on its version and emits no warning)."""
    return _ranking_public(_paper_map)(y_true, scores)


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    """A metric: ``fn(y_true, y_pred)`` if ``needs_threshold`` else ``fn(y_true, scores)``."""

    id: str
    display_name: str
    needs_threshold: bool
    higher_is_better: bool
    fn: Callable[..., float]
    definition: str = "honest"  # "honest" or "paper"
    # internal fast path: impl(_Counts) for threshold metrics, impl(ScoreContext) for ranking metrics
    _impl: Callable[..., float] | None = field(default=None, repr=False, compare=False)

    def __call__(self, y_true, y_pred_or_scores) -> float:
        return self.fn(y_true, y_pred_or_scores)


def _spec(id, name, thr, hib, fn, impl, definition="honest") -> MetricSpec:
    return MetricSpec(id, name, thr, hib, fn, definition, impl)


def _pk(k):
    f = partial(precision_at_k, k=k)
    f.__doc__ = precision_at_k.__doc__
    return f


def _ppk(k):
    f = partial(paper_precision_at_k, k=k)
    f.__doc__ = paper_precision_at_k.__doc__
    return f


METRICS: dict[str, MetricSpec] = {
    s.id: s
    for s in [
        _spec("ha", "Hamming acc.", True, True, hamming_accuracy, _ha),
        _spec("ex-f1", "Example-F1", True, True, example_f1, _ex_f1),
        _spec("mi-f1", "Micro-F1", True, True, micro_f1, _mi_f1),
        _spec("ma-f1", "Macro-F1", True, True, macro_f1, _ma_f1),
        _spec("p@1", "P@1", False, True, _pk(1), partial(_p_at_k, k=1)),
        _spec("map", "mAP", False, True, mean_average_precision, _map),
        _spec("p@3", "P@3", False, True, _pk(3), partial(_p_at_k, k=3)),
        _spec("p@5", "P@5", False, True, _pk(5), partial(_p_at_k, k=5)),
        _spec("subset-acc", "Subset acc.", True, True, subset_accuracy, _subset),
        _spec("ranking-loss", "Ranking loss", False, False, ranking_loss, _ranking_loss),
        _spec("coverage", "Coverage", False, False, coverage, _coverage),
        _spec("one-error", "One-error", False, False, one_error, _one_error),
        _spec("macro-auc", "Macro-AUC", False, True, macro_auc, _macro_auc),
        # MEKA's / Mulan's example-based metrics (after the others: the canonical order is kept)
        _spec("hamming-loss", "Hamming loss", True, False, hamming_loss, _hamming_loss),
        _spec("jaccard", "Jaccard", True, True, jaccard, _jaccard),
        _spec("ex-precision", "Ex. precision", True, True, example_precision, _ex_precision),
        _spec("ex-recall", "Ex. recall", True, True, example_recall, _ex_recall),
    ]
}

#: All metric ids, in canonical (reporting) order.
METRIC_IDS: tuple[str, ...] = tuple(METRICS)
THRESHOLD_METRIC_IDS: tuple[str, ...] = tuple(m for m, s in METRICS.items() if s.needs_threshold)
RANKING_METRIC_IDS: tuple[str, ...] = tuple(m for m, s in METRICS.items() if not s.needs_threshold)

_PAPER_OVERRIDES = [
    _spec("ha", "Hamming acc.", True, True, paper_hamming_accuracy, _paper_ha, "paper"),
    _spec("ex-f1", "Example-F1", True, True, paper_example_f1, _paper_ex_f1, "paper"),
    _spec("mi-f1", "Micro-F1", True, True, paper_micro_f1, _paper_mi_f1, "paper"),
    _spec("ma-f1", "Macro-F1", True, True, paper_macro_f1, _paper_ma_f1, "paper"),
    _spec("p@1", "P@1", False, True, _ppk(1), partial(_paper_p_at_k, k=1), "paper"),
    _spec("map", "mAP", False, True, paper_mean_average_precision, _paper_map, "paper"),
    _spec("p@3", "P@3", False, True, _ppk(3), partial(_paper_p_at_k, k=3), "paper"),
    _spec("p@5", "P@5", False, True, _ppk(5), partial(_paper_p_at_k, k=5), "paper"),
    _spec("subset-acc", "Subset acc.", True, True, paper_subset_accuracy, _subset, "paper"),
]

#: Paper (official-code) definitions. Metrics the official code does not define differently
#: (ranking-loss, coverage, one-error, macro-auc: MPVAE's per-label AUC skipping single-class labels
#: is the honest definition) are the honest specs.
PAPER_METRICS: dict[str, MetricSpec] = {
    **METRICS,
    **{s.id: s for s in _PAPER_OVERRIDES},
}


def _measured_at_training(metric_id: str) -> Callable[..., float]:
    def not_from_scores(*_args, **_kwargs) -> float:
        raise MlbenchError(_cost_refusal(metric_id))

    return not_from_scores


def _cost_refusal(metric_id: str) -> str:
    return (
        f"{metric_id} is a cost measured while a run trains (kept in its status.json and the "
        f"results store), not a metric computed from scores; use one of: "
        f"{', '.join(METRIC_IDS)}."
    )


def _cost(id, name) -> MetricSpec:
    return MetricSpec(id, name, False, False, _measured_at_training(id), "cost")


#: What a run cost, recorded by :func:`mlbench.runs.runner.train_run` (see
#: :mod:`mlbench.runs.cost`) as store rows beside the metrics, so ``table``/``stats``/``plot``
#: render them like any metric (lower is better). They are declared here, with the metrics, so
#: that every metric id has one spec, but are not computed from scores: :func:`compute_metrics`,
#: :func:`resolve_metric_ids` and the protocols refuse them and ``metric_ids=None`` leaves them
#: out, so re-evaluating saved scores neither computes nor overwrites them.
COST_METRICS: dict[str, MetricSpec] = {
    s.id: s
    for s in [
        _cost("fit-seconds", "Fit seconds"),
        _cost("predict-seconds", "Predict seconds"),
        _cost("peak-mb", "Peak memory MB"),
        _cost("peak-gpu-mb", "Peak GPU memory MB"),
    ]
}
COST_METRIC_IDS: tuple[str, ...] = tuple(COST_METRICS)


def get_metric(metric_id: str, definitions: str = "honest") -> MetricSpec:
    """The :class:`MetricSpec` for ``metric_id`` (case-insensitive), a cost
    (:data:`COST_METRICS`) included; MlbenchError with suggestions if unknown."""
    table = _table(definitions)
    key = str(metric_id).strip().lower()
    if key in COST_METRICS:
        return COST_METRICS[key]
    if key not in table:
        raise MlbenchError(suggest(str(metric_id), {**table, **COST_METRICS}, "metric"))
    return table[key]


def _table(definitions: str) -> dict[str, MetricSpec]:
    if definitions == "honest":
        return METRICS
    if definitions == "paper":
        return PAPER_METRICS
    raise MlbenchError(suggest(str(definitions), DEFINITIONS, "metric definitions"))


def resolve_metric_ids(metric_ids: Iterable[str] | str | None) -> list[str]:
    """Normalize a list of metric ids (``None`` = all, in canonical order); unknown ids -> MlbenchError."""
    if metric_ids is None:
        return list(METRIC_IDS)
    if isinstance(metric_ids, str):
        metric_ids = [m for m in metric_ids.split(",") if m.strip()]
    out: list[str] = []
    for m in metric_ids:
        key = get_metric(m).id
        if key in COST_METRICS:
            raise MlbenchError(_cost_refusal(key))
        if key not in out:
            out.append(key)
    if not out:
        raise MlbenchError("no metric ids given")
    return out


def _compute(
    ctx: ScoreContext,
    pred: np.ndarray | None,
    ids: Sequence[str],
    table: dict[str, MetricSpec],
) -> dict[str, float]:
    counts = ctx.counts(pred) if pred is not None else None
    out: dict[str, float] = {}
    for m in ids:
        spec = table[m]
        out[m] = spec._impl(counts) if spec.needs_threshold else spec._impl(ctx)
    return out


def compute_metrics(
    y_true,
    scores,
    thresholds: float | Sequence[float] | np.ndarray = 0.5,
    metric_ids: Iterable[str] | str | None = None,
    *,
    definitions: str = "honest",
    zero_division: float = 0.0,
) -> dict[str, float]:
    """Compute metrics at one threshold (a number or one per label, shape (L,)).

    Predictions are ``scores >= thresholds``. ``metric_ids``: ids from :data:`METRICS` (``None`` = all,
    canonical order). ``definitions``: ``"honest"`` (:data:`METRICS`) or ``"paper"``
    (:data:`PAPER_METRICS`). ``zero_division`` (0 or 1): the score of a 0/0 sample or label in the
    honest definitions (the official ones keep their own). Returns ``{metric_id: float}`` in the
    requested order; a metric that is undefined on the data (see its docstring) is ``nan``.
    """
    table = _table(definitions)
    z = check_zero_division(zero_division)
    ids = resolve_metric_ids(metric_ids)
    y, s, _ = validate_inputs(y_true, scores=scores)
    t = _check_thresholds(thresholds, y.shape[1])
    ctx = ScoreContext(y, s, z)
    needs_pred = any(table[m].needs_threshold for m in ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _compute(ctx, binarize_checked(s, t) if needs_pred else None, ids, table)
