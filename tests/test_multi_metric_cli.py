"""Several metrics after one flag, in either spelling (`--metric a b`, `--metrics a b`), through
the real CLI on a real store: `stats` (one test per metric; --json an object for one metric, a
list for several; one CD diagram per metric) and `plot cd | bars | data-efficiency` (one figure
per metric)."""

from __future__ import annotations

import json

import pytest

from mlbench.runs.store import add_rows
from tests.conftest import run_cli, store_row

# (method, dataset) -> base value; ma-f1 reverses the order of br and mlknn on every dataset, so
# the two metrics' rankings differ and a result computed for the wrong metric shows.
BASE = {
    ("br", "yeast"): 0.62,
    ("mlknn", "yeast"): 0.60,
    ("haram", "yeast"): 0.55,
    ("br", "scene"): 0.68,
    ("mlknn", "scene"): 0.66,
    ("haram", "scene"): 0.58,
    ("br", "emotions"): 0.50,
    ("mlknn", "emotions"): 0.47,
    ("haram", "emotions"): 0.40,
}
SWAP = {"br": "mlknn", "mlknn": "br", "haram": "haram"}


def _rows(fraction: float = 1.0, methods=None) -> list[dict]:
    rows = []
    for (method, dataset), base in BASE.items():
        if methods is not None and method not in methods:
            continue
        for metric in ("ex-f1", "ma-f1"):
            value = base if metric == "ex-f1" else BASE[(SWAP[method], dataset)] - 0.1
            rows += [
                store_row(
                    dataset,
                    method,
                    seed,
                    metric,
                    round(value * fraction**0.1 - 0.01 * seed, 6),
                    train_fraction=fraction,
                )
                for seed in range(3)
            ]
    return rows


@pytest.fixture
def runs(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    add_rows(runs, _rows())
    monkeypatch.setenv("MLBENCH_RUNS", str(runs))
    monkeypatch.setenv("MLBENCH_DATA", str(tmp_path / "data"))
    return runs


cli = run_cli


@pytest.mark.parametrize("spelling", ["--metric", "--metrics"])
def test_stats_json_one_object_per_metric_in_order(runs, capsys, spelling):
    singles = {}
    for metric in ("ex-f1", "ma-f1"):
        code, out, _ = cli(capsys, "stats", "--metric", metric, "--json")
        assert code == 0
        singles[metric] = json.loads(out)
        assert isinstance(singles[metric], dict) and singles[metric]["metric"] == metric  # one metric: an object
    assert singles["ex-f1"]["average_ranks"]["br"] == 1.0 and singles["ma-f1"]["average_ranks"]["mlknn"] == 1.0
    code, out, err = cli(capsys, "stats", spelling, "ma-f1", "ex-f1", "--json")
    assert code == 0, err
    assert json.loads(out) == [singles["ma-f1"], singles["ex-f1"]]  # several: a list, in the order given


def test_stats_shows_each_metric_and_draws_one_cd_diagram_per_metric(runs, tmp_path, capsys):
    code, out, err = cli(capsys, "stats", "--metrics", "ex-f1", "ma-f1", "--cd-diagram", tmp_path / "cd")
    assert code == 0, err
    assert out.count("Friedman χ²") == 2 and out.index("(ex-f1)") < out.index("(ma-f1)")
    assert sorted(p.name for p in tmp_path.glob("cd*")) == [
        "cd-ex-f1.png",
        "cd-ex-f1.svg",
        "cd-ma-f1.png",
        "cd-ma-f1.svg",
    ]


def test_stats_paired_one_result_per_metric(runs, capsys):
    code, out, err = cli(capsys, "stats", "--paired", "br", "mlknn", "--metric", "ex-f1", "ma-f1", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert [r["metric"] for r in results] == ["ex-f1", "ma-f1"]
    assert all(r["n_pairs"] == 9 for r in results)
    # br beats mlknn on every (dataset, seed) in ex-f1 and loses on every one in ma-f1
    assert (results[0]["wins"], results[1]["losses"]) == (9, 9)
    code, out, _ = cli(capsys, "stats", "--paired", "br", "mlknn", "--metric", "ex-f1", "--json")
    assert code == 0 and json.loads(out) == results[0]


def test_stats_unknown_metric_among_several_is_one_line(runs, capsys):
    code, out, err = cli(capsys, "stats", "--metric", "ex-f1", "no-such-metric", "--json")
    assert code != 0 and "no-such-metric" in err and "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    "command, spelling, prefix",
    [("cd", "--metric", "cd"), ("bars", "--metric", "bars")],  # bars declares --metrics
)
def test_plot_one_figure_per_metric(runs, tmp_path, capsys, command, spelling, prefix):
    code, _, err = cli(capsys, "plot", command, spelling, "ex-f1", "ma-f1", "--out", tmp_path / "plots")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        f"{prefix}-{m}.{ext}" for m in ("ex-f1", "ma-f1") for ext in ("png", "svg")
    ]


def test_plot_data_efficiency_one_figure_per_metric(runs, tmp_path, capsys):
    add_rows(runs, _rows(0.1, methods={"br", "mlknn"}) + _rows(0.5, methods={"br", "mlknn"}))
    out = tmp_path / "p"
    argv = ["plot", "data-efficiency", "--metrics", "ex-f1", "ma-f1", "--baseline", "br", "--datasets", "yeast"]
    code, _, err = cli(capsys, *argv, "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        f"data-efficiency-{m}.{ext}" for m in ("ex-f1", "ma-f1") for ext in ("png", "svg")
    ]
