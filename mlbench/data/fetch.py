"""fetch: upstream files -> verified raw cache -> parsed dataset cache.

Sources of a dataset are tried in order (e.g. Mulan, then MEKA); ``source=`` pins one. The
package ships a few small datasets (yeast, emotions) as xz-compressed copies of their upstream
files: they stand in for the download when their sha256 matches the registry, so the default
job runs with no network. ``force`` ignores both the caches and the embedded copy.
"""

from __future__ import annotations

import lzma
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlbench import __version__
from mlbench.data.arff import parse_arff, read_mulan_xml
from mlbench.data.cache import (
    UPSTREAM_NONE,
    UPSTREAM_TEST,
    UPSTREAM_TRAIN,
    UPSTREAM_VAL,
    Dataset,
    dataset_dir,
    is_cached,
    load_cached,
    read_meta,
    resolve_data_dir,
    save_dataset,
    stack_arff_parts,
)
from mlbench.data.download import MIRROR_HINT, DownloadError, fetch_file, sha256_of
from mlbench.data.registry import DatasetSpec, RemoteFile, Source, get_dataset
from mlbench.errors import MlbenchError

EMBEDDED_DIR = Path(__file__).resolve().parent.parent / "embedded"
_ROLE_CODES = {"train": UPSTREAM_TRAIN, "test": UPSTREAM_TEST, "all": UPSTREAM_NONE}


def embedded_datasets() -> list[str]:
    """Datasets whose every Mulan file ships inside the package."""
    from mlbench.data.registry import DATASETS

    return [
        name
        for name, spec in DATASETS.items()
        if not spec.is_bundle and all((EMBEDDED_DIR / f"{f.filename}.xz").is_file() for f in spec.sources[0].files)
    ]


def fetch_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    mirror: str | None = None,
    force: bool = False,
    source: str | None = None,
    from_dir: str | Path | None = None,
    progress: bool = False,
    notify: Callable[[str], None] = lambda message: None,
    fmt: str | None = None,
    n_features: int | None = None,
    n_labels: int | None = None,
    registry: str | Path | None = None,
    verify: bool = False,
) -> Dataset:
    """Make sure ``name`` is in the parsed cache and return it (``verify``: re-hash a cached
    copy in full instead of trusting its unchanged size and mtime).

    A name that is not registered is a user dataset (:mod:`mlbench.data.user_registry`):
    ``from_dir`` imports local files of format ``fmt`` (detected when None); ``registry`` is a
    shared user registry file whose entry for ``name`` is adopted first.
    """
    from mlbench.data import user_registry

    data_dir = resolve_data_dir(data_dir)
    if registry is not None:
        if from_dir is not None:
            raise MlbenchError("--registry names remote files and --from local ones; give one of them.")
        previous = user_registry.adopt(registry, [name], data_dir, force=force)
        try:
            return fetch_dataset(
                name, data_dir, mirror=mirror, force=force, source=source, progress=progress, notify=notify
            )
        except BaseException:  # a failed download leaves the data directory's registry as it was
            user_registry.restore(data_dir, previous)
            raise
    if not user_registry.is_builtin(name):
        if from_dir is not None:
            return user_registry.import_local(
                name, from_dir, data_dir, fmt=fmt, force=force, n_features=n_features, n_labels=n_labels
            )
        spec = get_dataset(name, data_dir)
        if spec.origin == user_registry.LOCAL:
            return user_registry.fetch_local(spec, data_dir, force=force)
    else:
        spec = get_dataset(name)
    if spec.is_bundle and fmt in (None, "bundle"):
        return import_bundle(spec, data_dir, from_dir, mirror, force, progress, verify)
    if from_dir is not None or fmt is not None:
        user_registry.check_name(name)  # a registered name: the error says to choose another
    if not force and is_cached(data_dir, spec.name):
        cached_source = (read_meta(data_dir, spec.name) or {}).get("source")
        if source is None or cached_source == source:
            return load_cached(data_dir, spec.name, verify=verify)
    sources = [spec.source(source)] if source else list(spec.sources)
    failures: list[tuple[str, DownloadError]] = []
    for position, candidate in enumerate(sources):
        try:
            paths = _fetch_source_files(spec, candidate, data_dir, mirror, force, progress)
        except DownloadError as exc:
            failures.append((candidate.name, exc))
            if position + 1 < len(sources):
                notify(
                    f"{spec.name}: source {candidate.name!r} failed: {exc.short}; "
                    f"trying {sources[position + 1].name!r}."
                )
            continue
        if candidate.format in ("mulan", "meka"):
            dataset = _parse_source(spec, candidate, paths)
        else:  # a user registry's libsvm or npz files
            from mlbench.data.formats import read

            options = user_registry.user_entries(data_dir)[spec.name].get("options", {})
            dataset = read(
                candidate.format, spec.name, {remote.role: path for remote, path in paths.items()}, **options
            )
        return save_dataset(data_dir, dataset, _provenance(candidate, paths))
    if len(failures) == 1:
        raise failures[0][1]
    tried = "; ".join(f"{name}: {exc.short}" for name, exc in failures)
    raise MlbenchError(f"could not fetch {spec.name} from any source ({tried}). {MIRROR_HINT}")


def _fetch_source_files(
    spec: DatasetSpec, source: Source, data_dir: Path, mirror, force, progress
) -> dict[RemoteFile, Path]:
    raw_dir = dataset_dir(data_dir, spec.name) / "raw"
    try:
        raw_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise MlbenchError(
            f"cannot write to the data directory {data_dir}; choose another with --data-dir or MLBENCH_DATA."
        ) from None
    paths = {}
    for remote in source.files:
        paths[remote] = fetch_file(
            remote,
            raw_dir,
            mirror=mirror,
            force=force,
            progress=progress,
            embedded=lambda remote=remote: _embedded(remote),
        )
    return paths


def _embedded(remote: RemoteFile) -> bytes | None:
    """The package's xz-compressed copy of ``remote``, decompressed, if it ships one."""
    packed = EMBEDDED_DIR / f"{remote.filename}.xz"
    return lzma.decompress(packed.read_bytes()) if packed.is_file() else None


def _parse_source(spec: DatasetSpec, source: Source, paths: dict[RemoteFile, Path]) -> Dataset:
    label_names = None
    if source.format == "mulan":
        xml = next(path for remote, path in paths.items() if remote.role == "xml")
        label_names = read_mulan_xml(xml)
    parts, codes = [], []
    for remote, path in paths.items():
        if remote.role not in _ROLE_CODES:
            continue
        parsed = parse_arff(path, label_names, drop=spec.drop)
        if parts and (parsed.feature_names != parts[0].feature_names or parsed.label_names != parts[0].label_names):
            raise MlbenchError(
                f"{path.name} has different attributes from the first file of {spec.name!r}; "
                "the upstream files disagree (report this)."
            )
        parts.append(parsed)
        codes.append(np.full(parsed.Y.shape[0], _ROLE_CODES[remote.role], dtype=np.int8))
    return stack_arff_parts(spec.name, parts, codes)


def _provenance(source: Source, paths: dict[RemoteFile, Path]) -> dict:
    return {
        "source": source.name,
        "format": source.format,
        "files": [
            {"url": remote.url, "role": remote.role, "bytes": remote.size, "sha256": remote.sha256, "path": str(path)}
            for remote, path in paths.items()
        ],
        "mlbench_version": __version__,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# -- MPVAE / C-GMVAE .npy bundles ---------------------------------------------------------------


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
