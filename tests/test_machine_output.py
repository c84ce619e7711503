"""Machine-readable outputs through the real CLI on real store files: `table --format csv`,
`table --json`, `check --json`, `eval --json`, several metrics at once, and --format/--out errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from mlbench.metrics.protocols import PAPER_GRID, VAL_GRID
from mlbench.results.paper_tables import PAPER_RECORD_COLUMNS
from mlbench.results.tables import RECORD_COLUMNS
from mlbench.runs.store import add_rows, read_store
from tests.conftest import run_cli, store_row

METRICS = ("ex-f1", "ma-f1", "ha")


def _rows(method: str, name: str, dataset: str, seeds, base: float, z: float = 0.0) -> list[dict]:
    return [
        store_row(
            dataset,
            method,
            seed,
            metric,
            round(base + 0.013 * seed + 0.05 * k + 0.002 * p, 6),
            split_id=f"s{seed}",
            protocol=protocol,
            zero_division=z,
            method_name=name,
            data_sha256="",
        )
        for seed in seeds
        for p, protocol in enumerate(("fixed", "val", "paper"))
        for k, metric in enumerate(METRICS)
    ]


@pytest.fixture
def runs(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    add_rows(
        runs,
        _rows("br", "BR", "yeast", (0, 1, 2), 0.51)
        + _rows("mlknn", "MLkNN", "yeast", (0, 1), 0.55)
        + _rows("br", "BR", "scene", (0, 1, 2), 0.60),
    )
    monkeypatch.setenv("MLBENCH_RUNS", str(runs))
    monkeypatch.setenv("MLBENCH_DATA", str(tmp_path / "data"))
    return runs


cli = run_cli


def _store_means(runs, protocol="fixed") -> pd.Series:
    store = read_store(runs)
    store = store[store["protocol"] == protocol]
    return store.groupby(["metric", "method", "dataset"])["value"].mean()


def test_table_csv_is_one_numeric_record_per_cell(runs, capsys):
    code, out, err = cli(capsys, "table", "--metric", "ex-f1", "--format", "csv")
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame.columns.tolist() == RECORD_COLUMNS
    assert len(frame) == 3 and set(frame["metric"]) == {"ex-f1"} and set(frame["protocol"]) == {"fixed"}
    for column in ("mean", "std"):
        assert frame[column].dtype == np.float64, column
    assert frame["n"].dtype == np.int64
    means = _store_means(runs)
    for r in frame.itertuples():
        assert r.mean == pytest.approx(means[("ex-f1", r.method, r.dataset)], abs=1e-12)
    yeast_br = frame.set_index(["method", "dataset"]).loc[("br", "yeast")]
    assert yeast_br["n"] == 3 and yeast_br["method_name"] == "BR" and yeast_br["variant"] == "default"
    assert yeast_br["std"] == pytest.approx(np.std([0.51, 0.523, 0.536], ddof=1))
    assert "±" not in out and "*" not in out and "#" not in out and "Example-F1" not in out


def test_table_json_equals_csv_and_stdout_holds_only_json(runs, capsys):
    # A second zero_division in the store makes the table warn; the warning goes to stderr.
    add_rows(runs, _rows("bce", "BCE", "yeast", (0,), 0.40, z=1.0))
    code, out, err = cli(capsys, "table", "--metrics", "ex-f1", "ma-f1", "--format", "csv")
    assert code == 0 and "mix zero_division" in err
    csv = pd.read_csv(io.StringIO(out))
    code, out, err = cli(capsys, "table", "--metrics", "ex-f1", "ma-f1", "--json")
    assert code == 0 and "mix zero_division" in err
    records = json.loads(out)  # fails on anything but the JSON document
    assert pd.DataFrame(records).equals(csv)
    assert [r["metric"] for r in records].count("ma-f1") == 4 and {r["metric"] for r in records} == {"ex-f1", "ma-f1"}
    means = _store_means(runs)
    for r in records:
        assert r["mean"] == pytest.approx(means[(r["metric"], r["method"], r["dataset"])], abs=1e-12)


def test_table_several_metrics_one_table_each(runs, capsys):
    code, out, err = cli(capsys, "table", "--metric", "ex-f1", "ha", "--format", "markdown")
    assert code == 0, err
    assert out.count("| Method") == 2 and "Example-F1 (ex-f1" in out and "(ha, higher" in out
    means = _store_means(runs)
    assert f"{means[('ha', 'br', 'yeast')]:.3f} ±" in out.split("Example-F1")[1]
    code, out, _ = cli(capsys, "table", "--metrics", "ex-f1", "ha")  # rich: both, other spelling
    assert code == 0 and "(ex-f1, higher" in out and "(ha, higher" in out


def test_paper_table_records_have_paper_value_and_delta(runs, capsys):
    code, out, err = cli(
        capsys, "table", "--paper", "cgmvae", "--metric", "ex-f1", "mi-f1", "--protocol", "paper", "--format", "csv"
    )
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame.columns.tolist() == PAPER_RECORD_COLUMNS
    assert set(frame["metric"]) == {"ex-f1", "mi-f1"}  # mi-f1 has no runs: the paper's values only
    cell = frame.set_index(["metric", "method", "dataset"]).loc[("ex-f1", "br", "yeast")]
    mean = _store_means(runs, "paper")[("ex-f1", "br", "yeast")]
    assert cell["mean"] == pytest.approx(mean, abs=1e-12) and cell["n"] == 3
    assert cell["paper"] == 0.630 and cell["delta"] == pytest.approx(mean - 0.630)  # C-GMVAE Table 1
    assert frame[frame["metric"] == "mi-f1"]["mean"].isna().all()
    code, out, _ = cli(capsys, "table", "--paper", "cgmvae", "--metric", "ex-f1", "--protocol", "paper", "--json")
    record = next(r for r in json.loads(out) if r["method"] == "br" and r["dataset"] == "yeast")
    assert record["delta"] == pytest.approx(cell["delta"]) and record["paper_table"] == "1"


def test_check_json_records_every_cell_with_its_status(runs, capsys, tmp_path):
    expected = tmp_path / "expected.csv"
    assert cli(capsys, "check", expected, "--write")[0] == 0
    code, out, err = cli(capsys, "check", expected, "--json")
    records = json.loads(out)
    assert code == 0 and records and {r["status"] for r in records} == {"pass"}
    frame = pd.read_csv(expected)
    frame.loc[0, "value"] += 0.5  # now out of reach
    frame.loc[1, "method"] = "nothing-ran"
    frame.to_csv(expected, index=False)
    code, out, err = cli(capsys, "check", expected, "--json", "--tolerance", "0.02")
    assert code == 1 and "regression" in err
    records = json.loads(out)
    assert len(records) == len(frame)
    worse, missing = records[0], records[1]
    assert worse["status"] == "fail" and worse["expected"] == pytest.approx(frame.loc[0, "value"])
    assert worse["value"] == pytest.approx(_store_means(runs)[(worse["metric"], worse["method"], worse["dataset"])])
    assert worse["tolerance"] == 0.02 and worse["protocol"] == "fixed"
    assert {"dataset", "method", "metric", "protocol", "value", "expected", "tolerance", "status"} <= set(worse)
    assert missing["status"] == "fail" and missing["value"] is None and "no finished runs" in missing["message"]
    assert {r["status"] for r in records[2:]} == {"pass"}


@pytest.fixture
def predictions(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random((60, 5)) < 0.4).astype(int)
    scores = np.clip(y * 0.5 + rng.random((60, 5)) * 0.5, 0, 1)
    path = tmp_path / "pred.npz"
    np.savez(path, y_true=y[:40], scores=scores[:40], y_true_val=y[40:], scores_val=scores[40:])
    return path


def test_eval_json_names_protocol_and_thresholds(predictions, capsys):
    code, out, _ = cli(capsys, "eval", "--predictions", predictions, "--json", "--threshold", "0.3")
    fixed = json.loads(out)
    assert code == 0 and fixed["protocol"] == "fixed" and fixed["thresholds"] == 0.3
    code, out, _ = cli(
        capsys, "eval", "--predictions", predictions, "--json", "--protocol", "val", "--selection-metric", "mi-f1"
    )
    val = json.loads(out)
    assert val["protocol"] == "val" and val["selection_metric"] == "mi-f1" and val["thresholds"] in VAL_GRID
    assert "chosen on validation" in val["description"]
    code, out, _ = cli(capsys, "eval", "--predictions", predictions, "--json", "--protocol", "paper")
    paper = json.loads(out)
    assert paper["protocol"] == "paper" and {"ex-f1", "mi-f1", "ma-f1"} <= set(paper["thresholds"])
    assert set(paper["thresholds"].values()) <= set(PAPER_GRID)
    assert "p@1" not in paper["thresholds"] and "p@1" in paper["metrics"]  # threshold-free


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["table", "--json", "--format", "csv"], "--json is --format json"),
        (["table", "--format", "pdf"], "rich, markdown, latex, csv, html, json"),
        (["plot", "bars", "--out", "figure.png"], "--out is a directory"),
    ],
)
def test_bad_format_or_out_is_one_line(runs, capsys, argv, fragment):
    code, out, err = cli(capsys, *argv)
    assert code != 0 and fragment in err and "Traceback" not in err
    assert err.count("error:") == 1 and out == ""


def test_single_valued_option_refuses_several(runs, capsys):
    # --protocol takes one value: a second one is an error, not silently the last one
    code, _, err = cli(capsys, "stats", "--protocol", "fixed", "val")
    assert code != 0 and "val" in err and "Traceback" not in err


def test_format_help_names_every_format(capsys):
    from mlbench.results.tables import FORMATS

    code, out, _ = cli(capsys, "table", "--help")
    assert code == 0 and all(fmt in out for fmt in FORMATS)
