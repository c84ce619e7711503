"""``ScoreContext.counts_at``: a grid of thresholds counted at once gives each threshold's
counts, so the best-threshold search (run after every training epoch) picks exactly as before."""

from __future__ import annotations

import numpy as np
import pytest

from mlbench.metrics import THRESHOLD_METRIC_IDS, ScoreContext, binarize_checked, get_metric, validate_inputs
from mlbench.metrics.protocols import PAPER_GRID, VAL_GRID


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_cells", [1, 700, 1 << 24])  # one threshold per chunk, a few, all
def test_grid_counts_equal_one_threshold_at_a_time(dtype, max_cells):
    rng = np.random.default_rng(7)
    y = rng.random((60, 9)) < 0.3
    y[:, 0] = False  # a label without positives
    s = rng.random((60, 9)).astype(dtype)
    s[rng.random(s.shape) < 0.2] = 0.5  # scores on a threshold: >= counts them in
    y, s, _ = validate_inputs(y, scores=s)
    for zero_division in (0.0, 1.0):
        ctx = ScoreContext(y, s, zero_division)
        for grid in (VAL_GRID, PAPER_GRID, (0.5,)):
            grouped = ctx.counts_at(grid, max_cells=max_cells)
            assert len(grouped) == len(grid)
            for t, counts in zip(grid, grouped):
                one = ctx.counts(binarize_checked(s, t))
                for field in ("tp_l", "fp_l", "fn_l", "tp_s", "true_s", "pred_s"):
                    assert np.array_equal(getattr(counts, field), getattr(one, field)), (t, field)
                for metric in THRESHOLD_METRIC_IDS:
                    impl = get_metric(metric)._impl
                    assert np.array_equal(impl(counts), impl(one), equal_nan=True)
