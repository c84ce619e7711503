"""NumPy ``.npz`` datasets: ``X`` (n, d) and ``Y`` (n, L) 0/1, optional ``feature_names``,
``label_names`` (str arrays) and ``train_idx``/``test_idx`` (and ``val_idx``) row indices.

A sparse ``X`` (or ``Y``) is saved beside the main file with ``scipy.sparse.save_npz`` as
``<stem>_X.npz`` (``<stem>_Y.npz``). Everything is loaded with ``allow_pickle=False``: an npz
from elsewhere is never unpickled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mlbench.data.cache import UPSTREAM_NONE, UPSTREAM_TEST, UPSTREAM_TRAIN, UPSTREAM_VAL, Dataset
from mlbench.errors import MlbenchError

_PARTS = (("train_idx", UPSTREAM_TRAIN), ("val_idx", UPSTREAM_VAL), ("test_idx", UPSTREAM_TEST))


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as exc:
        hint = (
            " Save names as str arrays (np.array(names, dtype=str)), not object arrays."
            if "allow_pickle" in str(exc)
            else ""
        )
        raise MlbenchError(f"{path}: cannot read as .npz without pickle ({exc}).{hint}") from None
    except (OSError, EOFError) as exc:
        raise MlbenchError(f"{path}: not a readable .npz file ({exc}).") from None


def _load_sparse(path: Path, what: str) -> sp.csr_matrix:
    try:
        return sp.load_npz(path).tocsr()
    except (ValueError, OSError, KeyError) as exc:
        raise MlbenchError(f"{path}: not a scipy.sparse.save_npz file for {what} ({exc}).") from None


def read_npz(name: str, files: dict[str, Path]) -> Dataset:
    path = files["all"]
    arrays = _load_arrays(path)
    if "X" in arrays and "X" in files:
        raise MlbenchError(f"{path} holds X and {files['X'].name} is beside it; keep one of them.")
    if "X" in arrays:
        X = arrays["X"]
    elif "X" in files:
        X = _load_sparse(files["X"], "X")
    else:
        raise MlbenchError(
            f"{path} has no array 'X' and there is no {path.stem}_X.npz beside it; "
            "save the features as X (dense) or with scipy.sparse.save_npz."
        )
    if "Y" in arrays:
        Y = arrays["Y"]
    elif "Y" in files:
        Y = _load_sparse(files["Y"], "Y").toarray()
    else:
        raise MlbenchError(f"{path} has no array 'Y'; save the (n, L) 0/1 label matrix as Y.")
    if X.ndim != 2 or Y.ndim != 2:
        raise MlbenchError(f"{path}: X and Y must be 2-D, got shapes {X.shape} and {Y.shape}.")
    if X.shape[0] != Y.shape[0]:
        raise MlbenchError(f"{path}: X has {X.shape[0]} rows but Y has {Y.shape[0]}; they must hold the same samples.")
    values = X.data if sp.issparse(X) else X
    if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
        raise MlbenchError(f"{path}: X must be numeric and finite (no NaN/inf); impute first.")
    if not np.isin(Y, (0, 1)).all():
        raise MlbenchError(f"{path}: Y must hold only 0 and 1 (one column per label).")
    n = X.shape[0]
    feature_names = _names(arrays, "feature_names", X.shape[1], "f", path)
    label_names = _names(arrays, "label_names", Y.shape[1], "label", path)
    upstream = np.full(n, UPSTREAM_NONE, dtype=np.int8)
    for key, code in _PARTS:
        if key not in arrays:
            continue
        idx = arrays[key]
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise MlbenchError(f"{path}: {key} must be a 1-D integer array of row indices.")
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise MlbenchError(f"{path}: {key} holds indices outside 0..{n - 1}.")
        if (upstream[idx] != UPSTREAM_NONE).any() or len(np.unique(idx)) != len(idx):
            raise MlbenchError(f"{path}: {key} overlaps another part or repeats rows.")
        upstream[idx] = code
    if ("train_idx" in arrays) != ("test_idx" in arrays):
        raise MlbenchError(f"{path}: give both train_idx and test_idx, or neither.")
    return Dataset(
        name,
        X if sp.issparse(X) else np.asarray(X),
        Y.astype(np.uint8),
        feature_names,
        label_names,
        upstream,
        {"n_missing_imputed": 0, "dropped_attributes": []},
    )


def _names(arrays, key: str, count: int, prefix: str, path: Path) -> list[str]:
    if key not in arrays:
        return [f"{prefix}{j}" for j in range(count)]
    names = [str(v) for v in arrays[key].ravel()]
    if len(names) != count:
        raise MlbenchError(f"{path}: {key} has {len(names)} entries for {count} columns.")
    return names
