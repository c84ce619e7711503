"""Seeded train/val/test splits over all samples of a dataset.

Strategies:

- ``iterative`` (default): order-1 iterative stratification (Sechidis, Tsoumakas & Vlahavas,
  ECML 2011): labels are processed rarest first and each of their samples goes to the part that
  still wants most examples of that label. One change from the paper: a part that has reached its
  size is closed, so part sizes are exact (within one sample of the ratios). scikit-multilearn-ng's
  ``IterativeStratification`` was measured here and does not keep sizes (242/254/1921 for an
  80/10/10 split of 2417 yeast-sized samples, instead of 242/242/1933), hence this implementation.
- ``random``: a seeded permutation cut at the exact sizes.
- ``official``: the upstream train/test split (Mulan's files, or a bundle's index files);
  validation (``ratios[1]`` of all samples) is carved out of train by iterative stratification.
  A bundle that ships its own validation indices keeps them.
- ``kfold<K>-fold<k>`` (e.g. ``kfold5-fold0``): K-fold cross-validation. The samples are cut
  into K iteratively stratified folds (the same K folds for every k of a seed); fold k is the
  test part and validation (``ratios[1]`` of all samples) is carved out of the other K-1 folds by
  iterative stratification, seeded by (seed, k). Saved as ``kfold5-fold0-seed0``.

Same seed, same indices on any machine: all randomness comes from ``numpy.random.default_rng``
(PCG64, platform independent), and ties are broken by it alone.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlbench.data.cache import UPSTREAM_TEST, UPSTREAM_TRAIN, UPSTREAM_VAL, Dataset, dataset_dir
from mlbench.errors import MlbenchError
from mlbench.integrity import CorruptFileError, load_npz_checked, read_json_checked
from mlbench.io import atomic_save_npz, atomic_write_json

SPLIT_SCHEMA = {"split_id": str, "dataset_content_sha256": str, "summary": dict}

STRATEGIES = ("iterative", "random", "official")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
PARTS = ("train", "val", "test")
_KFOLD_RE = re.compile(r"kfold(\d+)-fold(\d+)")
STRATEGY_HELP = "iterative | random | official | kfold (with --folds K) | kfold<K>-fold<k>"


def parse_kfold(strategy: str) -> tuple[int, int] | None:
    """(K, k) of a ``kfold<K>-fold<k>`` strategy, else None."""
    match = _KFOLD_RE.fullmatch(strategy or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_strategy(strategy: str) -> str:
    kfold = parse_kfold(strategy)
    if kfold is not None:
        folds, fold = kfold
        if folds < 2 or fold >= folds:
            raise MlbenchError(
                f"split {strategy!r}: K-fold needs K >= 2 and a fold in 0..K-1 (got K={folds}, fold {fold})."
            )
        return strategy
    if strategy not in STRATEGIES:
        hint = " (give --folds K for K-fold cross-validation)" if strategy == "kfold" else ""
        raise MlbenchError(f"unknown split strategy {strategy!r}{hint}; use one of {STRATEGY_HELP}.")
    return strategy


def expand_strategy(strategy: str | None, folds: int | None = None, fold: list[int] | None = None) -> list[str]:
    """The split strategies a command runs: ``kfold`` with ``folds`` K (and optionally some
    ``fold`` numbers) becomes ``kfold<K>-fold<k>`` for every fold; anything else is itself."""
    strategy = strategy or ("kfold" if folds else "iterative")
    if strategy != "kfold":
        if folds or fold:
            raise MlbenchError(f"--folds/--fold go with --split-strategy kfold, not {strategy!r}; drop one of them.")
        return [check_strategy(strategy)]
    if not folds or folds < 2:
        raise MlbenchError("split strategy 'kfold' needs the number of folds: --folds K (K >= 2).")
    chosen = list(dict.fromkeys(int(k) for k in fold)) if fold else list(range(folds))
    for k in chosen:
        if not 0 <= k < folds:
            raise MlbenchError(f"--fold {k} is outside 0..{folds - 1} for --folds {folds}.")
    return [f"kfold{folds}-fold{k}" for k in chosen]


def split_matches(values, wanted: str):
    """Mask of the store's ``split`` column for a ``--split-strategy`` filter: ``kfold`` matches
    every K-fold run, ``kfold5`` every fold of 5-fold runs, anything else itself."""
    if wanted == "kfold":
        return values.astype(str).str.fullmatch(r"kfold\d+-fold\d+")
    if re.fullmatch(r"kfold\d+", wanted):
        return values.astype(str).str.fullmatch(re.escape(wanted) + r"-fold\d+")
    return values == wanted


def check_ratios(ratios: tuple[float, ...], n_samples: int, *, empty_val: bool = False) -> tuple[float, float, float]:
    """``empty_val``: a validation ratio of 0 is allowed (the ``official`` strategy: no
    validation part, for methods that select nothing on it)."""
    if len(ratios) != 3:
        raise MlbenchError(f"give three ratios (train val test), got {len(ratios)}.")
    if empty_val and ratios[1] == 0 and ratios[0] > 0 and ratios[2] > 0:
        return tuple(float(r) for r in ratios)  # type: ignore[return-value]
    if any(r <= 0 for r in ratios):
        raise MlbenchError(f"every ratio must be positive, got {ratios}: no part may be empty.")
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise MlbenchError(f"ratios must sum to 1, got {ratios} (sum {sum(ratios):g}).")
    sizes = part_sizes(n_samples, ratios)
    if min(sizes) == 0:
        raise MlbenchError(f"ratios {ratios} leave a part empty for {n_samples} samples; use larger ratios.")
    return tuple(float(r) for r in ratios)  # type: ignore[return-value]


def part_sizes(n: int, ratios) -> np.ndarray:
    """Integer sizes summing to n, each within one of ratio*n (largest remainder)."""
    exact = np.asarray(ratios, dtype=float) * n
    sizes = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[: n - sizes.sum()]] += 1
    return sizes


def iterative_stratification(Y: np.ndarray, ratios, rng: np.random.Generator) -> list[np.ndarray]:
    """Split the rows of the 0/1 matrix ``Y`` into parts of exactly ``part_sizes`` rows,
    keeping every label's positives as close to ``ratios`` as the sizes allow."""
    import scipy.sparse as sp

    n, n_labels = Y.shape
    ratios = np.asarray(ratios, dtype=float)
    capacity = part_sizes(n, ratios)
    Y = sp.csr_matrix(Y, dtype=np.int8)
    by_label = Y.tocsc()
    wanted = ratios[:, None] * np.asarray(Y.sum(axis=0), dtype=float)  # parts x labels
    remaining_per_label = np.asarray(Y.sum(axis=0)).ravel().astype(np.int64)
    assignment = np.full(n, -1, dtype=np.int64)
    label_tiebreak = rng.permutation(n_labels)
    while True:
        active = np.flatnonzero(remaining_per_label > 0)
        if active.size == 0:
            break
        # rarest remaining label; ties broken by a seeded label order
        fewest = remaining_per_label[active].min()
        candidates = active[remaining_per_label[active] == fewest]
        label = candidates[np.argmin(label_tiebreak[candidates])]
        rows = by_label.indices[by_label.indptr[label] : by_label.indptr[label + 1]]
        rows = rows[assignment[rows] < 0]
        for row in rows[rng.permutation(rows.size)]:
            open_parts = np.flatnonzero(capacity > 0)
            # most wanted for this label, then most room left, then random
            keys = np.lexsort((rng.random(open_parts.size), -capacity[open_parts], -wanted[open_parts, label]))
            part = open_parts[keys[0]]
            assignment[row] = part
            capacity[part] -= 1
            labels = Y.indices[Y.indptr[row] : Y.indptr[row + 1]]
            wanted[part, labels] -= 1
            remaining_per_label[labels] -= 1
    unlabeled = np.flatnonzero(assignment < 0)
    unlabeled = unlabeled[rng.permutation(unlabeled.size)]
    assignment[unlabeled] = np.repeat(np.arange(len(capacity)), capacity)
    return [np.flatnonzero(assignment == part) for part in range(len(ratios))]


def make_split(
    dataset: Dataset, strategy: str = "iterative", seed: int = 0, ratios=DEFAULT_RATIOS
) -> dict[str, np.ndarray]:
    """Sorted train/val/test row indices of ``dataset``."""
    check_strategy(strategy)
    n = dataset.n_samples
    ratios = check_ratios(tuple(ratios), n, empty_val=strategy == "official")
    rng = np.random.default_rng(seed)
    if strategy == "random":
        sizes = part_sizes(n, ratios)
        perm = rng.permutation(n)
        parts = np.split(perm, np.cumsum(sizes)[:-1])
    elif strategy == "iterative":
        parts = iterative_stratification(dataset.Y, ratios, rng)
    elif parse_kfold(strategy):
        parts = _kfold(dataset, *parse_kfold(strategy), ratios, seed)
    else:
        parts = _official(dataset, ratios, rng)
    return {name: np.sort(part) for name, part in zip(PARTS, parts)}


def _official(dataset: Dataset, ratios, rng) -> list[np.ndarray]:
    upstream = dataset.upstream_split
    train = np.flatnonzero(upstream == UPSTREAM_TRAIN)
    test = np.flatnonzero(upstream == UPSTREAM_TEST)
    val = np.flatnonzero(upstream == UPSTREAM_VAL)
    if train.size == 0 or test.size == 0:
        raise MlbenchError(
            f"{dataset.name!r} has no upstream train/test split (source "
            f"{dataset.meta.get('source', '?')!r}); use --split-strategy iterative or random."
        )
    if val.size:
        return [train, val, test]
    n_val = int(part_sizes(dataset.n_samples, ratios)[1])
    if n_val == 0:  # ratios (a, 0, b): all of the upstream training part trains
        return [train, np.array([], dtype=np.int64), test]
    if n_val >= train.size:
        raise MlbenchError(f"a validation part of {n_val} samples leaves no training data.")
    inner = (1 - n_val / train.size, n_val / train.size)
    keep, held_out = iterative_stratification(dataset.Y[train], inner, rng)
    return [train[keep], train[held_out], test]


def kfold_folds(Y: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """K iteratively stratified folds of the rows of ``Y`` (sizes within one of n/K)."""
    if folds > Y.shape[0]:
        raise MlbenchError(f"{folds} folds need at least {folds} samples; Y has {Y.shape[0]}.")
    return iterative_stratification(Y, np.full(folds, 1.0 / folds), np.random.default_rng(seed))


def _kfold(dataset: Dataset, folds: int, fold: int, ratios, seed: int) -> list[np.ndarray]:
    test = kfold_folds(dataset.Y, folds, seed)[fold]
    rest = np.setdiff1d(np.arange(dataset.n_samples), test)
    n_val = int(part_sizes(dataset.n_samples, ratios)[1])
    if not 0 < n_val < rest.size:
        raise MlbenchError(
            f"a validation part of {n_val} samples does not fit the {rest.size} "
            f"training samples of fold {fold}; change the validation ratio."
        )
    inner = (1 - n_val / rest.size, n_val / rest.size)
    keep, held_out = iterative_stratification(dataset.Y[rest], inner, np.random.default_rng([seed, fold]))
    return [rest[keep], rest[held_out], test]


def split_id(dataset: Dataset, indices: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(dataset.content_hash.encode())
    for name in PARTS:
        digest.update(name.encode())
        digest.update(np.asarray(indices[name], dtype=np.int64).tobytes())
    return digest.hexdigest()[:12]


def split_summary(dataset: Dataset, indices: dict[str, np.ndarray]) -> dict[str, Any]:
    summary = {}
    for name in PARTS:
        Y = dataset.Y[indices[name]]
        positives = Y.sum(axis=0)
        summary[name] = {
            "size": int(len(indices[name])),
            "cardinality": float(Y.sum(axis=1).mean()) if len(Y) else 0.0,
            "labels_without_positives": [dataset.label_names[j] for j in np.flatnonzero(positives == 0)],
        }
    return summary


def _split_stem(strategy: str, seed: int, ratios) -> str:
    if parse_kfold(strategy):  # the fold sets train/test; only the validation ratio is free
        val = "" if tuple(ratios) == DEFAULT_RATIOS else f"-val{round(ratios[1] * 100, 4):g}"
        return f"{strategy}{val}-seed{seed}"
    tag = "-".join(f"{round(r * 100, 4):g}" for r in ratios)
    return f"{strategy}-{tag}-seed{seed}"


@dataclass
class Split:
    dataset: str
    strategy: str
    seed: int
    ratios: tuple[float, float, float]
    indices: dict[str, np.ndarray]
    id: str
    summary: dict[str, Any]


def get_split(
    data_dir: Path,
    dataset: Dataset,
    strategy: str = "iterative",
    seed: int = 0,
    ratios=DEFAULT_RATIOS,
    *,
    force: bool = False,
) -> Split:
    """Load the saved split, or make and save it (``<data_dir>/<name>/splits/``)."""
    ratios = check_ratios(tuple(ratios), dataset.n_samples, empty_val=strategy == "official")
    stem = dataset_dir(data_dir, dataset.name) / "splits" / _split_stem(strategy, seed, ratios)
    npz_path, json_path = stem.with_suffix(".npz"), stem.with_suffix(".json")
    if not force and npz_path.is_file() and json_path.is_file():
        fix = (
            f"recompute it with `mlbench split {dataset.name} --split-strategy {strategy} --seeds {seed}"
            + ("" if ratios == DEFAULT_RATIOS else " --ratios " + " ".join(f"{r:g}" for r in ratios))
            + " --force`"
        )
        info = read_json_checked(json_path, what="the split file", fix=fix, schema=SPLIT_SCHEMA)
        if info["dataset_content_sha256"] == dataset.content_hash:
            indices = load_npz_checked(npz_path, what="the split file", fix=fix, keys=PARTS)
            # split_id hashes the dataset and the indices: recomputing it (cheap) verifies both.
            if (
                not all(_valid_part(indices[p], dataset.n_samples) for p in PARTS)
                or split_id(dataset, indices) != info["split_id"]
            ):
                raise CorruptFileError(
                    f"the cached split {npz_path} was modified (its indices no longer match "
                    f"split id {info['split_id']}); {fix}."
                )
            return Split(dataset.name, strategy, seed, ratios, indices, info["split_id"], info["summary"])
    indices = make_split(dataset, strategy, seed, ratios)
    sid = split_id(dataset, indices)
    summary = split_summary(dataset, indices)
    atomic_save_npz(npz_path, **indices)
    atomic_write_json(
        json_path,
        {
            "dataset": dataset.name,
            "strategy": strategy,
            "seed": seed,
            "ratios": list(ratios),
            "split_id": sid,
            "dataset_content_sha256": dataset.content_hash,
            "summary": summary,
        },
    )
    return Split(dataset.name, strategy, seed, ratios, indices, sid, summary)


def _valid_part(part: np.ndarray, n_samples: int) -> bool:
    return (
        part.ndim == 1 and part.dtype.kind in "iu" and (part.size == 0 or (part.min() >= 0 and part.max() < n_samples))
    )


def train_subset(train: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded subset of the training part (C-GMVAE Table 5 / Fig. 2 data-efficiency runs)."""
    if not 0 < fraction <= 1:
        raise MlbenchError(f"--train-fraction must be in (0, 1], got {fraction}.")
    if fraction == 1:
        return train
    size = max(1, int(round(fraction * train.size)))
    rng = np.random.default_rng([seed, 0x7A11])  # its own stream, independent of the split's
    return np.sort(rng.choice(train, size=size, replace=False))
