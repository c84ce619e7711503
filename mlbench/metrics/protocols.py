"""Threshold protocols: how score matrices become the reported numbers.

Every :class:`EvalResult` records the protocol that produced it.

``fixed``
    Honest metrics (:data:`mlbench.metrics.METRICS`) at one global threshold (default 0.5).
``val``
    One global threshold chosen on the *validation* set to maximize ``selection_metric`` over
    :data:`VAL_GRID` (0.05, 0.10, ..., 0.95), then applied to the test set with the honest
    definitions. Ties (values within 1e-12) go to the threshold closest to 0.5, then the lower one.
``paper``
    What the official C-GMVAE / MPVAE / MulSupCon test code does: the paper definitions
    (:data:`mlbench.metrics.PAPER_METRICS`), and *each* threshold metric separately maximized over
    t in :data:`PAPER_GRID` = {0.1, ..., 0.9} **on the test set** (an oracle threshold, hence
    optimistic). Threshold-free metrics are computed once (p@k and map with the paper definitions).
    Ties keep the lowest threshold (as the official ``max`` loop does).

Ranking (threshold-free) metrics are identical under ``fixed`` and ``val``. ``zero_division`` (0 by
default, or 1) is the score of a 0/0 sample or label in the honest threshold metrics under every
protocol (the paper definitions keep the official code's); each result records it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from mlbench.errors import MlbenchError, suggest
from mlbench.metrics import (
    METRICS,
    PAPER_METRICS,
    THRESHOLD_METRIC_IDS,
    ScoreContext,
    binarize_checked,
    check_zero_division,
    get_metric,
    resolve_metric_ids,
    validate_inputs,
)

__all__ = [
    "PROTOCOLS",
    "VAL_GRID",
    "PAPER_GRID",
    "EvalResult",
    "evaluate",
    "best_threshold",
    "get_protocol",
]

PROTOCOLS: tuple[str, ...] = ("fixed", "val", "paper")

#: Validation-protocol grid: 0.05, 0.10, ..., 0.95 (19 values).
VAL_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))

#: Official test-time grid of C-GMVAE and MulSupCon: ``[i / 10. for i in range(1, 10)]``.
PAPER_GRID: tuple[float, ...] = tuple(i / 10.0 for i in range(1, 10))

PAPER_DESCRIPTION = (
    "paper: each metric maximized over thresholds 0.1..0.9 on the TEST set (optimistic oracle "
    "threshold, as in the official C-GMVAE/MPVAE/MulSupCon code)"
)

_TIE_TOL = 1e-12


@dataclass
class EvalResult:
    """Metrics of one score matrix under one protocol.

    ``thresholds``: the threshold used (float) for ``fixed``/``val``; for ``paper`` a dict
    ``{metric_id: best test threshold}`` over the threshold metrics. ``selection_metric``: the
    metric the ``val`` threshold was chosen for; ``extra``: protocol details (``val``:
    ``val_selection_value``, the selection metric on the validation set at the chosen threshold).
    ``zero_division``: the score given to 0/0 samples or labels by the honest threshold metrics.
    """

    protocol: str
    metrics: dict[str, float]
    thresholds: float | dict[str, float]
    description: str
    selection_metric: str | None = None
    extra: dict = field(default_factory=dict)
    zero_division: float = 0.0

    def to_dict(self) -> dict:
        """JSON-friendly dict (NaN kept as float nan)."""
        d = asdict(self)
        d["metrics"] = {k: float(v) for k, v in self.metrics.items()}
        if isinstance(self.thresholds, dict):
            d["thresholds"] = {k: float(v) for k, v in self.thresholds.items()}
        else:
            d["thresholds"] = float(self.thresholds)
        return d


def get_protocol(name: str) -> str:
    """Normalize a protocol name; MlbenchError with suggestions if unknown."""
    key = str(name).strip().lower()
    if key not in PROTOCOLS:
        raise MlbenchError(suggest(str(name), PROTOCOLS, "protocol"))
    return key


def _check_grid(grid) -> tuple[float, ...]:
    try:
        g = np.asarray(grid, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise MlbenchError(f"threshold grid must be numbers in [0, 1], got {grid!r}") from None
    if g.size == 0:
        raise MlbenchError("threshold grid is empty")
    if not np.isfinite(g).all() or (g < 0).any() or (g > 1).any():
        raise MlbenchError("threshold grid must contain only numbers in [0, 1]")
    return tuple(float(v) for v in g)


def _selection_spec(metric_id: str):
    spec = get_metric(metric_id)
    if not spec.needs_threshold:
        raise MlbenchError(
            f"selection metric {spec.id!r} does not depend on the threshold; "
            f"use one of: {', '.join(THRESHOLD_METRIC_IDS)}"
        )
    return spec


def _pick(values: Sequence[float], grid: Sequence[float], higher_is_better: bool) -> int:
    """Index of the best value; ties -> threshold closest to 0.5, then the lower threshold."""
    v = np.asarray(values, dtype=np.float64)
    if not higher_is_better:
        v = -v
    finite = ~np.isnan(v)
    if not finite.any():
        raise MlbenchError("the selection metric is undefined (nan) at every threshold of the grid")
    best = np.max(v[finite])
    cands = [i for i in range(len(v)) if finite[i] and v[i] >= best - _TIE_TOL * max(1.0, abs(best))]
    return min(cands, key=lambda i: (abs(grid[i] - 0.5), grid[i]))


def _best_on_ctx(ctx: ScoreContext, spec, grid: Sequence[float]) -> tuple[float, float]:
    values = [spec._impl(counts) for counts in ctx.counts_at(grid)]
    i = _pick(values, grid, spec.higher_is_better)
    return grid[i], values[i]


def best_threshold(
    y_true,
    scores,
    metric_id: str = "ma-f1",
    grid: Iterable[float] = VAL_GRID,
    zero_division: float = 0.0,
) -> tuple[float, float]:
    """The global threshold of ``grid`` that optimizes ``metric_id`` (honest definition).

    Returns ``(threshold, metric value at it)``. Ties (within 1e-12) go to the threshold closest
    to 0.5, then to the lower one. ``metric_id`` must be a threshold metric.
    """
    spec = _selection_spec(metric_id)
    g = _check_grid(grid)
    z = check_zero_division(zero_division)
    y, s, _ = validate_inputs(y_true, scores=scores)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _best_on_ctx(ScoreContext(y, s, z), spec, g)


def _fmt(t: float) -> str:
    return f"{t:g}"


def evaluate(
    y_true,
    scores,
    protocol: str = "fixed",
    *,
    y_true_val=None,
    scores_val=None,
    threshold: float = 0.5,
    selection_metric: str = "ma-f1",
    metric_ids: Iterable[str] | str | None = None,
    zero_division: float = 0.0,
) -> EvalResult:
    """Evaluate test ``scores`` against ``y_true`` under ``protocol`` (see module docstring).

    ``threshold`` is used by ``fixed`` only (must be in (0, 1)); ``y_true_val``/``scores_val`` and
    ``selection_metric`` by ``val`` only. ``metric_ids``: ids to report (``None`` = all).
    ``zero_division``: 0 or 1, see the module docstring.
    """
    proto = get_protocol(protocol)
    ids = resolve_metric_ids(metric_ids)
    z = check_zero_division(zero_division)
    y, s, _ = validate_inputs(y_true, scores=scores)
    ctx = ScoreContext(y, s, z)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if proto == "fixed":
            t = _check_fixed_threshold(threshold)
            metrics = _honest(ctx, t, ids)
            return EvalResult("fixed", metrics, t, f"fixed threshold {_fmt(t)}", zero_division=z)

        if proto == "val":
            spec = _selection_spec(selection_metric)
            missing = [n for n, v in (("y_true_val", y_true_val), ("scores_val", scores_val)) if v is None]
            if missing:
                raise MlbenchError(f"protocol 'val' needs validation data: pass {' and '.join(missing)}")
            yv, sv, _ = validate_inputs(y_true_val, scores=scores_val, names=("y_true_val", "scores_val", "y_pred"))
            if yv.shape[1] != y.shape[1]:
                raise MlbenchError(f"validation data has {yv.shape[1]} labels but test data has {y.shape[1]}")
            t, v = _best_on_ctx(ScoreContext(yv, sv, z), spec, VAL_GRID)
            metrics = _honest(ctx, t, ids)
            verb = "maximize" if spec.higher_is_better else "minimize"
            return EvalResult(
                "val",
                metrics,
                t,
                f"threshold {_fmt(t)} chosen on validation to {verb} {spec.id}",
                selection_metric=spec.id,
                extra={"val_selection_value": float(v)},
                zero_division=z,
            )

        # paper
        metrics, thresholds = _paper(ctx, ids)
        return EvalResult("paper", metrics, thresholds, PAPER_DESCRIPTION, zero_division=z)


def _check_fixed_threshold(threshold) -> float:
    if isinstance(threshold, bool):
        raise MlbenchError(f"threshold must be a number in (0, 1), got {threshold!r}")
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise MlbenchError(f"threshold must be a number in (0, 1), got {threshold!r}") from None
    if not (0.0 < t < 1.0):  # also rejects nan
        raise MlbenchError(f"threshold must be a number in (0, 1), got {threshold!r}")
    return t


def _honest(ctx: ScoreContext, t: float, ids: Sequence[str]) -> dict[str, float]:
    counts = None
    out: dict[str, float] = {}
    for m in ids:
        spec = METRICS[m]
        if spec.needs_threshold:
            if counts is None:
                counts = ctx.counts(binarize_checked(ctx.s, t))
            out[m] = spec._impl(counts)
        else:
            out[m] = spec._impl(ctx)
    return out


def _paper(ctx: ScoreContext, ids: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
    thr_ids = [m for m in ids if PAPER_METRICS[m].needs_threshold]
    values: dict[str, list[float]] = {m: [] for m in thr_ids}
    if thr_ids:
        for t in PAPER_GRID:
            counts = ctx.counts(binarize_checked(ctx.s, t))
            for m in thr_ids:
                values[m].append(PAPER_METRICS[m]._impl(counts))
    out: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    for m in ids:
        spec = PAPER_METRICS[m]
        if not spec.needs_threshold:
            out[m] = spec._impl(ctx)
            continue
        v = np.asarray(values[m], dtype=np.float64)
        ok = ~np.isnan(v)
        if not ok.any():
            out[m], thresholds[m] = math.nan, math.nan
            continue
        vv = np.where(ok, v if spec.higher_is_better else -v, -np.inf)
        i = int(np.argmax(vv))  # first (lowest) threshold among exact ties, like the official loop
        out[m], thresholds[m] = float(v[i]), PAPER_GRID[i]
    return out, thresholds
