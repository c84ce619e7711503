"""Loaders that trust nothing on disk, and cheap content records for cached files.

Every file mlbench reads back (its caches, run directories, the results store, and files users
hand it) goes through one of these loaders. Any decoding failure (truncated zip, garbage bytes,
JSON that is not an object, a missing key, a value of the wrong type) becomes one
:class:`CorruptFileError` line naming the file, what is wrong with it and the command that
repairs it. Nothing here unpickles: ``.npz`` files are read with ``allow_pickle=False`` and
torch files with ``weights_only=True`` after checking they are torch zip archives, so a planted
pickle is refused without running its code.

A *file record* ``{"size", "mtime_ns", "sha256"}`` lets a loader verify a cached file cheaply:
when size and mtime are unchanged the file is trusted; otherwise its sha256 is recomputed and
compared (``verify`` always recomputes).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlbench.errors import MlbenchError


class CorruptFileError(MlbenchError):
    """A file mlbench reads is unreadable, tampered with or of the wrong shape."""


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def _fail(what: str, path: Path, problem: str, fix: str) -> CorruptFileError:
    return CorruptFileError(f"{what} {path} {problem}; {fix}.")


# -- JSON ------------------------------------------------------------------------------------------

# A schema maps a key to the type(s) its value must have; ``float`` admits ints, never bools.
Schema = Mapping[str, type | tuple[type, ...]]


def read_json_checked(path: str | os.PathLike, *, what: str, fix: str, schema: Schema | None = None) -> dict[str, Any]:
    """The JSON object in ``path``, with ``schema``'s keys present and typed."""
    path = Path(path)
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise _fail(what, path, "is missing", fix) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(what, path, f"is not valid JSON ({_short(exc)})", fix) from None
    except OSError as exc:
        raise _fail(what, path, f"cannot be read ({_short(exc)})", fix) from None
    if not isinstance(obj, dict):
        raise _fail(what, path, f"holds a JSON {type(obj).__name__}, not an object", fix)
    check_schema(obj, schema or {}, what, path, fix)
    return obj


def check_schema(obj: Mapping[str, Any], schema: Schema, what: str, path: Path, fix: str) -> None:
    missing = [key for key in schema if key not in obj]
    if missing:
        raise _fail(what, path, "lacks the key(s) " + ", ".join(repr(k) for k in missing), fix)
    for key, kinds in schema.items():
        if not _is_instance(obj[key], kinds):
            names = "/".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
            raise _fail(what, path, f"has {key!r} of type {type(obj[key]).__name__}, expected {names}", fix)


def _is_instance(value: Any, kinds) -> bool:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool):
        return bool in kinds
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


# -- .npz ------------------------------------------------------------------------------------------


def load_npz_checked(
    path: str | os.PathLike, *, what: str, fix: str, keys: Iterable[str] = ()
) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive ``path`` (read eagerly, so a truncated member fails
    here and not later), never unpickling; ``keys`` must be among them."""
    path = Path(path)
    if not path.is_file():
        raise _fail(what, path, "is missing", fix)
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        problem = (
            "holds pickled objects, which mlbench never loads"
            if "pickle" in str(exc)
            else f"is not an .npz archive ({_short(exc)})"
        )
        raise _fail(what, path, problem, fix) from None
    except Exception as exc:  # noqa: BLE001 - EOFError, BadZipFile, OSError, ...: all mean corrupt
        raise _fail(what, path, f"cannot be read as .npz ({_short(exc)})", fix) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise _fail(what, path, "is a single .npy array, not an .npz archive of named arrays", fix)
    try:
        with loaded as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        problem = (
            "holds pickled objects, which mlbench never loads"
            if "pickle" in str(exc)
            else f"has an unreadable member ({_short(exc)})"
        )
        raise _fail(what, path, problem, fix) from None
    except Exception as exc:  # noqa: BLE001 - zlib.error, BadZipFile (CRC), EOFError, ...
        raise _fail(what, path, f"has an unreadable member ({_short(exc)})", fix) from None
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise _fail(what, path, "lacks the array(s) " + ", ".join(repr(k) for k in missing), fix)
    return arrays


# -- torch files -----------------------------------------------------------------------------------


def torch_load_checked(path: str | os.PathLike, *, what: str, fix: str, map_location: str = "cpu") -> Any:
    """Tensors and plain data from a file written by ``torch.save``.

    A file that is not a torch zip archive (e.g. a bare pickle) is refused before anything is
    deserialized; inside an archive, ``weights_only=True`` is torch's restricted unpickler, which
    refuses any global other than tensors and builtin containers before calling it.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise _fail(what, path, "is missing", fix)
    if not zipfile.is_zipfile(path):
        raise _fail(
            what, path, "is not a torch archive (a bare pickle, or truncated); mlbench refuses to unpickle it", fix
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _fail(
            what,
            path,
            f"holds objects other than tensors and plain data ({_short(exc)[:100]}); refused without running it",
            fix,
        ) from None
    except Exception as exc:  # noqa: BLE001 - truncated members, CRC errors, ...
        raise _fail(what, path, f"cannot be read ({_short(exc)})", fix) from None


def to_plain(obj: Any) -> Any:
    """``obj`` with numpy arrays as tensors and numpy scalars as Python numbers, so that
    ``torch.load(weights_only=True)`` can read it back."""
    import torch

    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {key: to_plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(value) for value in obj)
    return obj


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of a settings mapping in canonical JSON (key order and whitespace do not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- file records ----------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    stat = Path(path).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(path)}


def matches_record(path: str | os.PathLike, record: Mapping[str, Any], *, full: bool = False) -> bool:
    """Whether ``path`` still holds what ``record`` describes: unchanged size and mtime are
    trusted unless ``full``; otherwise the sha256 decides."""
    try:
        stat = Path(path).stat()
    except OSError:
        return False
    if stat.st_size != record.get("size"):
        return False
    if not full and stat.st_mtime_ns == record.get("mtime_ns"):
        return True
    return sha256_file(path) == record.get("sha256")


# -- the results store (CSV) ---------------------------------------------------------------------

_warned_stores: set[tuple[str, int, int]] = set()


def store_restore_hint(path: Path) -> str:
    backup = path.with_name(path.name + ".bak")
    if backup.is_file():
        return f"restore the previous store with `cp {backup} {path}`"
    return f"move {path} away to start a new store"


def read_results_csv(
    path: str | os.PathLike,
    required: list[str],
    optional: list[str] = (),
    *,
    notify: Callable[[str], None] | None = None,
    bad_lines: list[int] | None = None,
):
    """The results store at ``path`` as a DataFrame.

    A file that is not a table with the ``required`` columns is a :class:`CorruptFileError`
    naming the repair. A row that does not parse (wrong field count, a non-numeric seed, value
    or train fraction, or a last line without its newline, i.e. cut off) is skipped; its line
    number goes to ``bad_lines`` and, once per version of the file, to ``notify`` (default: a
    warning on stderr). Parsed line by line rather than with ``pd.read_csv``, which can skip
    bad lines but not say which ones.
    """
    import pandas as pd

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptFileError(f"the results store {path} is not text; {store_restore_hint(path)}.") from None
    except OSError as exc:
        raise CorruptFileError(f"cannot read the results store {path} ({_short(exc)}).") from None
    lines = text.splitlines()
    try:
        header = next(csv.reader(lines[:1]), [])
    except csv.Error:
        header = []
    missing = [c for c in required if c not in header]
    if missing:
        raise CorruptFileError(
            f"the results store {path} is not a results table (missing columns "
            f"{', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}); "
            f"{store_restore_hint(path)}."
        )
    records, bad = [], []
    cut_off = not text.endswith("\n")  # every write ends with a newline
    try:
        rows = list(csv.reader(lines[1:]))
    except csv.Error:  # a NUL byte or an unclosed quote: judge the lines one by one
        rows = []
        for line in lines[1:]:
            try:
                rows.append(next(csv.reader([line]), []))
            except csv.Error:
                rows.append(None)
    for number, fields in enumerate(rows, start=2):
        if fields == []:
            continue
        row = dict(zip(header, fields or ()))
        if (
            fields is None
            or len(fields) != len(header)
            or (cut_off and number == len(lines))
            or not _store_row_parses(row)
        ):
            bad.append(number)
            continue
        records.append(row)
    if bad:
        if bad_lines is not None:
            bad_lines.extend(bad)
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _warned_stores:
            _warned_stores.add(key)
            shown = ", ".join(map(str, bad[:5])) + (f" (+{len(bad) - 5} more)" if len(bad) > 5 else "")
            (notify or _warn)(
                f"the results store {path}: line(s) {shown} are cut off or do not parse and were "
                f"skipped; `mlbench verify --repair` rewrites the store without them (or "
                f"{store_restore_hint(path)})."
            )
    frame = pd.DataFrame(records, columns=list(dict.fromkeys([*header, *optional])))
    for column in optional:
        frame[column] = frame[column].fillna("")
    frame["seed"] = frame["seed"].astype("int64")
    frame["train_fraction"] = frame["train_fraction"].astype(float)
    frame["value"] = frame["value"].map(_store_number).astype(float)
    return frame


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _store_number(text: str) -> float:
    return math.nan if text.strip().lower() in ("", "nan") else float(text)


def _store_row_parses(row: dict[str, str]) -> bool:
    try:
        int(row["seed"])
        float(row["train_fraction"])
        _store_number(row["value"])
    except ValueError:
        return False
    return bool(row["run_id"] and row["dataset"] and row["method"] and row["metric"])


__all__ = [
    "CorruptFileError",
    "config_hash",
    "file_record",
    "load_npz_checked",
    "matches_record",
    "read_json_checked",
    "read_results_csv",
    "sha256_file",
    "to_plain",
    "torch_load_checked",
]
