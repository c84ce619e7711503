"""Progress a person can read (run names, ``run k/N``, ETA, plain lines off a terminal) and
``train --jobs``: the worker count, the order, and the same numbers as one run after another."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mlbench.runs import schedule
from mlbench.runs.progress import RunProgress, finished_line, format_eta, format_seconds, run_label
from mlbench.runs.spec import RunSpec

from .conftest import invoke_cli

LINE = re.compile(
    r"^✓ run (\d+)/(\d+) done  (\S+) · yeast · seed (\d+)(?: · \S+)?  ha 0\.\d{3}  "
    r"ex-f1 (0\.\d{3})  .*  (?:\d+\.\d s|\d+ min \d\d s|\d+ h \d\d min)  (?:ETA .*  )?(\S+)$"
)


def run(capsys, *argv):
    code = invoke_cli(*argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(tmp_path, monkeypatch, session_data_dir):
    monkeypatch.setenv("MLBENCH_DATA", str(session_data_dir))
    monkeypatch.setenv("MLBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("COLUMNS", "80")  # plain lines must not wrap even on a narrow log
    return tmp_path


# -- text ------------------------------------------------------------------------------------------


def test_run_label_names_the_run_and_what_sets_it_apart():
    assert run_label(RunSpec("bce", "yeast", 1)) == "bce · yeast · seed 1"
    assert run_label(RunSpec("br", "scene", 0, "kfold5-fold2")) == "br · scene · seed 0 · fold 2 of 5"
    assert run_label(RunSpec("br", "scene", 0, "official")) == "br · scene · seed 0 · official"
    mulsupcon_split = RunSpec("bce", "delicious", 0, "official", ratios=(0.419768, 0.160463, 0.419769))
    assert run_label(mulsupcon_split) == "bce · delicious · seed 0 · official · validation 16.0% of the samples"
    spec = RunSpec("bce", "yeast", 2, overrides=(("epochs", 5),), train_fraction=0.1)
    assert run_label(spec) == "bce · yeast · seed 2 · 0.1 of train · epochs=5"


def test_durations_read_as_seconds_minutes_hours():
    assert [format_seconds(s) for s in (0.04, 12.14, 59.9, 65, 3599, 7380)] == [
        "0.0 s",
        "12.1 s",
        "59.9 s",
        "1 min 05 s",
        "59 min 59 s",
        "2 h 03 min",
    ]
    assert [format_eta(s) for s in (4.4, 40.6, 125)] == ["5 s", "41 s", "2 min 05 s"]


def test_makespan_hands_out_longest_first():
    assert schedule.makespan([3, 5, 3, 4, 3], jobs=1) == 18
    assert schedule.makespan([3, 5, 3, 4, 3], jobs=2) == 10  # 5+3 | 4+3+3
    assert schedule.makespan([], jobs=2) == 0


def test_eta_from_finished_runs_then_recorded_fit_times():
    specs = [RunSpec("bce", "yeast", s) for s in (0, 1, 2)] + [RunSpec("br", "yeast", 0)]
    progress = RunProgress(specs, jobs=1)
    assert progress.eta_text() == "ETA unknown (4 runs not timed yet)"
    assert progress.bar_label(specs[0]) == "run 1/4 · bce · yeast · seed 0"
    progress.done(specs[0], 10.0)
    assert progress.eta_text() == "ETA ≥ 20 s (1 run not timed yet)"
    line = finished_line(progress, specs[0], "done", 10.0, "runs/x", metrics={"ex-f1": 0.6312})
    assert line == "run 1/4 done  bce · yeast · seed 0  ex-f1 0.631  10.0 s  ETA ≥ 20 s (1 run not timed yet)  runs/x"

    timed = RunProgress(specs, jobs=2, prior=lambda spec: 2.0 if spec.method == "br" else None)
    assert timed.plan_text().startswith("4 runs to train, 2 at a time in worker processes; about 2 s for the 1 with")
    timed.done(specs[0], 10.0)
    assert timed.eta_text() == "ETA 12 s"  # bce 10 | bce 10 + br 2 on two workers
    assert timed.bar_label(specs[1]) == "run 2/4, ETA 12 s · bce · yeast · seed 1"
    timed.done(specs[1], None)  # failed: counted, not used to estimate
    assert timed.counter(timed.finished) == "run 2/4"


def test_auto_jobs_uses_the_cores_only_where_workers_pay_off(monkeypatch):
    monkeypatch.setattr(schedule, "usable_cores", lambda: 4)
    neural = {"bce"}.__contains__
    bce = [RunSpec("bce", "yeast", s) for s in range(3)]
    br = [RunSpec("br", "yeast", s) for s in range(6)]
    assert schedule.auto_jobs(bce, is_neural=neural) == 3  # capped by the runs
    assert schedule.auto_jobs(bce[:1], is_neural=neural) == 1
    assert schedule.auto_jobs(bce, is_neural=neural, device="cuda") == 1
    assert schedule.auto_jobs(br, is_neural=neural) == 1  # untimed classic runs: quick
    assert schedule.auto_jobs(br, is_neural=neural, estimate=lambda spec: 60.0) == 4
    monkeypatch.setattr(schedule, "usable_cores", lambda: 1)
    assert schedule.auto_jobs(bce, is_neural=neural) == 1
    order = schedule.longest_first(
        br[:2] + bce[:1], key=lambda spec: spec, is_neural=neural, estimate=lambda spec: 5.0 if spec.seed == 1 else None
    )
    assert order == [bce[0], br[1], br[0]]


# -- the command line, off a terminal --------------------------------------------------------------


def test_train_prints_one_plain_line_per_run_and_says_what_it_will_do(env, capsys):
    code, out, err = run(capsys, "train", "-m", "br", "mlknn", "-d", "yeast", "--seed", "0", "1")
    assert code == 0, err
    assert "\x1b" not in out + err  # no colour codes, no bars
    assert "4 runs to train, one after the other." in err
    lines = out.strip().splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches) and len(lines) == 4, out
    assert [(m[1], m[2]) for m in matches] == [("1", "4"), ("2", "4"), ("3", "4"), ("4", "4")]
    assert [m[3] for m in matches] == ["br", "br", "mlknn", "mlknn"]
    for m in matches:  # each line names its run directory, whose metrics it shows
        stored = json.loads((env / m[6] / "metrics.json").read_text())["fixed"]["metrics"]
        assert m[5] == f"{stored['ex-f1']:.3f}"
    assert "ETA" in lines[0] and "ETA" not in lines[-1]

    code, out, err = run(capsys, "train", "-m", "br", "-d", "yeast", "--seed", "0", "1", "2")
    assert code == 0, err
    assert out.count("already complete") == 2 and out.count("done  br · yeast · seed 2") == 1
    assert "run 1/1 done" in out
    assert re.search(
        r"1 run to train \(2 more already complete: skipped; --force redoes them\); "
        r"about \d[\d a-z]* s by the recorded fit times",
        " ".join(err.split()),
    ), err


def test_train_jobs_is_checked(env, capsys):
    code, _, err = run(capsys, "train", "-m", "br", "-d", "yeast", "--jobs", "0")
    assert code != 0 and "--jobs must be at least 1" in err and "Traceback" not in err


PLUGIN = '''
import numpy as np


class LabelPrior:
    """Every label's smoothed training frequency, for every row."""

    def __init__(self, smoothing=1.0):
        self.smoothing = smoothing

    def fit(self, X, Y):
        self.p_ = (Y.sum(axis=0) + self.smoothing) / (len(Y) + 2 * self.smoothing)
        return self

    def predict_proba(self, X):
        return np.tile(self.p_, (X.shape[0], 1))
'''


@pytest.mark.slow
def test_jobs_2_gives_the_numbers_of_jobs_1_plugins_included(env, capsys, monkeypatch):
    (env / "prior.py").write_text(PLUGIN)
    monkeypatch.chdir(env)  # ./prior.py is found by the worker processes too
    common = [
        "train",
        "-m",
        "bce",
        "./prior.py:LabelPrior",
        "-d",
        "yeast",
        "--seed",
        "0",
        "1",
        "--set",
        "bce.epochs=2",
        "--set",
        "bce.hidden=[16]",
    ]
    code, out, err = run(capsys, *common, "--jobs", "2", "--runs-dir", env / "parallel")
    assert code == 0, err
    assert "4 runs to train, 2 at a time in worker processes." in err
    assert sorted(int(m[1]) for m in map(LINE.match, out.strip().splitlines())) == [1, 2, 3, 4], out
    code, _, err = run(capsys, *common, "--jobs", "1", "--runs-dir", env / "sequential")
    assert code == 0, err
    run_ids = [p.parent.relative_to(env / "sequential") for p in sorted((env / "sequential").rglob("metrics.json"))]
    assert len(run_ids) == 4 and any("prior.py:LabelPrior" in str(r) for r in run_ids)
    for run_id in run_ids:
        parallel, sequential = env / "parallel" / run_id, env / "sequential" / run_id
        assert (parallel / "metrics.json").read_bytes() == (sequential / "metrics.json").read_bytes()
        with np.load(parallel / "scores.npz") as a, np.load(sequential / "scores.npz") as b:
            assert np.array_equal(a["scores_test"], b["scores_test"])


TWO_METHODS = """\
name = "two"
title = "Two classic methods"
datasets = ["yeast"]
seeds = [0, 1]
metrics = ["ex-f1"]

[groups.main]
title = "BR and MLkNN"
[[groups.main.rows]]
method = "br"
label = "BR"
paper = false
[[groups.main.rows]]
method = "mlknn"
label = "MLkNN"
paper = false
"""


def test_reproduce_prints_the_same_plain_lines(env, capsys):
    (env / "two.toml").write_text(TWO_METHODS)
    code, out, err = run(capsys, "reproduce", "--experiment", env / "two.toml")
    assert code == 0, err
    assert "\x1b" not in out + err
    lines = [m for m in map(LINE.match, out.splitlines()) if m]
    assert [(m[1], m[2], m[4]) for m in lines] == [
        ("1", "4", "0"),
        ("2", "4", "1"),
        ("3", "4", "0"),
        ("4", "4", "1"),
    ], out
    assert {m[3] for m in lines} == {"br", "mlknn"}


def test_a_busy_machine_gets_a_thread_hint_for_neural_runs_only(monkeypatch):
    from mlbench.cli import training
    from mlbench.runs.spec import RunSpec

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("mlbench.runs.cost.usable_cores", lambda: 2)
    monkeypatch.setattr(training.os, "getloadavg", lambda: (3.2, 3.0, 2.9))
    neural = {"bce": True, "br": False}.__getitem__
    bce, br = RunSpec("bce", "yeast", 0), RunSpec("br", "yeast", 0)
    assert "load 3.2 on 2 cores" in training.busy_machine_note([br, bce], neural)
    assert "--set num_threads=1" in training.busy_machine_note([bce], neural)
    assert training.busy_machine_note([br], neural) is None  # no torch threads involved
    assert training.busy_machine_note([RunSpec("bce", "yeast", 0, overrides=(("num_threads", 1),))], neural) is None
    monkeypatch.setattr(training.os, "getloadavg", lambda: (0.3, 0.2, 0.1))
    assert training.busy_machine_note([bce], neural) is None  # idle: the default threads are faster
    monkeypatch.setattr(training.os, "getloadavg", lambda: (3.2, 3.0, 2.9))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert training.busy_machine_note([bce], neural) is None  # the user chose the threads
