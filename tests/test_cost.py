"""Cost recorded with every run: seconds, peak memory and the machine, in the run directory and
as store rows that `table --metric fit-seconds` renders like any metric."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from mlbench.errors import MlbenchError

from .test_cli import assert_one_line_error, env, run  # noqa: F401  (env is a fixture)

COSTS = ("fit-seconds", "predict-seconds", "peak-mb")
BR_RUN = "yeast/br/default/iterative-seed{}"

ALLOCATING = '''
import numpy as np
from mlbench.methods import MultiLabelMethod

class Allocating(MultiLabelMethod):
    """Holds ``mib`` MiB of touched memory during fit, then frees it."""
    display_name = "Allocating"
    params = {"mib": 64}

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        block = np.ones(self.hparams["mib"] * 1024 * 1024 // 8)  # above malloc's mmap threshold
        self.rate_ = np.asarray(Y.mean(axis=0)).ravel() * float(block.sum() >= 0)
        del block
        return self

    def predict_proba(self, X):
        return np.tile(self.rate_, (X.shape[0], 1))
'''


def _store(env):
    return pd.read_csv(env / "runs/results.csv")


def test_a_cli_run_records_its_cost_and_table_renders_it(env, capsys):
    import torch

    code, _, err = run(capsys, "train", "--method", "br", "-d", "yeast", "--seed", "0", "1", "-q")
    assert code == 0, err
    run_dir = env / "runs" / BR_RUN.format(0)
    status = json.loads((run_dir / "status.json").read_text())
    cost = status["cost"]
    assert cost["fit_seconds"] > 0 and cost["predict_seconds"] > 0
    assert cost["fit_cpu_seconds"] > 0
    assert cost["memory_source"] in ("VmHWM", "sampled")
    assert cost["peak_mb"] >= 0 and cost["peak_rss_mb"] >= cost["baseline_rss_mb"] > 10
    assert "peak_gpu_mb" not in cost and cost["torch_threads"] == torch.get_num_threads()
    environment = json.loads((run_dir / "config.json").read_text())["environment"]
    assert environment["device"] == "cpu" and environment["gpu_model"] is None
    assert environment["torch_threads"] == torch.get_num_threads()
    assert environment["blas_threads"] >= 1
    assert 1 <= environment["usable_cores"] <= environment["cpu_count"]
    assert isinstance(environment["cpu_model"], str) and environment["cpu_model"]
    # score metrics stay what they were: no cost in metrics.json
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert not set(COSTS) & set(metrics["fixed"]["metrics"])

    store = _store(env)
    mine = store[store["run_id"] == BR_RUN.format(0)]
    for protocol in metrics:  # one row per stored protocol, equal to status.json
        rows = mine[mine["protocol"] == protocol].set_index("metric")["value"]
        assert rows["fit-seconds"] == pytest.approx(cost["fit_seconds"])
        assert rows["predict-seconds"] == pytest.approx(cost["predict_seconds"])
        assert rows["peak-mb"] == pytest.approx(cost["peak_mb"])
        assert "peak-gpu-mb" not in rows  # a CPU run: absent, not 0
    assert set(mine["zero_division"]) == {0.0}  # cost rows survive `table --zero-division 0`

    seconds = [
        json.loads((env / "runs" / BR_RUN.format(s) / "status.json").read_text())["cost"]["fit_seconds"] for s in (0, 1)
    ]
    code, out, err = run(capsys, "table", "--metric", "fit-seconds", "--format", "markdown")
    assert code == 0, err
    cell = pd.Series(seconds)
    assert f"{cell.mean():.3f} ± {cell.std():.3f}" in out
    assert "lower is better" in out and "2 seed(s)" in out and "Measured while training" in out
    code, out, err = run(capsys, "table", "--metric", "fit-seconds", "--format", "csv")
    record = pd.read_csv(io.StringIO(out)).set_index("method").loc["br"]
    assert code == 0 and record["n"] == 2 and record["mean"] == pytest.approx(cell.mean()), err
    for metric in ("predict-seconds", "peak-mb"):
        code, out, err = run(capsys, "table", "--metric", metric, "--protocol", "val")
        assert code == 0 and "BR" in out and "yeast" in out, err


def test_peak_memory_is_per_run_in_a_long_lived_process(env, capsys, tmp_path, monkeypatch):
    """Three runs in one process: each 64 MiB run is charged its 64 MiB (a process-lifetime peak
    such as ru_maxrss would charge the second nothing more), and a run that allocates nothing
    after them is not charged with their peak."""
    (tmp_path / "alloc.py").write_text(ALLOCATING)
    monkeypatch.chdir(tmp_path)
    for seed, mib in ((0, 64), (1, 64), (2, 0)):
        code, _, err = run(
            capsys,
            "train",
            "--method",
            "./alloc.py:Allocating",
            "-d",
            "yeast",
            "--seed",
            str(seed),
            "--set",
            f"mib={mib}",
            "-q",
        )
        assert code == 0, err
    peaks = {}
    for seed, mib in ((0, 64), (1, 64), (2, 0)):
        run_dir = next((env / "runs/yeast/alloc.py:Allocating").glob(f"*/iterative-seed{seed}"))
        cost = json.loads((run_dir / "status.json").read_text())["cost"]
        if cost["memory_source"] is None:
            pytest.skip("no peak-memory measurement on this platform")
        peaks[seed] = cost["peak_mb"]
    assert 60 < peaks[0] < 64 + 48 and 60 < peaks[1] < 64 + 48, peaks
    assert 0 <= peaks[2] < 16, peaks


def test_eval_recomputes_scores_and_keeps_the_cost(env, capsys):
    from mlbench.metrics import compute_metrics, resolve_metric_ids
    from mlbench.metrics.protocols import evaluate

    run(capsys, "train", "--method", "br", "-d", "yeast", "-q")
    run_dir = env / "runs" / BR_RUN.format(0)
    store_before = (env / "runs/results.csv").read_text()
    status_before = (run_dir / "status.json").read_text()
    stored = json.loads((run_dir / "metrics.json").read_text())
    for protocol in ("fixed", "val", "paper"):
        code, out, err = run(capsys, "eval", str(run_dir), "--protocol", protocol, "--json")
        assert code == 0, err
        assert json.loads(out)["metrics"] == pytest.approx(stored[protocol]["metrics"])
    code, out, _ = run(capsys, "eval", str(run_dir))
    assert code == 0 and "cost recorded at training: fit" in " ".join(out.split())
    assert (env / "runs/results.csv").read_text() == store_before
    assert (run_dir / "status.json").read_text() == status_before
    # recomputation from scores never yields a cost, and refuses to compute one
    assert not set(COSTS) & set(resolve_metric_ids(None))
    scores = __import__("numpy").load(run_dir / "scores.npz")
    with pytest.raises(MlbenchError, match="measured while a run trains"):
        compute_metrics(scores["y_test"], scores["scores_test"], 0.5, ["fit-seconds"])
    with pytest.raises(MlbenchError, match="threshold"):
        evaluate(
            scores["y_test"],
            scores["scores_test"],
            "val",
            y_true_val=scores["y_val"],
            scores_val=scores["scores_val"],
            selection_metric="peak-mb",
        )
    code, _, err = run(capsys, "eval", str(run_dir), "--selection-metric", "fit-seconds", "--protocol", "val")
    assert_one_line_error(code, err, "fit-seconds")
    code, _, err = run(
        capsys,
        "train",
        "--method",
        "bce",
        "-d",
        "yeast",
        "--set",
        "epochs=1",
        "--set",
        "selection_metric=fit-seconds",
        "-q",
    )
    assert_one_line_error(code, err, "fit-seconds is a cost")


def test_old_store_without_cost_rows_and_outside_predictions(env, capsys, tmp_path):
    import numpy as np

    from mlbench.data import load_split
    from mlbench.runs.store import COLUMNS

    run(capsys, "train", "--method", "br", "-d", "yeast", "-q")
    path = env / "runs/results.csv"
    old = _store(env)
    old = old[~old["metric"].isin(COSTS)][COLUMNS]  # as written before costs and hashes existed
    old.to_csv(path, index=False)
    code, _, err = run(capsys, "table", "--metric", "fit-seconds")
    assert_one_line_error(code, err, "no finished runs match")
    code, out, err = run(capsys, "table", "--metric", "ex-f1", "--format", "csv")
    assert code == 0 and "br," in out.lower(), err
    # asked beside a metric the store has, the absent cost is a warning, not a failure
    code, out, err = run(capsys, "table", "--metric", "ex-f1", "fit-seconds", "--format", "csv")
    assert code == 0 and set(pd.read_csv(io.StringIO(out))["metric"]) == {"ex-f1"}
    assert "no stored run has fit-seconds" in " ".join(err.split())
    # a new run beside the old rows: its cost is shown, the old run counts for quality only
    code, _, err = run(capsys, "train", "--method", "br", "-d", "yeast", "--seed", "1", "-q")
    assert code == 0, err
    code, out, _ = run(capsys, "table", "--metric", "fit-seconds", "--format", "markdown")
    assert code == 0 and "1 seed(s)" in out
    code, out, _ = run(capsys, "table", "--metric", "ex-f1", "--format", "markdown")
    assert code == 0 and "2 seed(s)" in out
    # outside predictions had no fit here: no cost rows at all (absent, not zero)
    data = load_split("yeast", seed=1)
    prior = np.tile(np.asarray(data.Y_train.mean(axis=0)).ravel(), (data.Y_test.shape[0], 1))
    np.savez(tmp_path / "pred.npz", y_true=np.asarray(data.Y_test), scores=prior)
    code, _, err = run(
        capsys, "eval", "--predictions", tmp_path / "pred.npz", "-d", "yeast", "--seed", "1", "--name", "outside"
    )
    assert code == 0, err
    store = _store(env)
    outside = store[store["method"] == "outside"]
    assert len(outside) and not set(COSTS) & set(outside["metric"])
    code, out, _ = run(capsys, "table", "--metric", "fit-seconds", "--format", "csv")
    assert code == 0 and "outside" not in out


def test_cost_metrics_are_declared_with_the_metrics():
    from mlbench.metrics import COST_METRIC_IDS, METRIC_IDS, get_metric
    from mlbench.papers import METRICS as VOCABULARY

    assert set(COST_METRIC_IDS) == {*COSTS, "peak-gpu-mb"}
    assert not set(COST_METRIC_IDS) & set(METRIC_IDS)
    for metric in COST_METRIC_IDS:
        spec = get_metric(metric.upper())
        assert spec.definition == "cost" and not spec.higher_is_better and metric in VOCABULARY
    with pytest.raises(MlbenchError, match="fit-seconds"):
        get_metric("fit-secs")  # the suggestion names the cost id


def test_sampled_peak_and_no_measurement(monkeypatch):
    """Where the kernel's high-water mark cannot be reset: a sampling thread, else nothing."""
    import time

    from mlbench.runs import cost as cost_module
    from mlbench.runs.cost import CostMeter, cost_values

    rss = iter([100, 100] + [300 * 2**20] * 5 + [150 * 2**20] * 10**6)
    meter = CostMeter("cpu", use_kernel_peak=False, read_rss=lambda: next(rss)).start()
    with meter.phase("fit"):
        time.sleep(0.1)
    with meter.phase("predict"):
        pass
    cost = meter.stop()
    assert cost["memory_source"] == "sampled" and cost["peak_rss_mb"] == pytest.approx(300, abs=0.01)
    assert cost["peak_mb"] == pytest.approx(300, abs=0.01)
    assert cost["fit_seconds"] >= 0.1 and set(cost_values(cost)) == set(COSTS)
    assert meter.stop() is cost  # idempotent: stopping after a failure and again is harmless

    monkeypatch.setattr(cost_module, "_psutil_rss", lambda: None)
    meter = CostMeter("cpu", use_kernel_peak=False).start()
    with meter.phase("fit"):
        pass
    with meter.phase("predict"):
        pass
    cost = meter.stop()
    assert cost["memory_source"] is None and "peak_mb" not in cost
    assert set(cost_values(cost)) == {"fit-seconds", "predict-seconds"}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA device")
def test_cuda_run_records_gpu_memory_and_model(env, capsys):
    import torch

    code, _, err = run(capsys, "train", "--method", "bce", "-d", "yeast", "--device", "cuda", "--set", "epochs=1", "-q")
    assert code == 0, err
    run_dir = next((env / "runs/yeast/bce").glob("*/iterative-seed0"))
    cost = json.loads((run_dir / "status.json").read_text())["cost"]
    environment = json.loads((run_dir / "config.json").read_text())["environment"]
    assert cost["peak_gpu_mb"] > 0 and cost["fit_seconds"] > 0
    assert environment["gpu_model"] == torch.cuda.get_device_name(0)
    store = _store(env)
    assert (store[store["metric"] == "peak-gpu-mb"]["value"] > 0).all()
    code, out, _ = run(capsys, "table", "--metric", "peak-gpu-mb")
    assert code == 0 and "BCE" in out


def test_threads_per_job_caps_blas_too():
    # torch.set_num_threads does not reach numpy's and scipy's OpenBLAS, which scikit-learn's
    # methods use; a job's thread count must cap them as well.
    from mlbench.runs.cost import blas_threads
    from mlbench.runs.execute import limit_blas_threads

    limiter = limit_blas_threads(1)
    try:
        from threadpoolctl import threadpool_info

        assert blas_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        limiter.restore_original_limits()
