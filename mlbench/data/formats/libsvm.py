"""libsvm-style multi-label text: the Extreme Classification Repository format.

XC files start with a header ``n_samples n_features n_labels`` and then hold one sample a
line, ``l1,l2,... f:v f:v ...`` (label and feature ids 0-based; a line may have no label).
Plain files are the same lines without the header; then ``--n-features`` and ``--n-labels``
give the sizes, labels are 0-based and features follow scikit-learn's ``zero_based="auto"``
(1-based unless some line uses feature 0).

scikit-learn's ``load_svmlight_file(multilabel=True)`` (compiled) does the parsing; this module
only checks ids and sizes, which it leaves open or reports without a line number.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mlbench.data.cache import UPSTREAM_NONE, UPSTREAM_TEST, UPSTREAM_TRAIN, Dataset
from mlbench.errors import MlbenchError

_HEADER_RE = re.compile(rb"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$")
_LINE_RE = re.compile(rb"^\s*(\d+(,\d+)*)?(\s+\d+:\S+)*\s*$")
_ROLE_CODES = {"train": UPSTREAM_TRAIN, "test": UPSTREAM_TEST, "all": UPSTREAM_NONE}


def looks_like_libsvm(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            first = handle.readline(1 << 16)
    except OSError:
        return False
    return bool(_HEADER_RE.match(first) or (b":" in first and _LINE_RE.match(first)))


def _read_part(path: Path, n_features: int | None, n_labels: int | None):
    from sklearn.datasets import load_svmlight_file

    with open(path, "rb") as handle:
        first = handle.readline()
        header = _HEADER_RE.match(first)
        if header:
            n_rows, d, L = (int(g) for g in header.groups())
            if (n_features is not None and n_features != d) or (n_labels is not None and n_labels != L):
                raise MlbenchError(
                    f"{path}: the header says {d} features and {L} labels, but --n-features/"
                    f"--n-labels say {n_features}/{n_labels}; drop those options."
                )
            line_offset = 2
        else:
            if n_features is None or n_labels is None:
                raise MlbenchError(
                    f"{path} has no 'n_samples n_features n_labels' header line; give the sizes "
                    "with --n-features D --n-labels L."
                )
            handle.seek(0)
            n_rows, d, L, line_offset = None, n_features, n_labels, 1
        try:
            X, labels = load_svmlight_file(handle, multilabel=True, zero_based=True, dtype=np.float32)
        except ValueError as exc:
            raise MlbenchError(
                f"{path}: not libsvm multi-label text ({exc}); lines must be 'l1,l2 f:v f:v ...'."
            ) from None
    X = sp.csr_matrix(X)
    X.sort_indices()
    # Plain files: 1-based feature ids unless some line uses id 0 (scikit-learn's "auto").
    base = 1 if not header and X.nnz and not (X.indices == 0).any() else 0
    if n_rows is not None and X.shape[0] != n_rows:
        raise MlbenchError(
            f"{path}: the header says {n_rows} samples but the file has {X.shape[0]} lines; fix the header or the file."
        )
    columns = X.indices.astype(np.int64) - base
    if columns.size and columns.max() >= d:
        position = int(np.argmax(columns >= d))
        row = int(np.searchsorted(X.indptr, position, side="right")) - 1
        raise MlbenchError(
            f"{path}: line {row + line_offset} uses feature id {columns[position] + base} but the "
            f"dataset has {d} features (ids {base}..{d - 1 + base}); fix the line or the "
            "feature count (header or --n-features)."
        )
    X = sp.csr_matrix((X.data, columns.astype(np.int32), X.indptr), shape=(X.shape[0], d))
    rows, cols = [], []
    for i, ids in enumerate(labels):
        for value in ids:
            if value != int(value) or not 0 <= value < L:
                raise MlbenchError(
                    f"{path}: line {i + line_offset} has label id {value:g}, outside 0..{L - 1} "
                    f"for {L} labels; fix the line or the label count (header or --n-labels)."
                )
            rows.append(i)
            cols.append(int(value))
    Y = np.zeros((X.shape[0], L), dtype=np.uint8)
    Y[rows, cols] = 1
    return X, Y


def read_libsvm(
    name: str, files: dict[str, Path], *, n_features: int | None = None, n_labels: int | None = None
) -> Dataset:
    parts, codes = [], []
    for role in ("train", "test", "all"):
        if role in files:
            X, Y = _read_part(files[role], n_features, n_labels)
            if parts and (X.shape[1], Y.shape[1]) != (parts[0][0].shape[1], parts[0][1].shape[1]):
                raise MlbenchError(
                    f"{files[role]} has {X.shape[1]} features and {Y.shape[1]} labels, unlike "
                    f"{files['train']}; train and test files must agree."
                )
            parts.append((X, Y))
            codes.append(np.full(X.shape[0], _ROLE_CODES[role], dtype=np.int8))
    X = sp.vstack([p[0] for p in parts], format="csr")
    Y = np.vstack([p[1] for p in parts])
    return Dataset(
        name,
        X,
        Y,
        [f"f{j}" for j in range(X.shape[1])],
        [f"label{j}" for j in range(Y.shape[1])],
        np.concatenate(codes),
        {"n_missing_imputed": 0, "dropped_attributes": []},
    )
