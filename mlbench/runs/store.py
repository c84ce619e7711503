"""The results store: one tidy table of every finished run, ``<runs_dir>/results.csv``.

Columns: dataset, method, variant, seed, split, split_id, train_fraction, protocol, metric, value,
run_id, finished_at, zero_division (the score of 0/0 samples or labels in the honest threshold
metrics; stores written before it was recorded used 1, and read back so), method_name (the method's
display name, so tables need no registry; empty in stores written before it existed). Readable with
``pandas.read_csv``. Writers take an exclusive lock and
replace the file atomically, so concurrent ``mlbench train`` processes never corrupt it.
Only complete runs are added; tables read nothing else.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from mlbench.io import atomic_write_text, file_lock

COLUMNS = ["dataset", "method", "variant", "seed", "split", "split_id", "train_fraction",
           "protocol", "metric", "value", "run_id", "finished_at", "zero_division", "method_name"]
STORE_NAME = "results.csv"


def store_path(runs_dir: Path) -> Path:
    return Path(runs_dir) / STORE_NAME


def read_store(runs_dir: Path) -> pd.DataFrame:
    path = store_path(runs_dir)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    store = pd.read_csv(path, dtype={"variant": str, "split_id": str, "run_id": str, "method_name": str},
                        keep_default_na=False, na_values={"value": ["", "nan", "NaN"]})
    if "zero_division" not in store.columns:  # written before the choice was recorded
        store["zero_division"] = 1.0
    for column in COLUMNS:
        if column not in store.columns:  # a store written by an older mlbench
            store[column] = ""
    return store


def add_rows(runs_dir: Path, rows: list[dict]) -> None:
    """Insert rows, replacing earlier rows of the same run ids."""
    runs_dir = Path(runs_dir)
    new = pd.DataFrame(rows, columns=COLUMNS)
    with file_lock(runs_dir / ".results.lock"):
        current = read_store(runs_dir)
        current = current[~current["run_id"].isin(set(new["run_id"]))]
        merged = pd.concat([current, new], ignore_index=True) if len(current) else new
        merged = merged.sort_values(["dataset", "method", "variant", "seed", "protocol", "metric"],
                                    kind="stable")
        buffer = io.StringIO()
        merged.to_csv(buffer, index=False)
        atomic_write_text(store_path(runs_dir), buffer.getvalue())


def remove_run(runs_dir: Path, run_id: str) -> None:
    runs_dir = Path(runs_dir)
    with file_lock(runs_dir / ".results.lock"):
        current = read_store(runs_dir)
        if (current["run_id"] == run_id).any():
            buffer = io.StringIO()
            current[current["run_id"] != run_id].to_csv(buffer, index=False)
            atomic_write_text(store_path(runs_dir), buffer.getvalue())
