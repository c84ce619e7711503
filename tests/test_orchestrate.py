"""`mlbench reproduce` (mlbench.runs.execute): planning, resuming, parallel and Ray execution, and
the `check` regression gate. Runs use br / mlknn / a 3-epoch bce on the embedded data (emotions is
the small one, yeast the one in the papers' tables); nothing touches the network."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from mlbench.errors import MlbenchError
from mlbench.io import read_json
from mlbench.papers import plan as planning
from mlbench.results.paper_tables import PAPER_RECORD_COLUMNS
from mlbench.runs import execute as orc
from mlbench.runs.runner import RunSpec
from mlbench.runs.store import COLUMNS, STORE_NAME, read_store

from .conftest import invoke_cli


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from mlbench.data.fetch import fetch_dataset

    root = tmp_path_factory.mktemp("data")
    for name in ("yeast", "emotions"):
        fetch_dataset(name, data_dir=root)  # from the package's embedded copies: no network
    return root


def run_cli(args) -> int:
    return invoke_cli(*args)


def status(runs_dir, spec) -> dict:
    return read_json(runs_dir / spec.run_id() / "status.json")


# -- planning --------------------------------------------------------------------------------------


def test_plan_covers_runnable_cells_times_seeds(tmp_path):
    plan = planning.plan_reproduction(
        "cgmvae",
        tables=["1"],
        seeds=[0, 1],
        data_dir=tmp_path,
        datasets=["yeast", "ebird"],
        methods=["br", "mlknn", "lamp"],
        available_methods={"br", "mlknn"},
    )
    assert [s.run_id() for s in plan.specs] == [
        "yeast/br/default/iterative-seed0",
        "yeast/br/default/iterative-seed1",
        "yeast/mlknn/default/iterative-seed0",
        "yeast/mlknn/default/iterative-seed1",
    ]
    reasons = {(c.method, c.dataset): r for c, r in plan.blocked}
    assert reasons[("br", "ebird")] == "data not public"
    assert reasons[("lamp", "yeast")] == "not implemented in mlbench"  # not available here
    assert plan.datasets == ["yeast"]


def test_plan_fractions_quick_and_unmatched(tmp_path):
    plan = planning.plan_reproduction("cgmvae", tables=["5"], seeds=[0], data_dir=tmp_path)
    assert plan.specs == []  # Table 5 needs the non-public bundles
    plan = planning.plan_reproduction(
        "cgmvae",
        tables=["1"],
        seeds=[0],
        quick=True,
        datasets=["yeast"],
        methods=["br", "bce"],
        data_dir=tmp_path,
        data_efficiency=True,
        available_methods={"br", "bce", "c2ae", "cgmvae"},
    )
    by_id = {s.run_id() for s in plan.specs}
    assert "yeast/br/default/iterative-seed0" in by_id  # classic: no epochs to shorten
    assert plan.unmatched == ["bce"]  # bce is in no C-GMVAE table or figure
    plan = planning.plan_reproduction(
        "cgmvae",
        tables=["1"],
        seeds=[0],
        datasets=["yeast"],
        quick=True,
        data_dir=tmp_path,
        data_efficiency=True,
        available_methods={"c2ae", "cgmvae"},
    )
    # Fig. 2: every method at 10%, 50% and 100% of the training data
    assert {(s.method, s.train_fraction) for s in plan.specs} >= {
        ("c2ae", 0.1),
        ("c2ae", 0.5),
        ("c2ae", 1.0),
        ("cgmvae", 0.1),
    }


def test_plan_rejects_bad_input(tmp_path):
    with pytest.raises(MlbenchError, match="has no table '9'"):
        planning.plan_reproduction("cgmvae", tables=["9"])
    with pytest.raises(MlbenchError, match="split strategy"):
        planning.plan_reproduction("cgmvae", strategy="kfold")
    with pytest.raises(MlbenchError, match="unknown paper"):
        planning.plan_reproduction("cgmva")
    with pytest.raises(MlbenchError, match="data-efficiency"):
        planning.plan_reproduction("mulsupcon", data_efficiency=True)


def test_quick_overrides(monkeypatch):
    assert planning.quick_overrides("bce") == {"epochs": 3}
    assert planning.quick_overrides("br") == {}

    class Fake:
        params = {
            "epochs": 100,
            "pretrain_epochs": 500,
            "warmup_epochs": 0,
            "short_epochs": 2,
            "flag_epochs": True,
            "lr": 1e-3,
        }
        fixed_params = {}

    import mlbench.methods

    monkeypatch.setattr(mlbench.methods, "get_method_class", lambda method: Fake)
    assert planning.quick_overrides("fake") == {"epochs": 3, "pretrain_epochs": 3, "short_epochs": 2}


# -- resume: a run killed midway is redone, finished ones are not ----------------------------------


def test_interrupted_run_is_redone_finished_ones_are_not(tmp_path, data_dir, monkeypatch):
    from mlbench.methods.classic import MLkNN

    runs = tmp_path / "runs"
    specs = [RunSpec("br", "emotions", 0), RunSpec("mlknn", "emotions", 0), RunSpec("mlknn", "emotions", 1)]
    original_fit = MLkNN.fit

    def killed_midway(self, X, Y, X_val=None, Y_val=None, context=None):
        if context.seed == 1:
            raise KeyboardInterrupt  # Ctrl-C during the last run
        return original_fit(self, X, Y, X_val, Y_val, context)

    monkeypatch.setattr(MLkNN, "fit", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        orc.execute(orc.pending_runs(specs, runs), runs_dir=runs, data_dir=data_dir)
    killed = specs[-1]
    assert status(runs, killed)["state"] == "incomplete"
    assert killed.run_id() not in set(read_store(runs)["run_id"])
    finished = {s.run_id(): status(runs, s)["finished_at"] for s in specs[:-1]}

    monkeypatch.setattr(MLkNN, "fit", original_fit)
    todo = orc.pending_runs(specs, runs)
    assert [s.run_id() for s, _ in todo] == [killed.run_id()]
    results = orc.execute(todo, runs_dir=runs, data_dir=data_dir)
    assert [(r.run_id, r.status) for r in results] == [(killed.run_id(), "done")]
    assert {s.run_id(): status(runs, s)["finished_at"] for s in specs[:-1]} == finished
    assert set(read_store(runs)["run_id"]) == {s.run_id() for s in specs}
    assert orc.pending_runs(specs, runs) == []


def test_hard_killed_run_and_lost_store_rows(tmp_path, data_dir):
    runs = tmp_path / "runs"
    spec = RunSpec("br", "emotions", 0)
    # kill -9 leaves "running" behind: redone
    (runs / spec.run_id()).mkdir(parents=True)
    (runs / spec.run_id() / "status.json").write_text(json.dumps({"state": "running"}))
    assert orc.pending_runs([spec], runs) == [(spec, False)]
    [result] = orc.execute(orc.pending_runs([spec], runs), runs_dir=runs, data_dir=data_dir)
    assert result.status == "done" and status(runs, spec)["state"] == "complete"
    # complete on disk but missing from the store (results.csv deleted): redone with force
    (runs / STORE_NAME).unlink()
    assert orc.pending_runs([spec], runs) == [(spec, True)]
    [result] = orc.execute(orc.pending_runs([spec], runs), runs_dir=runs, data_dir=data_dir)
    assert result.status == "done" and spec.run_id() in set(read_store(runs)["run_id"])


def test_neural_run_resumes_from_checkpoint(tmp_path, data_dir, monkeypatch):
    from mlbench.methods.mlp import BCEMethod

    runs = tmp_path / "runs"
    spec = RunSpec("bce", "emotions", 0, overrides=(("epochs", 3), ("hidden", [16])))

    def interrupt(self, stage, record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(BCEMethod, "on_epoch_end", interrupt)
    with pytest.raises(KeyboardInterrupt):
        orc.execute([(spec, False)], runs_dir=runs, data_dir=data_dir)
    assert (runs / spec.run_id() / "checkpoint.pt").is_file()
    monkeypatch.undo()
    [result] = orc.execute(orc.pending_runs([spec], runs), runs_dir=runs, data_dir=data_dir)
    assert result.status == "resumed"


def test_failed_run_is_reported_and_others_go_on(tmp_path, data_dir):
    runs = tmp_path / "runs"
    bad = RunSpec("br", "scene", 0)  # not fetched into this data dir
    good = RunSpec("mlknn", "emotions", 0)
    results = orc.execute([(bad, False), (good, False)], runs_dir=runs, data_dir=data_dir)
    assert [r.status for r in results] == ["failed", "done"]
    assert "mlbench fetch scene" in results[0].error


def test_a_run_another_process_is_training_is_refused_and_left_alone(tmp_path, data_dir):
    """The run lock: a second process (here a second open file, which flock treats alike) that
    reaches a run being trained gets a one-line refusal; the other runs go on."""
    from mlbench.io import try_file_lock

    runs = tmp_path / "runs"
    busy, free = RunSpec("br", "emotions", 0), RunSpec("br", "emotions", 1)
    lock = runs / ".locks" / (busy.run_id().replace("/", "__") + ".lock")
    with try_file_lock(lock) as held:
        assert held
        results = orc.execute([(busy, False), (free, False)], runs_dir=runs, data_dir=data_dir)
        assert [r.status for r in results] == ["failed", "done"]
        assert "being trained by another mlbench process" in results[0].error
        assert not (runs / busy.run_id()).exists()  # nothing of the other process's run touched
    assert orc.execute([(busy, False)], runs_dir=runs, data_dir=data_dir)[0].status == "done"


# -- parallel and Ray --------------------------------------------------------------------------------


@pytest.mark.slow
def test_jobs_run_in_worker_processes(tmp_path, data_dir):
    runs = tmp_path / "runs"
    specs = [RunSpec("br", "emotions", 0), RunSpec("mlknn", "emotions", 0)]
    seen = []
    results = orc.execute([(s, False) for s in specs], runs_dir=runs, data_dir=data_dir, jobs=2, on_result=seen.append)
    assert sorted(r.status for r in results) == ["done", "done"] and len(seen) == 2
    assert set(read_store(runs)["run_id"]) == {s.run_id() for s in specs}
    with pytest.raises(MlbenchError, match="--jobs"):
        orc.execute([], jobs=0)
    with pytest.raises(MlbenchError, match="backend"):
        orc.execute([], backend="slurm")


@pytest.mark.slow
def test_ray_backend_returns_runs_to_the_local_store(tmp_path, data_dir):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install mlbench[ray]")
    runs = tmp_path / "runs"
    specs = [RunSpec("mlknn", "emotions", 1)]
    orc.prepare_data(specs, data_dir)  # the driver makes the splits it ships to the workers
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = orc.execute([(s, False) for s in specs], runs_dir=runs, data_dir=data_dir, backend="ray")
    finally:
        ray.shutdown()
    assert [r.status for r in results] == ["done"], results
    store = read_store(runs)
    assert set(store["run_id"]) == {s.run_id() for s in specs}
    for spec in specs:
        assert status(runs, spec)["state"] == "complete"
        assert (runs / spec.run_id() / "scores.npz").is_file()
        assert read_json(runs / spec.run_id() / "config.json")["executor"].startswith("ray")
    assert orc.pending_runs(specs, runs) == []


def test_ray_missing_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(MlbenchError, match=r"pip install mlbench\[ray\]"):
        orc.execute([(RunSpec("br", "yeast", 0), False)], backend="ray")


# -- the reproduce command ---------------------------------------------------------------------------


def test_reproduce_cli_trains_renders_and_resumes(tmp_path, data_dir, capsys):
    args = [
        "reproduce",
        "--paper",
        "cgmvae",
        "--table",
        "1",
        "--table",
        "3",
        "--datasets",
        "yeast",
        "--methods",
        "mlknn",
        "--seeds",
        "0",
        "--runs-dir",
        tmp_path / "runs",
        "--data-dir",
        data_dir,
        "--format",
        "csv",
        "-q",
    ]
    assert run_cli(args) == 0
    out, err = capsys.readouterr()
    # the plan and the per-run lines go to stderr: stdout is one CSV of both tables' records
    assert "1 runs needed, 0 already in the store, 1 to run" in err
    assert "yeast/mlknn/default/iterative-seed0" in err
    records = pd.read_csv(io.StringIO(out))
    assert list(records.columns) == PAPER_RECORD_COLUMNS and out.count("dataset,method,") == 1
    assert set(zip(records["paper_table"], records["metric"])) == {(1, "ex-f1"), (1, "mi-f1"), (3, "p@1")}
    row = records[(records["paper_table"] == 3) & (records["method"] == "mlknn") & (records["dataset"] == "yeast")]
    assert row["paper"].tolist() == [0.73] and row["n"].tolist() == [1]  # MLkNN on yeast, C-GMVAE Table 3
    assert row["mean"].between(0, 1).all()
    assert run_cli([*args[:-3], "--format", "json", "-q"]) == 0  # resumed: nothing to run, the same records
    out, err = capsys.readouterr()
    assert "1 already in the store, 0 to run" in err
    assert (
        pd.DataFrame(json.loads(out))[["paper_table", "metric", "mean"]]
        .astype({"paper_table": int})
        .equals(records[["paper_table", "metric", "mean"]])
    )
    assert run_cli([*args[:-3], "--dry-run"]) == 0


# -- the check regression gate --------------------------------------------------------------------


@pytest.fixture
def gate_store(tmp_path):
    rows = [
        {
            "dataset": "yeast",
            "method": "br",
            "variant": "default",
            "seed": seed,
            "split": "iterative",
            "split_id": "x",
            "train_fraction": 1.0,
            "protocol": "fixed",
            "metric": metric,
            "value": value,
            "run_id": f"yeast/br/default/iterative-seed{seed}",
            "finished_at": "t",
        }
        for seed in (0, 1)
        for metric, value in (("ex-f1", 0.60 + 0.02 * seed), ("coverage", 6.0))
    ]
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / STORE_NAME).write_text(pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False))
    return runs


def write_expected(path, rows):
    if path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_check_exit_codes(gate_store, tmp_path, capsys, suffix):
    ok = write_expected(
        tmp_path / f"ok{suffix}",
        [
            {"dataset": "yeast", "method": "br", "metric": "ex-f1", "value": 0.615},
            {"dataset": "yeast", "method": "br", "metric": "coverage", "value": 6.005},
        ],
    )
    assert run_cli(["check", ok, "--runs-dir", gate_store]) == 0  # mean 0.61: within 0.01
    regressed = write_expected(
        tmp_path / f"bad{suffix}",
        [
            {"dataset": "yeast", "method": "br", "metric": "ex-f1", "value": 0.65},
            {"dataset": "yeast", "method": "br", "metric": "coverage", "value": 5.9},  # lower is better
            {"dataset": "yeast", "method": "mlknn", "metric": "ex-f1", "value": 0.5},
        ],
    )
    capsys.readouterr()
    assert run_cli(["check", regressed, "--runs-dir", gate_store]) == 1
    err = capsys.readouterr().err
    assert "yeast/br (fixed): ex-f1 = 0.6100, expected 0.6500" in err
    assert "yeast/br (fixed): coverage = 6.0000, expected 5.9000" in err
    assert "yeast/mlknn (fixed): ex-f1: no finished runs" in err
    assert run_cli(["check", regressed, "--runs-dir", gate_store, "--tolerance", "0.2"]) == 1  # mlknn
    assert run_cli(["check", tmp_path / "missing.csv", "--runs-dir", gate_store]) == 2


def test_check_per_row_tolerance_and_snapshot(gate_store, tmp_path):
    loose = write_expected(
        tmp_path / "loose.csv",
        [
            {
                "dataset": "yeast",
                "method": "br",
                "metric": "ex-f1",
                "value": 0.65,
                "tolerance": 0.05,
                "protocol": "fixed",
            }
        ],
    )
    assert run_cli(["check", loose, "--runs-dir", gate_store]) == 0
    baseline = tmp_path / "baseline.csv"
    assert run_cli(["check", baseline, "--write", "--runs-dir", gate_store]) == 0
    assert len(pd.read_csv(baseline)) == 2
    assert run_cli(["check", baseline, "--runs-dir", gate_store]) == 0
    bad = write_expected(tmp_path / "bad.csv", [{"dataset": "yeast", "metric": "ex-f1"}])
    assert run_cli(["check", bad, "--runs-dir", gate_store]) == 2  # columns missing
