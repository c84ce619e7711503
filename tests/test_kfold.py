"""K-fold cross-validation: folds disjoint and covering, stratified better than random, the
CLI options, plans and the tables' mean ± std over folds and seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlbench.data import load_dataset
from mlbench.data.splits import expand_strategy, get_split, kfold_folds, make_split
from mlbench.errors import MlbenchError
from mlbench.papers import plan as planning
from mlbench.results.tables import render
from mlbench.runs.store import COLUMNS, add_rows, read_store

from .conftest import invoke_cli
from .test_cli import assert_one_line_error


@pytest.fixture(scope="module")
def yeast(session_data_dir):
    return load_dataset("yeast", session_data_dir)


def test_folds_are_disjoint_and_cover_every_sample(yeast):
    n, K = yeast.n_samples, 5
    tests = []
    for k in range(K):
        parts = make_split(yeast, f"kfold{K}-fold{k}", seed=3)
        train, val, test = parts["train"], parts["val"], parts["test"]
        assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(n))
        assert abs(test.size - n / K) <= 1 and val.size == round(0.1 * n)
        tests.append(test)
    everything = np.concatenate(tests)
    assert everything.size == n and np.unique(everything).size == n  # each sample tested once


def test_same_seed_same_folds(yeast):
    a = make_split(yeast, "kfold5-fold2", seed=1)
    b = make_split(yeast, "kfold5-fold2", seed=1)
    c = make_split(yeast, "kfold5-fold2", seed=2)
    assert all(np.array_equal(a[p], b[p]) for p in a)
    assert not np.array_equal(a["test"], c["test"])


def _label_deviation(Y: np.ndarray, folds: list[np.ndarray]) -> float:
    """Mean absolute difference between each fold's and the whole set's label frequencies."""
    overall = Y.mean(axis=0)
    return float(np.mean([np.abs(Y[f].mean(axis=0) - overall).mean() for f in folds]))


def test_iterative_folds_keep_label_distribution_better_than_random(yeast):
    Y, K = yeast.Y, 5
    stratified, random = [], []
    for seed in range(5):
        stratified.append(_label_deviation(Y, kfold_folds(Y, K, seed)))
        perm = np.random.default_rng(seed).permutation(Y.shape[0])
        random.append(_label_deviation(Y, np.array_split(perm, K)))
    assert np.mean(stratified) < np.mean(random)
    assert max(stratified) < min(random)  # every seed, not only on average


def test_split_files_are_named_by_fold_and_seed(yeast, tmp_path):
    split = get_split(tmp_path, yeast, "kfold4-fold3", seed=2)
    assert (tmp_path / "yeast/splits/kfold4-fold3-seed2.npz").is_file()
    info = json.loads((tmp_path / "yeast/splits/kfold4-fold3-seed2.json").read_text())
    assert info["split_id"] == split.id and info["strategy"] == "kfold4-fold3"


def test_expand_strategy():
    assert expand_strategy("kfold", 3) == ["kfold3-fold0", "kfold3-fold1", "kfold3-fold2"]
    assert expand_strategy(None, 3, [2, 0]) == ["kfold3-fold2", "kfold3-fold0"]
    assert expand_strategy("kfold5-fold4") == ["kfold5-fold4"]
    assert expand_strategy(None) == ["iterative"]
    for args, match in (
        (("kfold",), "--folds K"),
        (("random", 3), "go with --split-strategy kfold"),
        (("kfold", 3, [3]), "outside 0..2"),
        (("kfold3-fold3",), "fold in 0..K-1"),
        (("kfold", 1), "K >= 2"),
    ):
        with pytest.raises(MlbenchError, match=match):
            expand_strategy(*args)


def test_train_folds_and_config_file(tmp_path, capsys):
    from .test_user_datasets import toy_arrays, write_meka

    source, _, _ = write_meka(tmp_path / "in", *toy_arrays())
    runs = tmp_path / "runs"
    common = ["-m", "br", "-d", "toy", "--data-dir", tmp_path / "data", "--runs-dir", runs, "-q"]
    assert invoke_cli("fetch", "toy", "--from", source, "--data-dir", tmp_path / "data") == 0
    assert invoke_cli("train", *common, "--folds", "3", "--fold", "1") == 0
    assert [p.name for p in (runs / "toy/br/default").iterdir()] == ["kfold3-fold1-seed0"]
    config = tmp_path / "exp.toml"
    config.write_text('method = "br"\ndataset = "toy"\nseeds = [4]\nsplit_strategy = "kfold"\nfolds = 3\nfold = [2]\n')
    assert invoke_cli("train", "--config", config, "--data-dir", tmp_path / "data", "--runs-dir", runs, "-q") == 0
    assert (runs / "toy/br/default/kfold3-fold2-seed4/status.json").is_file()
    store = read_store(runs)
    assert set(store["split"]) == {"kfold3-fold1", "kfold3-fold2"}
    capsys.readouterr()
    assert invoke_cli("train", *common, "--split-strategy", "random", "--folds", "3") != 0
    assert_one_line_error(2, capsys.readouterr().err, "--folds/--fold go with --split-strategy kfold")


def test_reproduce_plans_one_run_per_fold_and_seed(tmp_path):
    plan = planning.plan_reproduction(
        "cgmvae",
        tables=["1"],
        seeds=[0, 1],
        datasets=["yeast"],
        methods=["br"],
        strategy="kfold",
        folds=3,
        data_dir=tmp_path,
        available_methods={"br"},
    )
    assert [s.run_id() for s in plan.specs] == [
        f"yeast/br/default/kfold3-fold{k}-seed{s}" for s in (0, 1) for k in range(3)
    ]


def test_table_is_mean_and_std_over_folds_and_seeds(tmp_path):
    values = {(k, s): 0.5 + 0.01 * k + 0.1 * s for k in range(3) for s in range(2)}
    rows = [
        dict(
            zip(
                COLUMNS,
                (
                    "d",
                    "br",
                    "default",
                    s,
                    f"kfold3-fold{k}",
                    "x",
                    1.0,
                    "fixed",
                    "ex-f1",
                    v,
                    f"d/br/default/kfold3-fold{k}-seed{s}",
                    "t",
                ),
            )
        )
        for (k, s), v in values.items()
    ]
    rows.append(
        dict(
            zip(
                COLUMNS,
                (
                    "d",
                    "br",
                    "default",
                    0,
                    "iterative",
                    "y",
                    1.0,
                    "fixed",
                    "ex-f1",
                    0.0,
                    "d/br/default/iterative-seed0",
                    "t",
                ),
            )
        )
    )
    add_rows(tmp_path, rows)
    store = read_store(tmp_path)
    out = render(store, "ex-f1", fmt="markdown", split="kfold3")
    expected = np.array(list(values.values()))
    record = pd.read_csv(pd.io.common.StringIO(render(store, "ex-f1", fmt="csv", split="kfold3"))).iloc[0]
    assert (record["mean"], record["std"], record["n"]) == pytest.approx((expected.mean(), expected.std(ddof=1), 6))
    assert f"{expected.mean():.3f} ± {expected.std(ddof=1):.3f}" in out
    assert "over 6 run(s): 3 fold(s) of K-fold cross-validation × 2 seed(s)" in out
    assert "average runs of different splits" not in out and "Split strategy: kfold3." in out
    assert "average runs of different splits" in render(store, "ex-f1", fmt="markdown")  # iterative + kfold
    assert render(store, "ex-f1", fmt="markdown", split="kfold") == out


def test_caption_names_each_rows_split_and_flags_two_official_validation_shares(tmp_path):
    """Rows on different splits are named in the caption; official runs with a 20% and a 12.5%
    validation part (the same `split` column, different run ids) are two splits of one cell."""

    def row(method, seed, split, run_split, value):
        keys = ("d", method, "default", seed, split, "x", 1.0, "fixed", "ex-f1", value)
        return dict(zip(COLUMNS, (*keys, f"d/{method}/default/{run_split}-seed{seed}", "t")))

    add_rows(
        tmp_path,
        [
            row("bce", 0, "official", "official-r0.4-0.2-0.4", 0.5),
            row("br", 0, "iterative", "iterative", 0.4),
            row("br", 1, "iterative", "iterative", 0.45),
        ],
    )
    out = render(read_store(tmp_path), "ex-f1", fmt="markdown")
    assert "Split strategies differ between rows: official (bce); iterative (br)." in out
    assert "average runs of different splits" not in out
    add_rows(tmp_path, [row("bce", 1, "official", "official-r0.45-0.1-0.45", 0.6)])
    out = render(read_store(tmp_path), "ex-f1", fmt="markdown")
    assert "Some cells average runs of different splits: select one with --split-strategy." in out
