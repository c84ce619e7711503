"""Datasets: registry -> verified fetch -> parsed cache -> seeded splits.

The one call most users need::

    from mlbench.data import load_split
    data = load_split("yeast", strategy="iterative", seed=0)
    data.X_train, data.Y_train, data.X_val, data.Y_val, data.X_test, data.Y_test
    data.feature_names, data.label_names
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlbench.data.cache import Dataset, load_cached, resolve_data_dir
from mlbench.data.registry import DATASETS, DatasetSpec
from mlbench.data.splits import DEFAULT_RATIOS, Split, get_split, train_subset
from mlbench.data.user_registry import get_dataset

if TYPE_CHECKING:  # scipy.sparse costs ~0.3 s to import: not for the read-only commands
    import scipy.sparse as sp

__all__ = ["DATASETS", "Dataset", "DatasetSpec", "SplitData", "get_dataset", "load_dataset", "load_split"]


@dataclass
class SplitData:
    dataset: str
    X_train: np.ndarray | sp.csr_matrix
    Y_train: np.ndarray
    X_val: np.ndarray | sp.csr_matrix
    Y_val: np.ndarray
    X_test: np.ndarray | sp.csr_matrix
    Y_test: np.ndarray
    feature_names: list[str]
    label_names: list[str]
    split: Split
    train_fraction: float = 1.0
    provenance: dict[str, Any] = field(default_factory=dict)


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """The parsed dataset from the cache (``mlbench fetch NAME`` first)."""
    return load_cached(resolve_data_dir(data_dir), get_dataset(name, data_dir).name)


def load_split(
    name: str,
    strategy: str = "iterative",
    seed: int = 0,
    *,
    data_dir: str | Path | None = None,
    ratios=DEFAULT_RATIOS,
    train_fraction: float = 1.0,
) -> SplitData:
    """Train/val/test features and labels of a fetched dataset for (strategy, seed)."""
    data_dir = resolve_data_dir(data_dir)
    dataset = load_cached(data_dir, get_dataset(name, data_dir).name)
    split = get_split(data_dir, dataset, strategy, seed, ratios)
    train = train_subset(split.indices["train"], train_fraction, seed)
    val, test = split.indices["val"], split.indices["test"]
    provenance = {
        "dataset": dataset.name,
        "content_sha256": dataset.content_hash,
        "source": dataset.meta.get("source"),
        "files": [
            {k: f.get(k) for k in ("url", "sha256", "role")}
            | ({"path": f.get("path")} if dataset.meta.get("origin") == "local" else {})
            for f in dataset.meta.get("files", [])
        ],
        "split_id": split.id,
        "strategy": strategy,
        "seed": seed,
        "ratios": list(split.ratios),
        "train_fraction": train_fraction,
        "sizes": {"train": int(train.size), "val": int(val.size), "test": int(test.size)},
    }
    return SplitData(
        dataset.name,
        dataset.X[train],
        dataset.Y[train],
        dataset.X[val],
        dataset.Y[val],
        dataset.X[test],
        dataset.Y[test],
        dataset.feature_names,
        dataset.label_names,
        split,
        train_fraction,
        provenance,
    )
