"""The results store: one tidy table of every finished run, ``<runs_dir>/results.csv``.

Columns: dataset, method, variant, seed, split, split_id, train_fraction, protocol, metric, value,
run_id, finished_at, zero_division (the score of 0/0 samples or labels in the honest threshold
metrics; stores written before it was recorded used 1, and read back so), method_name (the
method's display name, so tables need no registry), then data_sha256 (content hash of the parsed dataset the run used; split_id
hashes that and the split's indices). Older stores without data_sha256 still load. Readable with
``pandas.read_csv``. Writers take an exclusive lock and replace the file atomically, so
concurrent ``mlbench train`` processes never corrupt it, and keep the previous store as
``results.csv.bak``. Lines that do not parse are skipped with a warning naming them
(:func:`mlbench.integrity.read_results_csv`). Only complete runs are added; tables read nothing else.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd

from mlbench.integrity import read_results_csv
from mlbench.io import atomic_path, atomic_write_text, file_lock

COLUMNS = [
    "dataset",
    "method",
    "variant",
    "seed",
    "split",
    "split_id",
    "train_fraction",
    "protocol",
    "metric",
    "value",
    "run_id",
    "finished_at",
]
# Written on every row, optional when reading, so that older stores still load.
HASH_COLUMNS = ["zero_division", "method_name", "data_sha256"]
STORE_NAME = "results.csv"


def store_path(runs_dir: Path) -> Path:
    return Path(runs_dir) / STORE_NAME


def read_store(runs_dir: Path, **options) -> pd.DataFrame:
    path = store_path(runs_dir)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS + HASH_COLUMNS)
    store = read_results_csv(path, COLUMNS, HASH_COLUMNS, **options)
    # stores written before zero_division was recorded used the convention 1
    store["zero_division"] = store["zero_division"].replace("", 1.0).astype(float)
    return store


def add_rows(runs_dir: Path, rows: list[dict]) -> None:
    """Insert rows, replacing earlier rows of the same run ids."""
    runs_dir = Path(runs_dir)
    new = pd.DataFrame(rows, columns=COLUMNS + HASH_COLUMNS).fillna({c: "" for c in HASH_COLUMNS})
    with file_lock(runs_dir / ".results.lock"):
        current = read_store(runs_dir)
        current = current[~current["run_id"].isin(set(new["run_id"]))]
        merged = pd.concat([current, new], ignore_index=True) if len(current) else new
        merged = merged.sort_values(["dataset", "method", "variant", "seed", "protocol", "metric"], kind="stable")
        write_store(runs_dir, merged)


def remove_run(runs_dir: Path, run_id: str) -> None:
    runs_dir = Path(runs_dir)
    with file_lock(runs_dir / ".results.lock"):
        current = read_store(runs_dir)
        if (current["run_id"] == run_id).any():
            write_store(runs_dir, current[current["run_id"] != run_id])


def write_store(runs_dir: Path, frame: pd.DataFrame) -> None:
    """Replace the store by ``frame`` (caller holds the lock), keeping the old one as .bak."""
    path = store_path(runs_dir)
    if path.is_file():
        backup = path.with_name(path.name + ".bak")
        with atomic_path(backup) as tmp:
            shutil.copyfile(path, tmp)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    atomic_write_text(path, buffer.getvalue())
