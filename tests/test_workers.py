"""Worker processes of multi-run commands: forked from a preloaded fork server, as many as the
neural runs need, told which methods are neural without importing torch."""

from __future__ import annotations

import json

from mlbench.runs import schedule
from mlbench.runs.spec import RunSpec


def test_builtin_neural_method_ids_read_from_source_match_the_registry():
    from mlbench.method_sources import builtin_method_ids, builtin_neural_method_ids
    from mlbench.methods import METHODS, method_ids

    method_ids()
    found = builtin_neural_method_ids()
    registered = {m for m in found if m in METHODS}
    assert registered == {m for m in builtin_method_ids() if METHODS[m].is_neural}
    assert {"bce", "cgmvae", "cgmvae-unigauss", "asl", "mulsupconld-rld"} <= registered  # variants, subclasses
    assert not found & {"br", "mlknn", "cc", "sleec"}


def test_auto_jobs_gives_each_neural_run_a_worker_when_they_do_not_share_out_evenly(monkeypatch):
    monkeypatch.setattr(schedule, "usable_cores", lambda: 2)
    neural = {"bce"}.__contains__
    bce = [RunSpec("bce", "yeast", s) for s in range(6)]
    classic = [RunSpec("br", "yeast", s) for s in range(6)]
    assert schedule.auto_jobs(bce[:3] + classic, is_neural=neural) == 3  # the README's main job
    assert schedule.auto_jobs(bce[:4] + classic, is_neural=neural) == 2  # 2 each: shared out evenly
    assert schedule.auto_jobs(bce[:5], is_neural=neural) == 2  # more than twice the cores: queue
    assert schedule.auto_jobs(bce[:2] + classic, is_neural=neural) == 2
    assert schedule.auto_jobs(classic, is_neural=neural) == 1


def test_workers_read_the_environment_of_the_command_not_of_the_fork_server(tmp_path, monkeypatch):
    """The fork server outlives a pool and keeps the environment it started with; each worker
    takes the one of the command that runs the pool (here: where the data is)."""
    from mlbench.data.fetch import fetch_dataset
    from mlbench.runs.execute import execute
    from mlbench.runs.workers import warm_up

    warm_up()  # (if an earlier test started the server, its environment is older still)
    data = tmp_path / "data"
    fetch_dataset("yeast", data)  # the embedded copy: no network
    monkeypatch.setenv("MLBENCH_DATA", str(data))  # set after the server started
    specs = [RunSpec("br", "yeast", seed) for seed in (0, 1)]
    results = execute([(spec, False) for spec in specs], runs_dir=tmp_path / "runs", jobs=2)
    assert [r.status for r in results] == ["done", "done"], [r.error for r in results]
    config = json.loads((tmp_path / "runs" / specs[0].run_id() / "config.json").read_text())
    assert config["split"]["content_sha256"]
