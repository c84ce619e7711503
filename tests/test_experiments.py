"""Experiments as data: the TOML schema, the shipped experiments (the same runs as the
benchmarks/reproduce_*.py scripts planned), split specifications, and a tiny experiment driven
through `mlbench reproduce --experiment` and `mlbench report --experiment`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlbench.errors import MlbenchError
from mlbench.io import read_json
from mlbench.papers.experiment import (
    load_experiment,
    plan_experiment,
    ratios_for_validation_share,
    shipped_experiment,
)
from mlbench.runs.spec import RunSpec

from .conftest import REPO, invoke_cli

DOCS = REPO / "docs" / "experiments.md"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from mlbench.data.fetch import fetch_dataset

    root = tmp_path_factory.mktemp("data")
    fetch_dataset("yeast", data_dir=root)  # the package's embedded copy: no network
    return root


def _write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- schema ----------------------------------------------------------------------------------------


def test_docs_example_loads_and_plans(data_dir):
    block = re.search(r"## Example\s+```toml\n(.*?)```", DOCS.read_text(), re.S).group(1)
    exp = load_experiment(_write(data_dir.parent, block, "docs-example.toml"))
    assert exp.name == "baselines" and list(exp.groups) == ["classic", "neural"]
    classic, neural = exp.groups["classic"], exp.groups["neural"]
    assert classic.split.strategy == "official" and classic.split.val_fraction == 0
    assert classic.protocols == ["paper", "fixed"] and neural.protocols == ["paper", "val"]
    assert neural.rows[0].overrides == (("epochs", 50),) and neural.rows[1].paper.table == "2"
    assert neural.comparisons[0].rows == ("bce", "asl")
    ids = {s.run_id() for s in plan_experiment(exp, data_dir=data_dir).specs}
    # yeast's Mulan train file has 1500 rows: 20% = 300 for validation, 0 = no validation part.
    assert ids == {f"yeast/br/default/official-r0.5-0-0.5-seed{s}" for s in (0, 1)} | {
        f"yeast/{m}/epochs=50/official-r0.437888-0.124224-0.437888-seed{s}" for m in ("bce", "asl") for s in (0, 1)
    }


BAD = [
    (
        'seed = [0]\n[groups.g]\ndatasets = ["yeast"]\n[[groups.g.rows]]\nmethod = "br"\n',
        "top level: unknown key 'seed'. Did you mean 'seeds'",
    ),
    (
        'datasets = ["yeast"]\n[groups.g]\n[[groups.g.rows]]\nmethd = "br"\n',
        "groups.g.rows[0]: unknown key 'methd'. Did you mean 'method'",
    ),
    (
        'datasets = ["yeast"]\n[groups.g]\nsplit = { strategy = "official", val_frac = 0.2 }\n'
        '[[groups.g.rows]]\nmethod = "br"\n',
        "unknown key 'val_frac'. Did you mean 'val_fraction'",
    ),
    (
        'datasets = ["yeast"]\n[groups.g]\nsplit = { strategy = "oficial" }\n[[groups.g.rows]]\nmethod = "br"\n',
        "unknown split strategy 'oficial'. Did you mean 'official'",
    ),
    (
        'datasets = ["yeast"]\n[groups.g]\nsplit = { strategy = "official", val_fraction = 0 }\n'
        '[[groups.g.rows]]\nmethod = "br"\n',
        "no `val` protocol",
    ),
    (
        'datasets = ["yeast"]\n[groups.g]\nprotocols = ["paper", "oracle"]\n[[groups.g.rows]]\nmethod = "br"\n',
        "unknown protocol 'oracle'",
    ),
    (
        'datasets = ["yeast"]\n[groups.g]\n[[groups.g.rows]]\nmethod = "br"\n[[groups.g.rows]]\nmethod = "br"\n',
        "two rows share the key/label 'br'",
    ),
    (
        'datasets = ["yeast"]\n[groups.g]\n[[groups.g.rows]]\nmethod = "br"\n[[groups.g.compare]]\n'
        'rows = ["br", "mlknn"]\n',
        "unknown row key 'mlknn'",
    ),
    (
        'datasets = ["yeast"]\n[groups.g]\n[[groups.g.rows]]\nmethod = "br"\n'
        'paper = { paper = "cgmave", method = "br" }\n',
        "unknown paper 'cgmave'. Did you mean 'cgmvae'",
    ),
    ('datasets = ["yeast"]\n', "has no groups"),
    ('datasets = ["yeast"\n', "is not valid TOML"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[m for _, m in BAD])
def test_bad_experiment_files_are_one_line_errors(tmp_path, capsys, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(MlbenchError, match=re.escape(message)):
        load_experiment(path)
    code = invoke_cli("reproduce", "--experiment", path, "--dry-run", "--runs-dir", tmp_path / "runs")
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and message.split(".")[0][:30] in " ".join(err.split())
    assert not (tmp_path / "runs").exists()


def test_unknown_group_and_missing_file(tmp_path, capsys):
    with pytest.raises(MlbenchError, match="unknown group 'mian'. Did you mean 'main'"):
        load_experiment(shipped_experiment("mulsupcon")).select(["mian"])
    assert invoke_cli("report", "--experiment", tmp_path / "nope.toml", "--out", tmp_path) != 0
    assert "does not exist" in capsys.readouterr().err
    assert invoke_cli("reproduce", "--paper", "cgmvae", "--experiment", "cgmvae", "--dry-run") != 0
    assert "not both" in capsys.readouterr().err


# -- the shipped experiments plan the runs behind the reports ---------------------------------------

# tests/golden/plan-*.txt: the run ids that benchmarks/reproduce_{cgmvae,mulsupcon}.py planned
# (frozen from them, when both plans were asserted equal, before the scripts were deleted), so the
# runs already in a store keep their ids. Groups added later are checked on their own below.
NEWER_GROUPS = {
    "lamp",
    "sleec",
    "rbcc",
    "delicious-gap",
    "delicious-gap-split",
    "bf16",
    "bf16-delicious",
    "mulcon-delicious",
}


def _script_groups(exp) -> list[str]:
    return [name for name in exp.groups if name not in NEWER_GROUPS]


def _golden_plan(name: str) -> list[str]:
    return (REPO / "tests" / "golden" / f"plan-{name}.txt").read_text().splitlines()


def test_cgmvae_experiment_plans_the_scripts_runs():
    exp = load_experiment(shipped_experiment("cgmvae"))
    plan = plan_experiment(exp, _script_groups(exp))
    ids = sorted(s.run_id() for s in plan.specs)
    assert "delicious/cgmvae/epochs=200,preset=official/iterative-seed0" in ids
    assert "delicious/cgmvae/epochs=200,preset=official/iterative-seed1" not in ids  # one seed
    # Table 5 / Fig. 2 need the authors' npy bundles: blocked, with the reason.
    assert {(d, r) for _, d, r in plan.blocked} >= {("mirflickr", "data not public")}
    assert ids == _golden_plan("cgmvae")


def _never_fetched(dataset, val_fraction, data_dir):
    raise MlbenchError(f"{dataset} is not fetched")


def test_delicious_gap_groups_change_one_thing_each_against_the_official_row():
    """Issue 12's hypotheses: each row differs from the official preset's run in one setting
    (or, for the split group, only in the split), and shares seed 0 with it."""
    exp = load_experiment(shipped_experiment("cgmvae"))
    groups = ["delicious-gap", "delicious-gap-split"]
    # Unfetched, the split group's cell is blocked: Mulan's file sizes decide its ratios.
    unfetched = plan_experiment(exp, groups, ratios_for=_never_fetched)
    assert [(d, r) for _, d, r in unfetched.blocked] == [("delicious", "not fetched (`mlbench fetch delicious`)")]

    def mulan_delicious(dataset, val_fraction, data_dir):  # 16105 samples, 12920 in the train file
        return ratios_for_validation_share(16105, 12920, val_fraction)

    ids = sorted(s.run_id() for s in plan_experiment(exp, groups, ratios_for=mulan_delicious).specs)
    assert ids == [
        "delicious/cgmvae/preset=official,selection_metric=p_1/iterative-seed0",
        "delicious/cgmvae/preset=official,standardize=False/iterative-seed0",
        "delicious/cgmvae/preset=official/iterative-seed0",
        "delicious/cgmvae/preset=official/official-r0.449852-0.100295-0.449853-seed0",
    ]


def test_bf16_groups_pair_each_float32_run_with_its_bf16_twin():
    """The bf16 diagnostic: every run of the official preset (the main group's, shared) beside
    the same run with precision=bf16 and nothing else changed."""
    exp = load_experiment(shipped_experiment("cgmvae"))
    ids = sorted(s.run_id() for s in plan_experiment(exp, ["bf16", "bf16-delicious"]).specs)
    runs = [(d, seed) for d in ("yeast", "scene") for seed in (0, 1, 2)] + [("delicious", 0)]
    assert ids == sorted(
        f"{d}/cgmvae/{settings}/iterative-seed{seed}"
        for d, seed in runs
        for settings in ("preset=official", "precision=bf16,preset=official")
    )
    main = {s.run_id() for s in plan_experiment(exp, ["main"]).specs}
    assert {i for i in ids if "bf16" not in i} <= main


def test_mulsupcon_experiment_plans_the_scripts_runs(data_dir):
    exp = load_experiment(shipped_experiment("mulsupcon"))
    plan = plan_experiment(exp, _script_groups(exp), data_dir=data_dir, datasets=["yeast"])
    ids = sorted(s.run_id() for s in plan.specs)
    # MulSupCon's split: 20% of Mulan's training file for validation (yeast 1200/300/917)
    assert "yeast/mulsupcon/weighted=True/official-r0.437888-0.124224-0.437888-seed0" in ids
    assert ids == _golden_plan("mulsupcon-yeast")


def test_methods_keep_only_their_rows_and_an_unknown_one_is_refused():
    exp = load_experiment(shipped_experiment("cgmvae"))
    plan = plan_experiment(exp, ["main"], datasets=["yeast"], methods=["br", "cgmvae"])
    assert {s.method for s in plan.specs} == {"br", "cgmvae"}
    # every C-GMVAE row of the group (its presets), 3 seeds each
    assert len(plan.specs) == 3 + 3 * sum(row.method == "cgmvae" for row in exp.select(["main"])[0].rows)
    with pytest.raises(MlbenchError, match="no row of experiment 'cgmvae' .main. runs rf; its methods: br, c2ae"):
        plan_experiment(exp, ["main"], methods=["rf"])


def test_lamp_groups_share_their_runs_across_the_experiments(data_dir):
    # MulSupCon quotes its LaMP row from the C-GMVAE paper: both plan the same runs on
    # C-GMVAE's split (iterative 80/10/10), not on Mulan's train/test files.
    plans = {
        name: plan_experiment(load_experiment(shipped_experiment(name)), ["lamp"], data_dir=data_dir)
        for name in ("cgmvae", "mulsupcon")
    }
    lamp = {name: {s.run_id() for s in plan.specs if s.method == "lamp"} for name, plan in plans.items()}
    expected = {f"{d}/lamp/default/iterative-seed{s}" for d in ("yeast", "scene", "delicious") for s in (0, 1, 2)}
    assert lamp["cgmvae"] == lamp["mulsupcon"] == expected


# -- split specifications -------------------------------------------------------------------------


def test_official_split_with_and_without_validation(data_dir):
    from mlbench.data import load_dataset
    from mlbench.data.splits import get_split
    from mlbench.papers.experiment import official_ratios

    ds = load_dataset("yeast", data_dir)
    sizes = {
        f: {
            k: len(v)
            for k, v in get_split(data_dir, ds, "official", 0, official_ratios("yeast", f, data_dir)).indices.items()
        }
        for f in (0.2, 0.0)
    }
    assert sizes[0.2] == {"train": 1200, "val": 300, "test": 917}
    assert sizes[0.0] == {"train": 1500, "val": 0, "test": 917}
    with pytest.raises(MlbenchError, match="positive"):  # only `official` may have no validation
        get_split(data_dir, ds, "iterative", 0, (0.5, 0.0, 0.5))


def test_no_validation_part_trains_br_and_refuses_a_neural_method(tmp_path, data_dir, capsys):
    path = _write(
        tmp_path,
        'datasets = ["yeast"]\nseeds = [0]\nprotocols = ["paper", "fixed"]\n'
        '[groups.g]\nsplit = { strategy = "official", val_fraction = 0 }\n'
        '[[groups.g.rows]]\nmethod = "br"\n[[groups.g.rows]]\nmethod = "bce"\n',
    )
    runs = tmp_path / "runs"
    code = invoke_cli("reproduce", "--experiment", path, "--runs-dir", runs, "--data-dir", data_dir, "-q")
    out = capsys.readouterr()
    assert code == 1
    assert "bce selects its epoch on validation data" in " ".join((out.out + out.err).split())
    br = runs / "yeast/br/default/official-r0.5-0-0.5-seed0"
    assert read_json(br / "status.json")["state"] == "complete"
    assert set(read_json(br / "metrics.json")) == {"fixed", "paper"}  # no `val` without validation
    assert read_json(br / "config.json")["split"]["sizes"] == {"train": 1500, "val": 0, "test": 917}


# -- a tiny experiment through the CLI --------------------------------------------------------------

TINY = """\
name = "tiny"
title = "Tiny experiment"
paper = "mulsupcon"
datasets = ["yeast"]
seeds = [0]
metrics = ["ex-f1", "mi-f1"]

[groups.main]
title = "BR and BCE"
[[groups.main.rows]]
method = "br"
label = "BR"
paper = false
[[groups.main.rows]]
method = "bce"
set = { epochs = 5 }
label = "BCE"
paper = { table = "2", method = "asl" }
[[groups.main.compare]]
what = "BCE vs BR"
rows = ["BR", "BCE"]
"""


def _report(tmp_path, path, runs, data_dir) -> str:
    assert (
        invoke_cli(
            "report", "--experiment", path, "--out", tmp_path / "out", "--runs-dir", runs, "--data-dir", data_dir
        )
        == 0
    )
    return (tmp_path / "out" / "tiny.md").read_text()


@pytest.mark.slow
def test_tiny_experiment_reproduce_and_report(tmp_path, data_dir, capsys, monkeypatch):
    from mlbench.papers import paper_value
    from mlbench.results.experiment_report import estimated_fit_seconds

    path, runs = _write(tmp_path, TINY), tmp_path / "runs"
    common = ("--runs-dir", runs, "--data-dir", data_dir, "-q")
    assert invoke_cli("reproduce", "--experiment", path, "--quick", *common) == 0
    assert (runs / "yeast/bce/epochs=3/iterative-seed0/status.json").is_file()  # quick: epochs 5 -> 3

    # Only the smoke run exists: shown, marked, and never given a Δ against the paper.
    text = _report(tmp_path, path, runs, data_dir)
    paper_ex = paper_value("mulsupcon", "ex-f1", "asl", "yeast")
    smoke = [line for line in text.splitlines() if line.startswith("| BCE")]
    assert len(smoke) == 2 and all("[smoke run: epochs=3]" in line for line in smoke)
    assert all("n/a (smoke run)" in line for line in smoke) and f"| {paper_ex:.3f} |" in smoke[0]
    assert "includes smoke runs: BCE" in text and "1 run(s) are shown from smoke runs" in text
    assert "* yeast/bce/epochs=5/iterative-seed0" in text  # the full run is still missing

    capsys.readouterr()
    assert invoke_cli("reproduce", "--experiment", path, "--dry-run", *common) == 0
    out = " ".join(capsys.readouterr().out.split())
    # no run of these settings yet: the smoke run's time, scaled from its 3 epochs to 5
    smoke_fit = read_json(runs / "yeast/bce/epochs=3/iterative-seed0/status.json")["fit_seconds"]
    assert f"yeast/bce/epochs=5/iterative-seed0 ~{smoke_fit * 5 / 3:.0f} s CPU (from epochs=3, scaled by epochs)" in out
    assert "1 to run" in out and "1 of them from other settings" in out

    assert invoke_cli("reproduce", "--experiment", path, "--threads-per-job", "1", *common) == 0
    text = _report(tmp_path, path, runs, data_dir)
    assert "[smoke run" not in text and "n/a (smoke run)" not in text
    run_dir = runs / "yeast/bce/epochs=5/iterative-seed0"
    metrics = read_json(run_dir / "metrics.json")
    ours = metrics["paper"]["metrics"]["ex-f1"]
    line = next(line for line in text.splitlines() if line.startswith("| BCE | ex-f1"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[2:6] == [
        f"{ours:.3f}",
        f"{metrics['val']['metrics']['ex-f1']:.3f}",
        f"{paper_ex:.3f}",
        f"{ours - paper_ex:+.3f}",
    ]
    assert cells[7] != "-"  # the selected epoch, from train_log.csv
    br = next(line for line in text.splitlines() if line.startswith("| BR | ex-f1"))
    assert br.split("|")[5].strip() == "-"  # BR has no paper cell
    assert "* yeast, BCE vs BR: BCE minus the best of BR: ex-f1" in text
    assert "Nothing: every planned run is complete." in text
    # the commands name the store they read, so they run as printed
    assert f"mlbench reproduce --experiment {path} --runs-dir {runs}`" in text and "torch " in text
    # The dry run's estimate: the recorded fit time of the same settings (another seed here).
    fit = read_json(run_dir / "status.json")["fit_seconds"]
    other_seed = RunSpec("bce", "yeast", 1, "iterative", (("epochs", 5),))
    assert estimated_fit_seconds(other_seed, runs) == pytest.approx(fit)
    assert estimated_fit_seconds(RunSpec("mlknn", "yeast", 1), runs) is None


def test_fit_time_estimate_scales_other_settings_by_epochs(tmp_path):
    from mlbench.io import atomic_write_text
    from mlbench.results.experiment_report import fit_time_estimate

    def run(method, variant, overrides, params, fit, state="complete"):
        run_dir = tmp_path / "yeast" / method / variant / "iterative-seed0"
        config = {"variant": variant, "overrides": overrides, "params": params}
        atomic_write_text(run_dir / "config.json", json.dumps(config))
        atomic_write_text(run_dir / "status.json", json.dumps({"state": state, "fit_seconds": fit}))

    run("bce", "epochs=3", {"epochs": 3}, {"epochs": 3, "lr": 0.01}, 6.0)
    run("bce", "default", {}, {"epochs": 10, "lr": 0.01}, 20.0)
    run("bce", "lr=0.1", {"lr": 0.1}, {"epochs": 10, "lr": 0.1}, 1000.0, state="running")  # not complete
    run("br", "C=1", {"C": 1}, {"C": 1}, 2.0)
    assert fit_time_estimate(RunSpec("bce", "yeast", 1), tmp_path) == (20.0, None)  # same settings
    # epochs=5: both runs differ only in epochs; 6 * 5/3 and 20 * 5/10
    assert fit_time_estimate(RunSpec("bce", "yeast", overrides=(("epochs", 5),)), tmp_path) == (
        10.0,
        "default, epochs=3",
    )
    # lr=0.1, epochs=20: nothing closer, so every run, scaled to 20 epochs (the lr=0.1 run is not complete)
    assert fit_time_estimate(RunSpec("bce", "yeast", overrides=(("epochs", 20), ("lr", 0.1))), tmp_path) == (
        40.0,
        "default, epochs=3",
    )
    # the default epochs are what the runs without an epochs override ran: 10
    assert fit_time_estimate(RunSpec("bce", "yeast", overrides=(("lr", 0.1),)), tmp_path) == (20.0, "default, epochs=3")
    assert fit_time_estimate(RunSpec("br", "yeast", overrides=(("C", 2),)), tmp_path) == (2.0, "C=1")  # no epochs
    assert fit_time_estimate(RunSpec("mlknn", "yeast"), tmp_path) is None


def test_report_on_an_experiment_never_imports_torch(tmp_path, data_dir):
    code = (
        "import sys\nfrom mlbench.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "assert 'torch' not in sys.modules, 'imported torch'\nprint('NO-TORCH')\n"
    )
    env = dict(os.environ, MLBENCH_DATA=str(data_dir), MLBENCH_RUNS=str(tmp_path / "runs"))
    done = subprocess.run(
        [sys.executable, "-c", code, "report", "--experiment", "mulsupcon", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "NO-TORCH" in done.stdout, done.stderr[-2000:]
    text = (tmp_path / "mulsupcon.md").read_text()
    assert "## Tables 2-3: MulSupCon" in text and "not fetched" in text  # scene, delicious
    assert np.char.count(text, "* yeast/mulsupcon/default/official-r0.437888-0.124224-0.437888-seed") == 3


def test_every_shipped_experiment_loads_and_plans_registered_methods():
    from mlbench.methods import method_ids
    from mlbench.papers.experiment import shipped_experiments

    shipped = shipped_experiments()
    assert {"cgmvae", "mulsupcon", "baselines"} <= set(shipped)
    for name, path in shipped.items():
        exp = load_experiment(path)
        methods = {row.method for group in exp.groups.values() for row in group.rows}
        assert methods <= set(method_ids()), name
    baselines = plan_experiment(load_experiment(shipped["baselines"]))
    assert {s.method for s in baselines.specs} >= {"br", "rf", "cc", "ecc", "rbcc", "mlknn", "sleec", "boomer"}
    assert {s.dataset for s in baselines.specs} == {"yeast", "scene", "delicious"}


def test_shipped_experiment_names_are_suggested(capsys):
    assert invoke_cli("reproduce", "--experiment", "baseline", "--dry-run") != 0
    assert "Did you mean 'baselines'" in capsys.readouterr().err


def test_reproduce_experiment_takes_seeds_and_refuses_paper_only_options(tmp_path, data_dir, capsys):
    common = ("--runs-dir", tmp_path / "runs", "--data-dir", data_dir, "--dry-run")
    assert (
        invoke_cli(
            "reproduce",
            "--experiment",
            "cgmvae",
            "--groups",
            "main",
            "--datasets",
            "yeast",
            "--methods",
            "br",
            "--seeds",
            "0",
            *common,
        )
        == 0
    )
    out = " ".join(capsys.readouterr().out.split())
    assert "yeast/br/default/iterative-seed0" in out and "seed1" not in out and "3 runs needed" not in out
    for option in (["--split-strategy", "random"], ["--table", "1"], ["--folds", "5"], ["--data-efficiency"]):
        assert invoke_cli("reproduce", "--experiment", "cgmvae", *option, *common) != 0
        assert f"{option[0]}: only with --paper; an experiment file sets" in capsys.readouterr().err
