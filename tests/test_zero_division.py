"""The new example-based metrics' doctests, and the zero_division choice end to end: default 0
(scikit-learn's), 1 on request, recorded with every number, official (paper) definitions untouched."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlbench import metrics as M
from mlbench.errors import MlbenchError
from mlbench.metrics.protocols import evaluate

from .conftest import invoke_cli


def test_docstring_examples():
    result = doctest.testmod(M)
    assert result.failed == 0 and result.attempted >= 7


def degenerate_case():
    # 4 samples x 3 labels; label 2 never true; sample 3 has no true label
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    s = np.array([[0.9, 0.2, 0.1], [0.3, 0.8, 0.2], [0.7, 0.4, 0.1], [0.2, 0.1, 0.3]])
    return y, s


def test_zero_division_moves_only_the_honest_degenerate_cases():
    y, s = degenerate_case()
    zero = M.compute_metrics(y, s, 0.5)
    one = M.compute_metrics(y, s, 0.5, zero_division=1)
    p = (s >= 0.5).astype(int)
    # label 2 and sample 3 are 0/0 at 0.5: macro-F1 (1 + 2/3 + z) / 3; ex-F1 (1 + 1 + 2/3 + z) / 4
    assert zero["ma-f1"] == pytest.approx((1 + 2 / 3) / 3)
    assert one["ma-f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert zero["ex-f1"] == pytest.approx((2 + 2 / 3) / 4)
    assert one["ex-f1"] == pytest.approx((3 + 2 / 3) / 4)
    for z, got in ((0, zero), (1, one)):
        assert got["jaccard"] == pytest.approx(skm.jaccard_score(y, p, average="samples", zero_division=z))
        assert got["ex-recall"] == pytest.approx(skm.recall_score(y, p, average="samples", zero_division=z))
    for m in ("ha", "hamming-loss", "subset-acc", "p@1", "map", "ranking-loss"):
        assert zero[m] == one[m], m
    # the official-code definitions replicate the authors' code and ignore the choice
    paper0 = M.compute_metrics(y, s, 0.5, definitions="paper")
    paper1 = M.compute_metrics(y, s, 0.5, definitions="paper", zero_division=1)
    for m in ("ex-f1", "ma-f1", "mi-f1"):
        assert paper0[m] == paper1[m], m
    assert paper0["ex-f1"] == pytest.approx((1 + 1 + 2 / 3) / 3)  # the 0/0 sample is deleted
    assert evaluate(y, s, "paper", zero_division=1).metrics["ma-f1"] == pytest.approx(
        evaluate(y, s, "paper").metrics["ma-f1"]
    )


@pytest.mark.parametrize("bad", [0.5, 2, "one", True])
def test_zero_division_must_be_0_or_1(bad):
    y, s = degenerate_case()
    with pytest.raises(MlbenchError, match="zero_division must be 0 or 1"):
        M.compute_metrics(y, s, 0.5, zero_division=bad)
    with pytest.raises(MlbenchError, match="zero_division must be 0 or 1"):
        evaluate(y, s, "fixed", zero_division=bad)


def test_cli_eval_zero_division(tmp_path, capsys):
    y, s = degenerate_case()
    path = tmp_path / "pred.npz"
    np.savez(path, y_true=y, scores=s)
    p = (s >= 0.5).astype(int)
    for flag, z in (([], 0), (["--zero-division", "1"], 1)):
        assert invoke_cli("eval", "--predictions", path, "--json", *flag) == 0
        got = json.loads(capsys.readouterr().out)["metrics"]
        assert got["ma-f1"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=z))
        assert got["ex-precision"] == pytest.approx(skm.precision_score(y, p, average="samples", zero_division=z))
    assert invoke_cli("eval", "--predictions", path) == 0
    assert "0/0 scores 0" in capsys.readouterr().out
    assert invoke_cli("eval", "--predictions", path, "--zero-division", "0.5") != 0
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err and "must be 0 or 1" in err


def test_train_records_zero_division(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLBENCH_DATA", str(tmp_path / "data"))
    runs = tmp_path / "runs"
    monkeypatch.setenv("MLBENCH_RUNS", str(runs))
    assert invoke_cli("fetch", "emotions", "-q") == 0
    code = invoke_cli("train", "--method", "mlknn", "--dataset", "emotions", "--zero-division", "1", "-q")
    assert code == 0, capsys.readouterr().err
    run_dir = runs / "emotions/mlknn/default/iterative-seed0"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {metrics[p]["zero_division"] for p in ("fixed", "val", "paper")} == {1.0}
    scores = np.load(run_dir / "scores.npz")
    p = (scores["scores_test"] >= 0.5).astype(int)
    assert metrics["fixed"]["metrics"]["jaccard"] == pytest.approx(
        skm.jaccard_score(scores["y_test"], p, average="samples", zero_division=1)
    )
    store = pd.read_csv(runs / "results.csv")
    assert set(store["zero_division"]) == {1.0} and {"jaccard", "hamming-loss"} <= set(store["metric"])
    # eval recomputes from the scores, with its own choice (default 0)
    capsys.readouterr()
    assert invoke_cli("eval", run_dir, "--json", "--zero-division", "1") == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == pytest.approx(metrics["fixed"]["metrics"])


def test_store_written_before_the_column_reads_back_as_1(tmp_path):
    from mlbench.runs.store import COLUMNS, read_store

    row = dict(
        dataset="yeast",
        method="br",
        variant="default",
        seed=0,
        split="iterative",
        split_id="s",
        train_fraction=1.0,
        protocol="fixed",
        metric="ma-f1",
        value=0.5,
        run_id="yeast/br/default/iterative-seed0",
        finished_at="t",
    )
    old = pd.DataFrame([row], columns=COLUMNS)  # the columns of a store before zero_division
    old.to_csv(tmp_path / "results.csv", index=False)
    assert read_store(tmp_path)["zero_division"].tolist() == [1.0]


def test_table_selects_or_warns_on_mixed_zero_division(tmp_path, monkeypatch, capsys):
    from mlbench.runs.store import COLUMNS, HASH_COLUMNS

    rows = [
        dict(
            dataset="yeast",
            method="br",
            variant="default",
            seed=seed,
            split="iterative",
            split_id="s",
            train_fraction=1.0,
            protocol="fixed",
            metric="ma-f1",
            value=value,
            run_id=f"yeast/br/default/iterative-seed{seed}",
            finished_at="t",
            zero_division=z,
        )
        for seed, value, z in ((0, 0.25, 0.0), (1, 0.75, 1.0))
    ]
    pd.DataFrame(rows, columns=COLUMNS + HASH_COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    args = ["table", "--metric", "ma-f1", "--format", "csv", "--runs-dir", tmp_path]
    assert invoke_cli(*args, "--zero-division", "0") == 0
    out, err = capsys.readouterr()
    assert "0.25" in out and "0.75" not in out and "warning" not in err
    assert invoke_cli(*args) == 0
    out, err = capsys.readouterr()
    assert "mix zero_division" in err and "0.5" in out  # both seeds averaged, with the warning
