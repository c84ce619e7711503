"""Outside predictions into the results store: `eval --predictions --name`, and from Python."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlbench.data import load_split
from mlbench.errors import MlbenchError

from .test_cli import assert_one_line_error, env, run  # noqa: F401  (env is a fixture)


def _outside_model(split):
    """An 'outside' model: per-label training frequencies plus a little seeded noise."""
    rng = np.random.default_rng(0)
    rate = np.asarray(split.Y_train.mean(axis=0)).ravel()
    test = np.clip(rate + 0.05 * rng.standard_normal((split.Y_test.shape[0], rate.size)), 0, 1)
    val = np.clip(rate + 0.05 * rng.standard_normal((split.Y_val.shape[0], rate.size)), 0, 1)
    return test, val


def test_predictions_go_into_the_store_and_the_tables(env, capsys, session_data_dir, tmp_path):
    split = load_split("yeast", "iterative", 1, data_dir=session_data_dir)
    test, val = _outside_model(split)
    path = tmp_path / "mine.npz"
    np.savez(path, y_true=split.Y_test, scores=test, y_true_val=split.Y_val, scores_val=val)
    code, out, err = run(
        capsys,
        "eval",
        "--predictions",
        path,
        "--dataset",
        "yeast",
        "--seed",
        "1",
        "--name",
        "outside-prior",
        "--notes",
        "frequency baseline",
    )
    assert code == 0, err
    run_dir = env / "runs/yeast/outside-prior/default/iterative-seed1"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["external"] is True and config["notes"] == "frequency baseline"
    assert config["split"]["split_id"] == split.split.id
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"fixed", "val", "paper"}
    # What eval of the run directory recomputes equals what was stored.
    code, out, _ = run(capsys, "eval", str(run_dir), "--json")
    assert json.loads(out)["metrics"] == pytest.approx(metrics["fixed"]["metrics"])
    code, out, _ = run(capsys, "train", "--method", "br", "-d", "yeast", "--seed", "1", "-q")
    assert code == 0
    code, out, _ = run(capsys, "table", "--metric", "ma-f1", "--format", "markdown")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("|")}
    assert "outside-prior" in rows and "BR" in rows
    expected = metrics["fixed"]["metrics"]["ma-f1"]
    assert f"| {expected:.3f} " in rows["outside-prior"] and "±" not in rows["outside-prior"]  # one run: no std
    code, out, err = run(capsys, "table", "--paper", "cgmvae", "--metric", "ma-f1", "--format", "markdown")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("| outside-prior"))
    assert f"{expected:.3f} \\| –" in row  # ours beside the paper's (none for it)
    baseline = tmp_path / "expected.csv"
    assert run(capsys, "check", str(baseline), "--write")[0] == 0
    assert "outside-prior" in baseline.read_text()
    assert run(capsys, "check", str(baseline))[0] == 0


def test_python_call_without_validation_scores(env, session_data_dir):
    from mlbench.runs.runner import record_external_predictions
    from mlbench.runs.store import read_store

    split = load_split("yeast", "iterative", 0, data_dir=session_data_dir)
    test, _ = _outside_model(split)
    run_dir = record_external_predictions("yeast", 0, test, name="notebook-model", y_true=split.Y_test)
    store = read_store(env / "runs")
    mine = store[store["method"] == "notebook-model"]
    assert set(mine["protocol"]) == {"fixed", "paper"}  # no validation scores: no 'val' rows
    assert (mine["run_id"] == "yeast/notebook-model/default/iterative-seed0").all()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"


def test_wrong_split_is_a_one_line_error_and_writes_nothing(env, capsys, session_data_dir, tmp_path):
    split = load_split("yeast", "iterative", 0, data_dir=session_data_dir)
    test, _ = _outside_model(split)
    path = tmp_path / "seed0.npz"
    np.savez(path, y_true=split.Y_test, scores=test)
    code, _, err = run(capsys, "eval", "--predictions", path, "--dataset", "yeast", "--seed", "2", "--name", "mine")
    assert_one_line_error(code, err, "y_true does not match the test part of yeast split 'iterative' seed 2", "--seed")
    assert not (env / "runs").exists() or not any((env / "runs").rglob("mine"))


def test_bad_names_and_shapes(env, session_data_dir):
    from mlbench.runs.runner import record_external_predictions

    split = load_split("yeast", "iterative", 0, data_dir=session_data_dir)
    test, _ = _outside_model(split)
    with pytest.raises(MlbenchError, match="built-in or installed method"):
        record_external_predictions("yeast", 0, test, name="br")
    with pytest.raises(MlbenchError, match="must be letters"):
        record_external_predictions("yeast", 0, test, name="../escape")
    with pytest.raises(MlbenchError, match="predict every test row"):
        record_external_predictions("yeast", 0, test[:-1], name="short")
