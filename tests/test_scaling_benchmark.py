"""benchmarks/scaling.py: exponent fitting and a --quick smoke run on two sizes per sweep."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "scaling.py"


@pytest.fixture(scope="module")
def scaling():
    spec = importlib.util.spec_from_file_location("mlbench_scaling_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exponent_and_extrapolation_of_a_power_law(scaling):
    sizes = [100, 200, 400, 800]
    seconds = [0.5 * (s / 100) ** 1.5 for s in sizes]
    assert scaling.exponent(sizes, seconds, fit_points=3) == pytest.approx(1.5)
    assert scaling.extrapolate(sizes, seconds, 1.5, 8000) == pytest.approx(0.5 * 80**1.5)
    # values at or under the floor (allocator noise) are left out; fewer than two points: nan
    assert scaling.exponent(sizes, [0.0, 0.2, 2.0, 20.0], 4, floor=1.0) == pytest.approx(math.log(10) / math.log(2))
    assert math.isnan(scaling.exponent(sizes, [0.0, 0.0, 0.5, 2.0], 4, floor=1.0))


def test_synthetic_data_has_the_requested_shape(scaling):
    X, Y, X_val, Y_val, X_test = scaling.synthetic(300, 12)
    assert X.shape == (300, scaling.N_FEATURES) and Y.shape == (300, 12)
    assert X_val.shape[0] == Y_val.shape[0] == X_test.shape[0] == 30
    assert Y.sum(axis=1).min() >= 1  # allow_unlabeled=False


@pytest.mark.slow
def test_quick_run_writes_plot_measurements_and_exponents(scaling, tmp_path, capsys):
    summary = scaling.main(["--quick", "--methods", "br", "mlknn", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = pd.read_csv(tmp_path / "scaling.csv")
    assert len(rows) == 2 * 2 * 2  # methods x sweeps x sizes
    assert (rows["fit_s"] > 0).all()
    assert set(rows[rows["axis"] == "labels"]["n_labels"]) == {5, 10}
    assert [e["method"] for e in summary] == ["br", "mlknn"]
    assert all(math.isfinite(e["time_exp_samples"]) and math.isfinite(e["time_exp_labels"]) for e in summary)
    assert "fit s @100k n" in out and "MB @5k L" in out
    assert len(pd.read_csv(tmp_path / "exponents.csv")) == 2
