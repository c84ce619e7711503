"""The run layer and the results store: provenance, skip/force, concurrency, eval and table."""

from __future__ import annotations

import json
import multiprocessing as mp

import pandas as pd
import pytest

from mlbench.errors import MlbenchError
from mlbench.runs.runner import RunSpec, load_scores, train_run, variant_name
from mlbench.runs.store import add_rows, read_store


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


def test_run_directory_records_everything(session_data_dir, runs_dir):
    run_dir, what = train_run(RunSpec("br", "yeast", seed=0), runs_dir=runs_dir, data_dir=session_data_dir)
    assert what == "done"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["params"]["C"] == 1.0 and config["seed"] == 0
    assert config["split"]["split_id"] and config["split"]["content_sha256"]
    assert {f["sha256"] for f in config["split"]["files"]}  # upstream checksums
    assert {"torch", "numpy", "scikit-learn", "python"} <= set(config["versions"])
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    scores = load_scores(run_dir)
    assert scores["scores_test"].shape == scores["y_test"].shape == (242, 14)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"fixed", "val", "paper"}
    store = read_store(runs_dir)
    assert set(store["protocol"]) == {"fixed", "val", "paper"}
    assert (store["run_id"] == "yeast/br/default/iterative-seed0").all()


def test_existing_runs_are_skipped_unless_forced(session_data_dir, runs_dir):
    spec = RunSpec("br", "yeast", seed=1)
    train_run(spec, runs_dir=runs_dir, data_dir=session_data_dir)
    assert train_run(spec, runs_dir=runs_dir, data_dir=session_data_dir)[1] == "skipped"
    assert train_run(spec, runs_dir=runs_dir, data_dir=session_data_dir, force=True)[1] == "done"
    assert len(read_store(runs_dir)["run_id"].unique()) == 1


def test_same_seed_same_metrics(session_data_dir, tmp_path):
    spec = RunSpec("mlknn", "yeast", seed=2)
    a, _ = train_run(spec, runs_dir=tmp_path / "a", data_dir=session_data_dir)
    b, _ = train_run(spec, runs_dir=tmp_path / "b", data_dir=session_data_dir)
    assert (a / "metrics.json").read_text() == (b / "metrics.json").read_text()


def test_overrides_make_their_own_variant(session_data_dir, runs_dir):
    spec = RunSpec("br", "yeast", seed=0, overrides=(("C", 0.1),))
    run_dir, _ = train_run(spec, runs_dir=runs_dir, data_dir=session_data_dir)
    assert "C=0.1" in str(run_dir) and variant_name({"C": 0.1}) == "C=0.1"
    assert json.loads((run_dir / "config.json").read_text())["params"]["C"] == 0.1


def test_interrupted_run_is_marked_incomplete_and_not_stored(session_data_dir, runs_dir, monkeypatch):
    from mlbench.methods.classic import BinaryRelevance

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(BinaryRelevance, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_run(RunSpec("br", "yeast", seed=0), runs_dir=runs_dir, data_dir=session_data_dir)
    run_dir = runs_dir / "yeast/br/default/iterative-seed0"
    assert json.loads((run_dir / "status.json").read_text())["state"] == "incomplete"
    assert read_store(runs_dir).empty


def test_interrupted_neural_run_resumes_to_the_uninterrupted_result(session_data_dir, tmp_path, monkeypatch):
    from mlbench.methods.mlp import BCEMethod

    spec = RunSpec("bce", "yeast", seed=0, overrides=(("epochs", 4),))
    straight, _ = train_run(spec, runs_dir=tmp_path / "a", data_dir=session_data_dir)

    original = BCEMethod.on_epoch_end

    def stop_after_second_epoch(self, stage, record):
        original(self, stage, record)
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(BCEMethod, "on_epoch_end", stop_after_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, runs_dir=tmp_path / "b", data_dir=session_data_dir)
    run_dir = tmp_path / "b" / spec.run_id()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "incomplete"
    assert (run_dir / "checkpoint.pt").is_file() and read_store(tmp_path / "b").empty
    monkeypatch.setattr(BCEMethod, "on_epoch_end", original)
    resumed, what = train_run(spec, runs_dir=tmp_path / "b", data_dir=session_data_dir, resume=True)
    assert what == "resumed"
    assert load_scores(resumed)["scores_test"].tolist() == load_scores(straight)["scores_test"].tolist()
    assert (resumed / "metrics.json").read_text() == (straight / "metrics.json").read_text()


def _write_rows(runs_dir, worker, n_runs):
    for i in range(n_runs):
        rows = [
            {
                "dataset": "d",
                "method": f"m{worker}",
                "variant": "default",
                "seed": i,
                "split": "iterative",
                "split_id": "x",
                "train_fraction": 1.0,
                "protocol": "fixed",
                "metric": metric,
                "value": 0.5,
                "run_id": f"w{worker}-{i}",
                "finished_at": "t",
            }
            for metric in ("ha", "ex-f1")
        ]
        add_rows(runs_dir, rows)


def test_store_survives_two_concurrent_writers(runs_dir):
    ctx = mp.get_context("fork")
    workers = [ctx.Process(target=_write_rows, args=(runs_dir, w, 25)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    store = pd.read_csv(runs_dir / "results.csv")
    assert len(store) == 2 * 25 * 2
    assert store["run_id"].nunique() == 50


def test_missing_run_dir_is_a_clear_error(tmp_path):
    with pytest.raises(MlbenchError, match="does not exist"):
        load_scores(tmp_path / "nope")


def test_run_selecting_on_validation_loss_still_gets_a_val_protocol(session_data_dir, runs_dir):
    spec = RunSpec("bce", "yeast", seed=0, overrides=(("epochs", 2), ("selection_metric", "loss")))
    run_dir, _ = train_run(spec, runs_dir=runs_dir, data_dir=session_data_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "ma-f1" in metrics["val"]["description"] and set(metrics) == {"fixed", "val", "paper"}
