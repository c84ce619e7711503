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
from mlbench.data import user_registry
from mlbench.data.arff import parse_arff, read_mulan_xml
from mlbench.data.bundle import import_bundle
from mlbench.data.cache import (
    UPSTREAM_NONE,
    UPSTREAM_TEST,
    UPSTREAM_TRAIN,
    Dataset,
    dataset_dir,
    is_cached,
    load_cached,
    read_meta,
    resolve_data_dir,
    save_dataset,
    stack_arff_parts,
)
from mlbench.data.download import MIRROR_HINT, DownloadError, fetch_file
from mlbench.data.registry import DATASETS, DatasetSpec, RemoteFile, Source
from mlbench.data.user_registry import get_dataset
from mlbench.errors import MlbenchError

EMBEDDED_DIR = Path(__file__).resolve().parent.parent / "embedded"
_ROLE_CODES = {"train": UPSTREAM_TRAIN, "test": UPSTREAM_TEST, "all": UPSTREAM_NONE}


def embedded_datasets() -> list[str]:
    """Datasets whose every Mulan file ships inside the package."""
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
