"""MPVAE / C-GMVAE ``.npy`` bundles: ``<name>_data.npy`` (meta | labels | features columns) and
``<name>_{train,val,test}_idx.npy``, imported from local files (the authors' links are dead);
public index files, where a dataset has them, are downloaded and compared with the bundle's.

Its own module, below both :mod:`mlbench.data.fetch` (registered bundles) and
:mod:`mlbench.data.user_registry` (a user's bundle), which therefore need not import each other.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mlbench import __version__
from mlbench.data.cache import (
    UPSTREAM_NONE,
    UPSTREAM_TEST,
    UPSTREAM_TRAIN,
    UPSTREAM_VAL,
    Dataset,
    dataset_dir,
    is_cached,
    load_cached,
    save_dataset,
)
from mlbench.data.download import fetch_file, sha256_of
from mlbench.data.registry import DatasetSpec
from mlbench.errors import MlbenchError


def import_bundle(
    spec: DatasetSpec,
    data_dir: Path,
    from_dir,
    mirror,
    force,
    progress,
    verify=False,
    *,
    stem: str | None = None,
    provenance: dict | None = None,
) -> Dataset:
    """``stem``: the files' name prefix (default: the dataset's name); ``provenance``: what to
    record instead of the default (a user bundle records its origin)."""
    if from_dir is None:
        if is_cached(data_dir, spec.name) and not force:
            return load_cached(data_dir, spec.name, verify=verify)
        raise MlbenchError(f"{spec.name} cannot be downloaded: " + spec.notes.replace("NAME", spec.name))
    from_dir = Path(from_dir)
    layout = spec.bundle
    stem = stem or spec.name
    files = {part: from_dir / f"{stem}_{part}.npy" for part in ("data", "train_idx", "val_idx", "test_idx")}
    for path in files.values():
        if not path.is_file():
            raise MlbenchError(
                f"{path} not found; a {spec.name} bundle is {spec.name}_data.npy plus "
                f"{spec.name}_{{train,val,test}}_idx.npy in one directory."
            )
    try:
        data = np.load(files["data"], mmap_mode="r", allow_pickle=False)
        index = {
            part: _index_array(np.load(files[f"{part}_idx"], allow_pickle=False), files[f"{part}_idx"])
            for part in ("train", "val", "test")
        }
    except (ValueError, OSError, EOFError) as exc:
        raise MlbenchError(f"cannot read the bundle in {from_dir}: {exc}") from None
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biuf":
        raise MlbenchError(f"{files['data']} must hold one numeric .npy array.")
    if data.ndim != 2:
        raise MlbenchError(f"{files['data']} must be a 2-D array, got shape {data.shape}.")
    n_rows, n_cols = data.shape
    n_features = layout.n_features or n_cols - layout.meta_offset - layout.n_labels
    expected = layout.meta_offset + layout.n_labels + n_features
    if n_cols != expected or n_features <= 0:
        raise MlbenchError(
            f"{files['data']} has {n_cols} columns; {spec.name} needs {expected} "
            f"({layout.meta_offset} meta + {layout.n_labels} labels + {n_features} features)."
        )
    Y = np.asarray(data[:, layout.meta_offset : layout.meta_offset + layout.n_labels])
    bad = ~np.isin(Y, (0, 1))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise MlbenchError(
            f"{files['data']}: label column {col} of row {row} is {Y[row, col]!r}; labels must "
            "be 0 or 1 (is the column layout meta | labels | features?)."
        )
    upstream = np.full(n_rows, UPSTREAM_NONE, dtype=np.int8)
    for part, code in (("train", UPSTREAM_TRAIN), ("val", UPSTREAM_VAL), ("test", UPSTREAM_TEST)):
        idx = index[part]
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n_rows)):
            raise MlbenchError(f"{files[part + '_idx']} holds indices outside 0..{n_rows - 1}.")
        if (upstream[idx] != UPSTREAM_NONE).any() or len(np.unique(idx)) != len(idx):
            raise MlbenchError(f"{files[part + '_idx']} overlaps another part or repeats rows.")
        upstream[idx] = code
    checked = _check_public_index(spec, index, data_dir, mirror, force, progress)
    # Meta columns (eBird's coordinates) are not features here, as in MPVAE; C-GMVAE's code
    # appends them to the features (docs/datasets.md).
    X = np.ascontiguousarray(data[:, layout.meta_offset + layout.n_labels :], dtype=np.float32)
    dataset = Dataset(
        spec.name,
        X,
        Y.astype(np.uint8),
        [f"f{i}" for i in range(n_features)],
        [f"label{i}" for i in range(layout.n_labels)],
        upstream,
        {"n_missing_imputed": 0, "dropped_attributes": [], "meta_columns_dropped": layout.meta_offset},
    )
    provenance = provenance or {
        "source": "bundle",
        "format": "bundle",
        "files": [
            {"path": str(path), "role": part, "bytes": path.stat().st_size, "sha256": sha256_of(path)}
            for part, path in files.items()
        ]
        + checked,
        "mlbench_version": __version__,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return save_dataset(data_dir, dataset, provenance)


def _index_array(array, path: Path) -> np.ndarray:
    """Row indices as int64; floats only when they are whole numbers (never truncated)."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf":
        raise MlbenchError(f"{path} must hold one integer .npy array of row indices.")
    if array.dtype.kind == "f":
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            position = int(np.flatnonzero(~whole.ravel())[0])
            raise MlbenchError(
                f"{path} holds the non-integer index {float(array.ravel()[position]):g} at position "
                f"{position}; split indices must be whole row numbers."
            )
    return array.astype(np.int64)


def _check_public_index(spec, index, data_dir, mirror, force, progress) -> list[dict]:
    """Compare the user's split indices with the public ones (mirflickr's are on GitHub)."""
    checked = []
    raw_dir = dataset_dir(data_dir, spec.name) / "raw"
    for remote in spec.sources[0].files:
        part = remote.role.removesuffix("_idx")
        path = fetch_file(remote, raw_dir, mirror=mirror, force=force, progress=progress)
        public = _index_array(np.load(path, allow_pickle=False), path)
        if not np.array_equal(np.sort(public), np.sort(index[part])):
            raise MlbenchError(
                f"the bundle's {spec.name}_{part}_idx.npy differs from the public {remote.url}; "
                "this is not the split the papers used."
            )
        checked.append(
            {
                "url": remote.url,
                "role": remote.role,
                "bytes": remote.size,
                "sha256": remote.sha256,
                "path": str(path),
                "matches_bundle": True,
            }
        )
    return checked
