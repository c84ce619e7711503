"""The parsed-dataset cache: ``<data_dir>/<name>/dataset.npz`` + ``meta.json``.

``dataset.npz`` holds the features (dense, or CSR parts for sparse data), the 0/1 labels and the
upstream split membership of every sample; ``meta.json`` holds names, shapes, the source URLs and
the sha256 of every input file. Both are written atomically, meta last: a dataset is cached iff
its meta file exists and names the npz's content hash.

Integrity: meta.json also records the npz file's size, mtime and sha256 (``dataset_file``).
Loading trusts an unchanged size and mtime, re-hashes the file when they changed, and refuses a
file whose hash no longer matches ("the cached dataset yeast was modified; refetch ...");
``verify=True`` (``mlbench fetch --verify``, ``mlbench verify``) always re-hashes and also
recomputes the content hash of the arrays.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlbench.data.inputs import check_inputs
from mlbench.data.registry import DATASETS
from mlbench.errors import MlbenchError
from mlbench.integrity import (
    CorruptFileError,
    file_record,
    load_npz_checked,
    matches_record,
    read_json_checked,
)
from mlbench.io import atomic_save_npz, atomic_write_json

if TYPE_CHECKING:  # scipy.sparse costs ~0.3 s to import: not for the read-only commands
    import scipy.sparse as sp

META_SCHEMA = {
    "name": str,
    "n_samples": int,
    "n_features": int,
    "n_labels": int,
    "cardinality": float,
    "feature_names": list,
    "label_names": list,
    "content_sha256": str,
    "source": str,
}

DATA_ENV = "MLBENCH_DATA"

# upstream_split codes
UPSTREAM_NONE, UPSTREAM_TRAIN, UPSTREAM_TEST, UPSTREAM_VAL = -1, 0, 1, 2


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``--data-dir``, else ``$MLBENCH_DATA``, else ``./data``."""
    return Path(data_dir or os.environ.get(DATA_ENV) or "data")


@dataclass
class Dataset:
    name: str
    X: np.ndarray | sp.csr_matrix
    Y: np.ndarray
    feature_names: list[str]
    label_names: list[str]
    upstream_split: np.ndarray  # int8 per sample: -1 none, 0 train, 1 test, 2 val
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return self.Y.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_labels(self) -> int:
        return self.Y.shape[1]

    @property
    def cardinality(self) -> float:
        return float(self.Y.sum(axis=1).mean()) if self.n_samples else 0.0

    @property
    def content_hash(self) -> str:
        return self.meta["content_sha256"]


def stack_arff_parts(name: str, parts: list, codes: list[np.ndarray]) -> Dataset:
    """One dataset from the parsed ARFF files of its upstream parts (train, test, ...), stacked
    in order; ``codes`` holds each part's per-row upstream role code."""
    import scipy.sparse as sp

    if any(sp.issparse(p.X) for p in parts):
        X = sp.vstack([sp.csr_matrix(p.X) for p in parts], format="csr")
    else:
        X = np.vstack([p.X for p in parts])
    meta = {
        "n_missing_imputed": int(sum(p.n_missing for p in parts)),
        "dropped_attributes": sorted({d for p in parts for d in p.dropped}),
        "relation": parts[0].relation,
    }
    return Dataset(
        name,
        X,
        np.vstack([p.Y for p in parts]),
        parts[0].feature_names,
        parts[0].label_names,
        np.concatenate(codes),
        meta,
    )


def dataset_dir(data_dir: Path, name: str) -> Path:
    return data_dir / name


def _content_hash(X, Y: np.ndarray, upstream: np.ndarray) -> str:
    import scipy.sparse as sp

    digest = hashlib.sha256()
    if sp.issparse(X):
        for part in (X.data, X.indices, X.indptr):
            digest.update(np.ascontiguousarray(part).tobytes())
    else:
        digest.update(np.ascontiguousarray(X).tobytes())
    digest.update(np.ascontiguousarray(Y).tobytes())
    digest.update(np.ascontiguousarray(upstream).tobytes())
    return digest.hexdigest()


def save_dataset(data_dir: Path, dataset: Dataset, provenance: dict[str, Any]) -> Dataset:
    """Write the cache for ``dataset``; ``provenance`` holds source name, files and checksums."""
    import scipy.sparse as sp

    directory = dataset_dir(data_dir, dataset.name)
    X = dataset.X.tocsr() if sp.issparse(dataset.X) else np.ascontiguousarray(dataset.X)
    X = X.astype(np.float32)
    Y = np.ascontiguousarray(dataset.Y, dtype=np.uint8)
    upstream = np.asarray(dataset.upstream_split, dtype=np.int8)
    arrays: dict[str, np.ndarray] = {"Y": Y, "upstream_split": upstream}
    if sp.issparse(X):
        arrays.update(X_data=X.data, X_indices=X.indices, X_indptr=X.indptr, X_shape=np.array(X.shape, dtype=np.int64))
    else:
        arrays["X"] = X
    try:
        atomic_save_npz(directory / "dataset.npz", **arrays)
    except OSError:
        raise MlbenchError(
            f"cannot write to the data directory {data_dir}; choose another with --data-dir or MLBENCH_DATA."
        ) from None
    meta = {
        "name": dataset.name,
        "n_samples": int(Y.shape[0]),
        "n_features": int(X.shape[1]),
        "n_labels": int(Y.shape[1]),
        "cardinality": float(Y.sum(axis=1).mean()) if Y.shape[0] else 0.0,
        "sparse": bool(sp.issparse(X)),
        "feature_names": list(dataset.feature_names),
        "label_names": list(dataset.label_names),
        "upstream_counts": {
            name: int((upstream == code).sum())
            for name, code in (
                ("train", UPSTREAM_TRAIN),
                ("val", UPSTREAM_VAL),
                ("test", UPSTREAM_TEST),
                ("none", UPSTREAM_NONE),
            )
        },
        "content_sha256": _content_hash(X, Y, upstream),
        **dataset.meta,
        **provenance,
        "dataset_file": file_record(directory / "dataset.npz"),
    }
    atomic_write_json(directory / "meta.json", meta)
    return Dataset(dataset.name, X, Y, meta["feature_names"], meta["label_names"], upstream, meta)


def is_cached(data_dir: Path, name: str) -> bool:
    directory = dataset_dir(data_dir, name)
    return (directory / "meta.json").is_file() and (directory / "dataset.npz").is_file()


def refetch_command(name: str) -> str:
    spec = DATASETS.get(name)
    bundle = " --from DIR" if spec is not None and spec.is_bundle else ""
    return f"`mlbench fetch {name}{bundle} --force`"


def read_meta(data_dir: Path, name: str) -> dict[str, Any] | None:
    path = dataset_dir(data_dir, name) / "meta.json"
    if not path.is_file():
        return None
    return read_json_checked(
        path, what="the dataset metadata", schema=META_SCHEMA, fix=f"refetch with {refetch_command(name)}"
    )


def load_cached(data_dir: Path, name: str, *, verify: bool = False) -> Dataset:
    """Load a cached dataset, verified against its record; a clear error names the fetch
    command when it is missing, unreadable or modified."""
    import scipy.sparse as sp

    if not is_cached(data_dir, name):
        raise MlbenchError(
            f"dataset {name!r} is not fetched in {data_dir}; run `mlbench fetch {name}` (or pass --data-dir)."
        )
    directory = dataset_dir(data_dir, name)
    meta = read_meta(data_dir, name)
    npz_path = directory / "dataset.npz"
    fix = f"refetch with {refetch_command(name)}"
    modified = CorruptFileError(
        f"the cached dataset {name} was modified ({npz_path} no longer matches the sha256 "
        f"recorded in meta.json); {fix}."
    )
    record = meta.get("dataset_file")
    if isinstance(record, dict) and not matches_record(npz_path, record, full=verify):
        raise modified
    check_inputs(name, meta)  # a user's local files: refuse a cache they no longer match
    arrays = load_npz_checked(npz_path, what="the cached dataset file", fix=fix, keys=("Y", "upstream_split"))
    try:
        if "X" in arrays:
            X = arrays["X"]
        else:
            X = sp.csr_matrix(
                (arrays["X_data"], arrays["X_indices"], arrays["X_indptr"]), shape=tuple(arrays["X_shape"])
            )
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptFileError(
            f"the cached dataset file {npz_path} holds no valid feature matrix ({type(exc).__name__}); {fix}."
        ) from None
    Y, upstream = arrays["Y"], arrays["upstream_split"]
    if Y.shape != (meta["n_samples"], meta["n_labels"]) or X.shape[0] != Y.shape[0] or upstream.shape != (Y.shape[0],):
        raise MlbenchError(
            f"the cache of {name!r} in {directory} is inconsistent; refetch it with {refetch_command(name)}."
        )
    if verify or not isinstance(record, dict):
        # The arrays' own hash: always under verify, and for caches written before the file
        # record existed, which then get one (best effort: the directory may be read-only).
        if _content_hash(X, Y, upstream) != meta["content_sha256"]:
            raise modified
        if not isinstance(record, dict):
            try:
                atomic_write_json(directory / "meta.json", {**meta, "dataset_file": file_record(npz_path)})
            except OSError:
                pass
    return Dataset(name, X, Y, meta["feature_names"], meta["label_names"], upstream, meta)
