"""Tests for mlbench.metrics.protocols: fixed / val / paper threshold protocols."""

from __future__ import annotations

import numpy as np
import pytest

from mlbench import metrics as M
from mlbench.errors import MlbenchError
from mlbench.metrics.protocols import (
    PAPER_DESCRIPTION,
    PAPER_GRID,
    PROTOCOLS,
    VAL_GRID,
    EvalResult,
    _pick,
    best_threshold,
    evaluate,
)

THRESHOLD_IDS = list(M.THRESHOLD_METRIC_IDS)


def _case(seed=0, n=80, L=6):
    """Scores correlated with labels; every sample has a label and every label a positive."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, L)) < 0.35).astype(int)
    y[np.arange(n), rng.integers(0, L, n)] = 1
    y[:L, :] = np.eye(L, dtype=int)  # every label has a positive ...
    y[L, :] = 0
    y[L, 0] = 1
    y[L + 1, 1:] = 1  # ... and a negative (so AUC is defined for all)
    y[L + 1, 0] = 0
    s = np.clip(0.35 * y + 0.6 * rng.random((n, L)), 0, 1)
    return y, s


def test_grids_and_names():
    assert PROTOCOLS == ("fixed", "val", "paper")
    assert VAL_GRID[0] == 0.05 and VAL_GRID[-1] == 0.95 and len(VAL_GRID) == 19
    assert PAPER_GRID == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def test_fixed_equals_compute_metrics():
    y, s = _case()
    r = evaluate(y, s, "fixed", threshold=0.4)
    assert isinstance(r, EvalResult)
    assert r.protocol == "fixed" and r.thresholds == 0.4
    assert r.description == "fixed threshold 0.4"
    assert r.metrics == M.compute_metrics(y, s, 0.4)


def test_paper_known_answer():
    # one sample, y = [1, 0], scores [0.35, 0.25]
    # t = 0.1, 0.2: predict {0,1}: ex-F1 2*1/(1+2) = 2/3, HA 1/2
    # t = 0.3     : predict {0}  : ex-F1 1, HA 1      <- best for every threshold metric
    # t >= 0.4    : predict {}   : ex-F1 2*0/(1+0) = 0, HA 1/2
    y = np.array([[1, 0]])
    s = np.array([[0.35, 0.25]])
    paper = evaluate(y, s, "paper", metric_ids=["ex-f1", "ha", "mi-f1", "subset-acc", "p@1"])
    assert paper.metrics["ex-f1"] == pytest.approx(1.0)
    assert paper.metrics["ha"] == pytest.approx(1.0)
    assert paper.thresholds == {"ex-f1": 0.3, "ha": 0.3, "mi-f1": 0.3, "subset-acc": 0.3}
    assert paper.metrics["p@1"] == 1.0  # threshold-free, computed once; no threshold recorded
    assert paper.description == PAPER_DESCRIPTION
    assert "TEST set" in paper.description and "optimistic" in paper.description
    fixed = evaluate(y, s, "fixed", metric_ids=["ex-f1", "ha"])
    # at 0.5 nothing is predicted: ex-F1 0, HA 1/2
    assert fixed.metrics == {"ex-f1": 0.0, "ha": 0.5}


def test_paper_is_max_over_grid_with_paper_definitions():
    y, s = _case(1)
    r = evaluate(y, s, "paper")
    assert list(r.metrics) == list(M.METRIC_IDS)
    assert set(r.thresholds) == set(THRESHOLD_IDS)
    per_t = {t: M.compute_metrics(y, s, t, definitions="paper") for t in PAPER_GRID}
    for m in THRESHOLD_IDS:
        # best over the grid: the max, or the min for a lower-is-better metric (hamming-loss)
        sign = 1 if M.METRICS[m].higher_is_better else -1
        values = [sign * per_t[t][m] for t in PAPER_GRID]
        assert sign * r.metrics[m] == pytest.approx(max(values))
        # recorded threshold = first (lowest) threshold reaching the best, as the official loop
        assert r.thresholds[m] == PAPER_GRID[int(np.argmax(values))]
    for m in M.RANKING_METRIC_IDS:
        assert r.metrics[m] == pytest.approx(per_t[0.5][m])


def test_paper_at_least_fixed_and_val_when_definitions_agree():
    # every sample has a label and every label a positive, so the paper definitions equal the
    # honest ones except the 1e-6 in macro-F1: the oracle threshold can only be better
    y, s = _case(2)
    yv, sv = _case(3)
    paper = evaluate(y, s, "paper")
    sign = {m: 1 if M.METRICS[m].higher_is_better else -1 for m in THRESHOLD_IDS}  # hamming-loss: -1
    for t in PAPER_GRID:
        fixed = evaluate(y, s, "fixed", threshold=t)
        for m in THRESHOLD_IDS:
            assert sign[m] * paper.metrics[m] >= sign[m] * fixed.metrics[m] - 1e-5, (m, t)
    val = evaluate(y, s, "val", y_true_val=yv, scores_val=sv)
    if val.thresholds in PAPER_GRID:
        for m in THRESHOLD_IDS:
            assert sign[m] * paper.metrics[m] >= sign[m] * val.metrics[m] - 1e-5, m


def test_paper_uses_paper_definitions_for_ranking():
    # sample 2 has no label: paper p@1 counts it 0; label 3 has no positive: paper mAP counts AP 0
    y = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    s = np.array([[0.9, 0.5, 0.3, 0.1], [0.4, 0.6, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1]])
    paper = evaluate(y, s, "paper", metric_ids=["p@1", "map"])
    fixed = evaluate(y, s, "fixed", metric_ids=["p@1", "map"])
    # honest p@1: (1 + 1)/2 = 1 ; paper: (1 + 1 + 0)/3
    assert fixed.metrics["p@1"] == pytest.approx(1.0)
    assert paper.metrics["p@1"] == pytest.approx(2 / 3)
    # per-label AP (positive ranked first in each column): l0 [.9,.4,.4] 1, l1 [.5,.6,.3] 1,
    # l2 [.3,.2,.2] 1, l3 no positive -> honest mean over 3 labels = 1, paper (1+1+1+0)/4 = 3/4
    assert fixed.metrics["map"] == pytest.approx(1.0)
    assert paper.metrics["map"] == pytest.approx(0.75)
    assert paper.thresholds == {}


def test_val_picks_known_threshold_and_applies_it_to_test():
    # validation: positives score 0.32, negatives 0.28 -> only t = 0.30 separates them perfectly
    yv = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    sv = np.where(yv == 1, 0.32, 0.28)
    assert best_threshold(yv, sv, "ma-f1") == (0.3, 1.0)
    y, s = _case(4)
    r = evaluate(y[:, :3], s[:, :3], "val", y_true_val=yv, scores_val=sv)
    assert r.protocol == "val" and r.thresholds == 0.3 and r.selection_metric == "ma-f1"
    assert r.description == "threshold 0.3 chosen on validation to maximize ma-f1"
    assert r.extra == {"val_selection_value": 1.0}
    assert r.metrics == M.compute_metrics(y[:, :3], s[:, :3], 0.3)


def test_val_ties_go_to_threshold_closest_to_half():
    yv = np.array([[1, 0], [0, 1]])
    sv = np.where(yv == 1, 0.9, 0.1)  # every t in 0.15..0.9 is perfect -> 0.5
    assert best_threshold(yv, sv, "ex-f1")[0] == 0.5
    sv = np.where(yv == 1, 0.8, 0.52)  # perfect for t in 0.55..0.8 -> 0.55
    assert best_threshold(yv, sv, "mi-f1")[0] == 0.55
    # equidistant tie: the lower threshold wins
    assert _pick([1.0, 0.0, 1.0], (0.45, 0.5, 0.55), True) == 0
    assert _pick([0.3, 0.2, 0.3], (0.45, 0.5, 0.55), False) == 1


def test_val_selection_metric_and_custom_grid():
    y, s = _case(5)
    t, v = best_threshold(y, s, "ha", grid=[0.2, 0.6])
    assert t in (0.2, 0.6)
    assert v == pytest.approx(M.compute_metrics(y, s, t, ["ha"])["ha"])
    r = evaluate(y, s, "val", y_true_val=y, scores_val=s, selection_metric="ex-f1")
    best = max(M.compute_metrics(y, s, g, ["ex-f1"])["ex-f1"] for g in VAL_GRID)
    assert r.metrics["ex-f1"] == pytest.approx(best)


def test_ranking_metrics_identical_between_fixed_and_val():
    y, s = _case(6)
    f = evaluate(y, s, "fixed", threshold=0.5)
    v = evaluate(y, s, "val", y_true_val=y, scores_val=s)
    for m in M.RANKING_METRIC_IDS:
        assert f.metrics[m] == v.metrics[m]


def test_protocol_errors():
    y, s = _case()
    with pytest.raises(MlbenchError, match="y_true_val and scores_val"):
        evaluate(y, s, "val")
    with pytest.raises(MlbenchError, match="pass scores_val"):
        evaluate(y, s, "val", y_true_val=y)
    with pytest.raises(MlbenchError, match="does not depend on the threshold"):
        evaluate(y, s, "val", y_true_val=y, scores_val=s, selection_metric="map")
    with pytest.raises(MlbenchError, match="validation data has 3 labels"):
        evaluate(y, s, "val", y_true_val=y[:, :3], scores_val=s[:, :3])
    with pytest.raises(MlbenchError, match=r"scores_val has shape .* but y_true_val has shape"):
        evaluate(y, s, "val", y_true_val=y, scores_val=s[:, :3])
    with pytest.raises(MlbenchError, match="Did you mean 'paper'"):
        evaluate(y, s, "papers")
    for bad in (0, 1, 1.5, -0.1, float("nan"), "x", True):
        with pytest.raises(MlbenchError, match=r"threshold must be a number in \(0, 1\)"):
            evaluate(y, s, "fixed", threshold=bad)
    with pytest.raises(MlbenchError, match="unknown metric"):
        evaluate(y, s, "fixed", metric_ids=["f1"])
    with pytest.raises(MlbenchError, match="grid"):
        best_threshold(y, s, "ma-f1", grid=[])
    with pytest.raises(MlbenchError, match="probabilities"):
        evaluate(y, s * 3, "paper")


def test_to_dict():
    y, s = _case()
    d = evaluate(y, s, "paper", metric_ids=["ma-f1", "p@1"]).to_dict()
    assert d["protocol"] == "paper" and set(d["thresholds"]) == {"ma-f1"}
    assert isinstance(d["metrics"]["p@1"], float)
