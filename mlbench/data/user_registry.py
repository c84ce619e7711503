"""Datasets a user brings: the user registry ``<data_dir>/user-datasets.json``.

The file lists datasets in the same shape as the built-in registry (:mod:`mlbench.data.registry`)::

    {"datasets": [
      {"name": "mydata", "domain": "local", "n_samples": 120, "n_features": 8, "n_labels": 3,
       "sources": [{"name": "local", "format": "mulan",
                    "files": [{"path": "/abs/mydata.xml", "role": "xml", "sha256": "...",
                               "size": 311}, ...]}]},
      {"name": "labdata", "domain": "text", "n_labels": 5,
       "sources": [{"name": "lab", "format": "meka",
                    "files": [{"url": "https://...", "role": "all", "sha256": "...",
                               "size": 9120}]}]}]}

- ``mlbench fetch NAME --from PATH`` parses local files (:mod:`mlbench.data.formats`), caches them
  like a registered dataset and records a ``path`` entry: format, absolute path, sha256 and size
  of every input file, and the shapes. Later commands check those files: one that changed is an
  error asking for ``fetch NAME --from PATH --force``; one that is gone is not (the cache holds
  the data, e.g. on another machine).
- ``url`` entries (a lab's shared list, placed in the data directory or passed with
  ``mlbench fetch --registry FILE NAME``) are downloaded like registered datasets: same sha256
  verification, raw cache and mirrors.
- A user name never shadows a registered one: that is an error wherever it shows up.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from mlbench import __version__
from mlbench.data.cache import is_cached, load_cached, resolve_data_dir, save_dataset
from mlbench.data.inputs import LOCAL, check_unchanged
from mlbench.data.registry import ALIASES, DATASETS, DatasetSpec, RemoteFile, Source
from mlbench.errors import MlbenchError, suggest
from mlbench.io import atomic_write_json, file_lock

REGISTRY_NAME = "user-datasets.json"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_ROLES = ("train", "test", "all", "xml", "X", "Y", "data", "train_idx", "val_idx", "test_idx")


def registry_path(data_dir) -> Path:
    return resolve_data_dir(data_dir) / REGISTRY_NAME


def is_builtin(name: str) -> bool:
    key = name.lower()
    return key in DATASETS or key in ALIASES


def check_name(name: str, where: str = "") -> None:
    if not _NAME_RE.fullmatch(name) or name == REGISTRY_NAME:
        raise MlbenchError(
            f"{where}dataset name {name!r} is not usable as a directory name; use letters, "
            "digits and _ . + - (starting with a letter or digit)."
        )
    if is_builtin(name):
        raise MlbenchError(
            f"{where}{name!r} is a registered dataset and a dataset of your own cannot take its "
            f"name; pick another, e.g. `mlbench fetch {name}-mine --from PATH`."
        )


# -- reading and validating --------------------------------------------------------------------


def read_entries(path: Path) -> list[dict]:
    """The validated entries of a user registry file ([] when it does not exist)."""
    import json

    path = Path(path)
    if not path.is_file():
        return []
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MlbenchError(f"{path} is not a readable JSON user registry ({exc}); fix or remove it.") from None
    entries = document.get("datasets") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise MlbenchError(
            f"{path} must be a JSON object with a 'datasets' list (see docs/datasets.md, 'Your own datasets')."
        )
    seen: set[str] = set()
    out = []
    for position, entry in enumerate(entries):
        entry = _validate_entry(entry, f"{path}: dataset {position}: ")
        if entry["name"] in seen:
            raise MlbenchError(f"{path}: dataset {entry['name']!r} is listed twice; keep one.")
        seen.add(entry["name"])
        out.append(entry)
    return out


def _validate_entry(entry: Any, where: str) -> dict:
    from mlbench.data.formats import FORMATS

    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise MlbenchError(f"{where}each dataset needs a 'name' (a string).")
    check_name(entry["name"], where)
    where = f"{where[:-2]} ({entry['name']}): "
    sources = entry.get("sources")
    if not isinstance(sources, list) or not sources:
        raise MlbenchError(f"{where}needs a non-empty 'sources' list of {{name, format, files}}.")
    for source in sources:
        if not isinstance(source, dict) or source.get("format") not in FORMATS:
            raise MlbenchError(f"{where}each source needs a 'format', one of {', '.join(FORMATS)}.")
        files = source.get("files")
        if not isinstance(files, list) or not files:
            raise MlbenchError(f"{where}each source needs a non-empty 'files' list.")
        kinds = set()
        for f in files:
            if not isinstance(f, dict) or not (isinstance(f.get("url"), str) or isinstance(f.get("path"), str)):
                raise MlbenchError(f"{where}each file needs a 'url' or an absolute 'path'.")
            if not isinstance(f.get("sha256"), str) or not _SHA_RE.fullmatch(f["sha256"]):
                raise MlbenchError(
                    f"{where}file {f.get('url') or f.get('path')} needs its 'sha256' (64 lowercase hex digits)."
                )
            if f.get("role") not in _ROLES:
                raise MlbenchError(
                    f"{where}file {f.get('url') or f.get('path')} needs a 'role', one of {', '.join(_ROLES)}."
                )
            kinds.add("url" if "url" in f else "path")
        if len(kinds) > 1:
            raise MlbenchError(f"{where}a source lists either urls or local paths, not both.")
        if "url" in kinds and source["format"] == "bundle":
            raise MlbenchError(
                f"{where}bundles are imported from local files only; use `mlbench fetch NAME --from DIR`."
            )
    return entry


def _entry_origin(entry: dict) -> str:
    return LOCAL if "path" in entry["sources"][0]["files"][0] else "user"


def entry_to_spec(entry: dict) -> DatasetSpec:
    origin = _entry_origin(entry)
    sources = []
    for source in entry["sources"]:
        files = (
            ()
            if origin == LOCAL
            else tuple(RemoteFile(f["url"], f["sha256"], int(f.get("size") or 0), f["role"]) for f in source["files"])
        )
        sources.append(Source(source.get("name", origin), source["format"], files))
    return DatasetSpec(
        entry["name"],
        entry.get("domain", origin),
        entry.get("n_samples"),
        entry.get("n_features"),
        int(entry.get("n_labels") or 0),
        entry.get("cardinality"),
        tuple(sources),
        notes=entry.get("notes", ""),
        origin=origin,
    )


def user_entries(data_dir=None) -> dict[str, dict]:
    return {e["name"]: e for e in read_entries(registry_path(data_dir))}


def user_specs(data_dir=None) -> dict[str, DatasetSpec]:
    """Every dataset of the data directory's user registry, by name."""
    return {name: entry_to_spec(e) for name, e in user_entries(data_dir).items()}


def get_dataset(name: str, data_dir=None) -> DatasetSpec:
    """The spec for ``name`` (case-insensitive; aliases such as ``bkms`` accepted), else the
    user dataset ``name`` of the data directory's user registry."""
    key = name.lower()
    key = ALIASES.get(key, key)
    if key in DATASETS:
        return DATASETS[key]
    users = user_specs(data_dir)
    if name in users:
        return users[name]
    folded = {n.lower(): spec for n, spec in users.items()}
    if key in folded:
        return folded[key]
    raise MlbenchError(
        suggest(name, [*DATASETS, *users], "dataset") + " See `mlbench datasets`; "
        "import a dataset of your own with `mlbench fetch NAME --from PATH`."
    )


# -- writing -----------------------------------------------------------------------------------


def _put_entry(data_dir: Path, entry: dict) -> None:
    """Add or replace one entry; the file is rewritten atomically under a lock."""
    path = registry_path(data_dir)
    with file_lock(path.parent / f".{REGISTRY_NAME}.lock"):
        entries = [e for e in read_entries(path) if e["name"] != entry["name"]]
        entries.append(entry)
        entries.sort(key=lambda e: e["name"])
        atomic_write_json(path, {"mlbench_user_registry": 1, "datasets": entries})


def _remove_entry(data_dir: Path, name: str) -> None:
    path = registry_path(data_dir)
    with file_lock(path.parent / f".{REGISTRY_NAME}.lock"):
        entries = [e for e in read_entries(path) if e["name"] != name]
        atomic_write_json(path, {"mlbench_user_registry": 1, "datasets": entries})


def restore(data_dir, previous: dict[str, dict | None]) -> None:
    """Undo :func:`adopt` (``previous``: what it returned), e.g. when the download failed."""
    data_dir = resolve_data_dir(data_dir)
    for name, entry in previous.items():
        _remove_entry(data_dir, name) if entry is None else _put_entry(data_dir, entry)


def adopt(registry_file, names, data_dir=None, *, force: bool = False) -> dict[str, dict | None]:
    """Copy the entries of ``registry_file`` named in ``names`` into the data directory's
    user registry (so every later command knows them); returns {name copied: the entry it
    replaced, or None} for :func:`restore`."""
    registry_file = Path(registry_file)
    if not registry_file.is_file():
        raise MlbenchError(f"registry file {registry_file} not found.")
    shared = {e["name"]: e for e in read_entries(registry_file)}
    data_dir = resolve_data_dir(data_dir)
    current = user_entries(data_dir)
    adopted: dict[str, dict | None] = {}
    for name in names:
        if name not in shared:
            continue
        entry = dict(shared[name])
        old = current.get(name)
        if old is not None and old.get("sources") != entry["sources"] and not force:
            raise MlbenchError(
                f"{name!r} is already in {registry_path(data_dir)} with other files than in "
                f"{registry_file}; replace it with --force, or rename one of them."
            )
        entry.setdefault("registry_file", str(registry_file.resolve()))
        _put_entry(data_dir, entry)
        adopted[name] = old
    return adopted


# -- local imports -----------------------------------------------------------------------------


def _file_record(role: str, path: Path) -> dict:
    from mlbench.data.download import sha256_of

    stat = path.stat()
    return {
        "path": str(path),
        "role": role,
        "size": stat.st_size,
        "sha256": sha256_of(path),
        "mtime_ns": stat.st_mtime_ns,
    }


def import_local(
    name: str,
    from_path,
    data_dir=None,
    *,
    fmt: str | None = None,
    force: bool = False,
    n_features: int | None = None,
    n_labels: int | None = None,
):
    """Parse local files as dataset ``name``, cache it and record it in the user registry."""
    from mlbench.data.formats import detect_format, locate, read

    check_name(name)
    data_dir = resolve_data_dir(data_dir)
    from_path = Path(from_path).expanduser().resolve()
    fmt = fmt or detect_format(from_path, name)
    files = locate(fmt, from_path, name)
    for role, path in files.items():
        if not path.is_file():
            raise MlbenchError(f"{path} not found; a {fmt} dataset needs it ({role}).")
    records = [_file_record(role, path) for role, path in files.items()]
    old = user_entries(data_dir).get(name)
    if old is not None and not force:
        same = (
            _entry_origin(old) == LOCAL
            and old["sources"][0]["format"] == fmt
            and [(f["path"], f["sha256"]) for f in old["sources"][0]["files"]]
            == [(f["path"], f["sha256"]) for f in records]
        )
        if same and is_cached(data_dir, name):
            return load_cached(data_dir, name)
        where = old.get("imported_from") or old.get("registry_file") or "a registry file"
        raise MlbenchError(
            f"{name!r} is already a user dataset (from {where}) with other files or contents; "
            f"replace it with `mlbench fetch {name} --from {from_path} --force`."
        )
    options = {k: v for k, v in (("n_features", n_features), ("n_labels", n_labels)) if v is not None}
    provenance = {
        "source": LOCAL,
        "format": fmt,
        "origin": LOCAL,
        "imported_from": str(from_path),
        "import_options": options,
        "files": [{**{k: r[k] for k in ("path", "role", "sha256", "mtime_ns")}, "bytes": r["size"]} for r in records],
        "mlbench_version": __version__,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if fmt == "bundle":
        dataset = _import_user_bundle(name, files, data_dir, n_features, n_labels, provenance)
    else:
        dataset = save_dataset(data_dir, read(fmt, name, files, n_features=n_features, n_labels=n_labels), provenance)
    _put_entry(
        data_dir,
        {
            "name": name,
            "domain": LOCAL,
            "n_samples": dataset.n_samples,
            "n_features": dataset.n_features,
            "n_labels": dataset.n_labels,
            "cardinality": round(dataset.cardinality, 4),
            "imported_from": str(from_path),
            "options": options,
            "sources": [
                {
                    "name": LOCAL,
                    "format": fmt,
                    "files": [{k: r[k] for k in ("path", "role", "sha256", "size")} for r in records],
                }
            ],
            "added_at": provenance["fetched_at"],
        },
    )
    return dataset


def _import_user_bundle(name, files, data_dir, n_features, n_labels, provenance):
    from mlbench.data.bundle import import_bundle  # downloads (pooch): only when importing a bundle
    from mlbench.data.registry import BundleLayout

    if n_labels is None:
        raise MlbenchError(
            "a bundle's columns are labels | features and the split into the two "
            "is not in the files; give the label count with --n-labels L."
        )
    spec = DatasetSpec(
        name,
        LOCAL,
        None,
        n_features,
        n_labels,
        None,
        (Source(LOCAL, "bundle", ()),),
        bundle=BundleLayout(n_labels, n_features),
        origin=LOCAL,
    )
    stem = files["data"].name.removesuffix(".npy").removesuffix("_data")
    return import_bundle(spec, data_dir, files["data"].parent, None, False, False, stem=stem, provenance=provenance)


def fetch_local(spec: DatasetSpec, data_dir=None, *, force: bool = False):
    """A local user dataset named without --from: its cache, or a re-import of its files."""
    data_dir = resolve_data_dir(data_dir)
    if is_cached(data_dir, spec.name) and not force:
        return load_cached(data_dir, spec.name)
    entry = user_entries(data_dir)[spec.name]
    source = entry["sources"][0]
    for f in source["files"]:
        path = Path(f["path"])
        if not path.is_file():
            raise MlbenchError(
                f"{path}, an input file of {spec.name!r}, is gone and the dataset is not cached "
                f"in {data_dir}; import it again with `mlbench fetch {spec.name} --from PATH --force`."
            )
        check_unchanged(spec.name, f, entry.get("imported_from"), size_key="size")
    options = entry.get("options", {})
    return import_local(
        spec.name,
        entry["imported_from"],
        data_dir,
        fmt=source["format"],
        force=True,
        n_features=options.get("n_features"),
        n_labels=options.get("n_labels"),
    )
