"""Statistics (mlbench.results.stats) on cases with known answers, the plots (mlbench.results.plots) and the
markdown report (mlbench.results.report)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlbench.errors import MlbenchError
from mlbench.results import plots, stats
from mlbench.runs.store import COLUMNS, STORE_NAME

from .conftest import invoke_cli, store_row


def store_of(values: dict, metric: str = "ex-f1", protocol: str = "fixed", fraction: float = 1.0) -> pd.DataFrame:
    """{(method, dataset): [value per seed]} -> a results store."""
    rows = []
    for (method, dataset), seeds in values.items():
        rows += [
            store_row(
                dataset,
                method,
                seed,
                metric,
                value,
                split_id="x",
                train_fraction=fraction,
                protocol=protocol,
                finished_at="t",
            )
            for seed, value in enumerate(seeds)
        ]
    return pd.DataFrame(rows, columns=COLUMNS)


# Three methods on four datasets, always in the order a > b > c.
ORDERED = pd.DataFrame(
    {"a": [0.9, 0.8, 0.7, 0.6], "b": [0.8, 0.7, 0.6, 0.5], "c": [0.7, 0.6, 0.5, 0.4]}, index=["d1", "d2", "d3", "d4"]
)


# -- statistics ------------------------------------------------------------------------------------


def test_friedman_known_answer():
    # Ranks 1, 2, 3 on each of N = 4 datasets: chi2 = 12N/(k(k+1)) * sum(R^2) - 3N(k+1) = 8, and
    # with 2 degrees of freedom p = exp(-8/2).
    result = stats.friedman(ORDERED, higher_is_better=True)
    assert result.statistic == pytest.approx(8.0)
    assert result.pvalue == pytest.approx(math.exp(-4))
    assert result.average_ranks == {"a": 1.0, "b": 2.0, "c": 3.0}
    assert stats.friedman(ORDERED, higher_is_better=False).average_ranks == {"c": 1.0, "b": 2.0, "a": 3.0}


def test_average_ranks_share_ties():
    tied = pd.DataFrame({"a": [0.5, 0.9], "b": [0.5, 0.8], "c": [0.1, 0.7]})
    assert stats.average_ranks(tied).to_dict() == {"a": 1.25, "b": 1.75, "c": 3.0}


def test_critical_difference_matches_demsar():
    # Demšar (2006), Table 5(a): q_0.05 = 2.569 for k = 4 and 3.164 for k = 10.
    assert stats.critical_difference(4, 10) == pytest.approx(2.569 * math.sqrt(4 * 5 / 60), abs=1e-3)
    assert stats.critical_difference(10, 20) == pytest.approx(3.164 * math.sqrt(10 * 11 / 120), abs=1e-3)


def test_nemenyi_pvalues():
    pvalues = stats.friedman(ORDERED).nemenyi_pvalues
    assert list(pvalues.columns) == ["a", "b", "c"]
    assert np.allclose(pvalues.to_numpy(), pvalues.to_numpy().T)
    # a and c are 2 ranks apart, more than CD = 2.343 * sqrt(12 / 24) = 1.657: significant.
    assert pvalues.loc["a", "c"] < 0.05 < pvalues.loc["a", "b"]


def test_friedman_needs_three_methods_and_two_datasets():
    with pytest.raises(MlbenchError, match="at least 3 methods"):
        stats.friedman(ORDERED[["a", "b"]])
    with pytest.raises(MlbenchError, match="at least 2 datasets"):
        stats.friedman(ORDERED.iloc[:1])


def test_performance_matrix_is_made_complete():
    store = store_of(
        {
            ("a", "d1"): [0.9, 0.8],
            ("b", "d1"): [0.5],
            ("a", "d2"): [0.4],
            ("b", "d2"): [0.3],
            ("a", "d3"): [0.2],
            ("c", "d1"): [0.1],
        }
    )
    matrix, datasets, methods = stats.performance_matrix(store, "ex-f1")
    assert (datasets, methods) == (["d3"], ["c"])  # c ran on 1 of 3 datasets, d3 has 1 of 2 methods
    assert matrix.loc["d1", "a"] == pytest.approx(0.85) and matrix.shape == (2, 2)
    matrix, datasets, methods = stats.performance_matrix(store, "ex-f1", methods=["a", "c"])
    assert (datasets, methods, list(matrix.index)) == (["d2", "d3"], [], ["d1"])


def test_paired_wilcoxon_known_answer():
    # a beats b on all 6 (dataset, seed) pairs by distinct margins: W = 0 and the exact two-sided
    # p-value is 2 / 2^6 = 0.03125.
    store = store_of(
        {
            ("a", "d1"): [0.61, 0.62, 0.63],
            ("b", "d1"): [0.60, 0.60, 0.60],
            ("a", "d2"): [0.74, 0.75, 0.76],
            ("b", "d2"): [0.70, 0.70, 0.70],
        }
    )
    result = stats.paired_test(store, "ex-f1", "a", "b")
    assert (result.n_pairs, result.wins, result.ties, result.losses) == (6, 6, 0, 0)
    assert result.statistic == 0 and result.pvalue == pytest.approx(0.03125)
    assert result.mean_difference == pytest.approx(0.035)


def test_paired_test_direction_and_errors():
    store = store_of({("a", "d1"): [0.3, 0.4], ("b", "d1"): [0.5, 0.6]}, metric="coverage")
    result = stats.paired_test(store, "coverage", "a", "b")  # lower coverage is better
    assert (result.wins, result.losses) == (2, 0)
    with pytest.raises(MlbenchError, match="no finished runs of 'x'"):
        stats.paired_test(store, "coverage", "a", "x")


# -- plots -----------------------------------------------------------------------------------------


def assert_images(paths):
    from matplotlib.image import imread

    assert [p.suffix for p in paths] == [".png", ".svg"]
    png, svg = paths
    image = imread(png)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    assert svg.stat().st_size > 1000 and "<svg" in svg.read_text()[:500]


BARS = {
    ("br", "yeast"): [0.60, 0.62, 0.61],
    ("mlknn", "yeast"): [0.55, 0.56, 0.58],
    ("br", "scene"): [0.70, 0.71, 0.69],
    ("mlknn", "scene"): [0.75, 0.74, 0.76],
}


def test_grouped_bars(tmp_path):
    assert_images(plots.grouped_bars(store_of(BARS), "ex-f1", tmp_path / "bars"))
    with pytest.raises(MlbenchError, match="no finished runs"):
        plots.grouped_bars(store_of(BARS), "ma-f1", tmp_path / "none")


def efficiency_store() -> pd.DataFrame:
    frames = []
    for fraction, scale in ((0.1, 0.8), (0.5, 0.9), (1.0, 1.0)):
        frames.append(
            store_of(
                {
                    ("c2ae", "mirflickr"): [0.40 * scale] * 2,
                    ("cgmvae", "mirflickr"): [0.40 * scale * (1.3 - 0.2 * fraction)] * 2,
                    ("mpvae", "mirflickr"): [0.42 * scale] * 2,
                },
                metric="ma-f1",
                fraction=fraction,
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_data_efficiency(tmp_path):
    frame = plots.relative_improvements(efficiency_store()).set_index(["method", "fraction"])["improvement"]
    assert frame[("cgmvae", 0.1)] == pytest.approx(28.0)  # 100 * (1.28 - 1)
    assert frame[("cgmvae", 1.0)] == pytest.approx(10.0)
    assert frame[("mpvae", 0.5)] == pytest.approx(5.0)
    assert_images(plots.data_efficiency(efficiency_store(), tmp_path / "eff"))
    with pytest.raises(MlbenchError, match="--data-efficiency"):
        plots.data_efficiency(store_of(BARS, metric="ma-f1"), tmp_path / "none")


def embedding_run(root, with_embeddings: bool = True):
    """A synthetic C-GMVAE run directory: 3 groups of labels that embed alike."""
    run_dir = root / "ebird" / "cgmvae" / "default" / "iterative-seed0"
    run_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    centres = np.eye(3, 6) * 2
    emb = np.concatenate([centres[g] + rng.normal(0, 0.3, (n, 6)) for g, n in enumerate((3, 4, 3))])
    arrays = {"scores_test": rng.random((5, 10)), "y_test": np.zeros((5, 10))}
    if with_embeddings:
        arrays["extra_label_embeddings"] = emb
    np.savez(run_dir / "scores.npz", **arrays)
    (run_dir / "config.json").write_text(json.dumps({"dataset": "ebird"}))
    return run_dir


def test_label_heatmap(tmp_path):
    run_dir = embedding_run(tmp_path / "runs")
    names = [f"bird {i}" for i in range(10)]
    assert_images(plots.label_heatmap(run_dir, tmp_path / "heat", label_names=names))
    assert_images(
        plots.label_heatmap(
            run_dir, tmp_path / "some", label_names=names, labels=["bird 0", "bird 5", "7"], order="given"
        )
    )
    with pytest.raises(MlbenchError, match="unknown label"):
        plots.label_heatmap(run_dir, tmp_path / "x", label_names=names, labels=["dodo"])
    plain = embedding_run(tmp_path / "plain", with_embeddings=False)
    with pytest.raises(MlbenchError, match="no label embeddings"):
        plots.label_heatmap(plain, tmp_path / "x")


def test_cd_diagram(tmp_path):
    assert_images(plots.cd_diagram(ORDERED, tmp_path / "cd", title="ex-f1"))


# -- CLI and report --------------------------------------------------------------------------------


def run_cli(args) -> int:
    return invoke_cli(*args)


@pytest.fixture
def runs_dir(tmp_path):
    values = {
        (m, d): [v - 0.01 * s for s in range(3)]
        for (m, d), v in {
            ("br", "yeast"): 0.62,
            ("mlknn", "yeast"): 0.60,
            ("haram", "yeast"): 0.58,
            ("br", "scene"): 0.65,
            ("mlknn", "scene"): 0.70,
            ("haram", "scene"): 0.60,
            ("br", "delicious"): 0.20,
            ("mlknn", "delicious"): 0.25,
            ("haram", "delicious"): 0.15,
        }.items()
    }
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / STORE_NAME).write_text(store_of(values).to_csv(index=False))
    return runs


def test_stats_and_plot_commands(runs_dir, tmp_path, capsys):
    assert run_cli(["stats", "--metric", "ex-f1", "--runs-dir", runs_dir, "--cd-diagram", tmp_path / "cd"]) == 0
    out = capsys.readouterr().out
    assert "Friedman" in out and "Nemenyi" in out and (tmp_path / "cd.png").is_file()
    assert run_cli(["stats", "--metric", "ex-f1", "--paired", "br", "mlknn", "--runs-dir", runs_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_pairs"] == 9
    assert run_cli(["plot", "bars", "--metrics", "ex-f1", "--runs-dir", runs_dir, "--out", tmp_path / "b"]) == 0
    assert (tmp_path / "b" / "bars-ex-f1.svg").is_file()
    assert run_cli(["plot", "heatmap", embedding_run(tmp_path / "r"), "--out", tmp_path / "h"]) == 0
    assert (tmp_path / "h" / "label-heatmap.png").is_file()
    assert run_cli(["stats", "--metric", "ex-f1", "--methods", "br", "mlknn", "--runs-dir", runs_dir]) == 2


def test_report(runs_dir, tmp_path):
    from mlbench.results.report import write_report

    embedding_run(runs_dir)
    store = pd.read_csv(runs_dir / STORE_NAME)
    cgmvae = store_of({("cgmvae", "ebird"): [0.57]})
    (runs_dir / STORE_NAME).write_text(pd.concat([store, cgmvae]).to_csv(index=False))
    path = write_report("cgmvae", tmp_path / "report", runs_dir=runs_dir, data_dir=tmp_path / "data")
    text = path.read_text()
    assert "# Reproduction report: cgmvae" in text and "ICML" in text
    assert "### Table 1 · ex-f1" in text and "\\| 0.630 \\|" in text  # the paper's BR/yeast cell
    assert "Friedman χ² =" in text and "Average ranks" in text
    assert "Provenance" in text and "Versions now" in text
    for image in ("bars-ex-f1.png", "cd-ex-f1.png", "label-heatmap.png"):
        assert f"plots/{image}" in text
        assert (tmp_path / "report" / "plots" / image).stat().st_size > 1000
    assert "Data efficiency" in text and "not drawn" in text  # no runs at 10/50%
