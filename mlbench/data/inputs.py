"""The input files a user's local dataset was imported from: unchanged since, or an error.

Below both the cache (which refuses a local dataset's cache when its inputs changed) and the
user registry (which re-imports them), so neither has to import the other.
"""

from __future__ import annotations

from pathlib import Path

from mlbench.errors import MlbenchError
from mlbench.integrity import sha256_file

LOCAL = "local"


def check_unchanged(name: str, record: dict, imported_from, size_key: str = "bytes") -> None:
    path = Path(record["path"])
    stat = path.stat()
    if stat.st_size == record.get(size_key) and stat.st_mtime_ns == record.get("mtime_ns"):
        return  # untouched since import: skip re-hashing (a file is re-hashed once touched)
    if sha256_file(path) != record["sha256"]:
        raise MlbenchError(
            f"{path}, an input file of dataset {name!r}, changed since it was imported (sha256 "
            f"was {record['sha256'][:12]}...); re-import it with `mlbench fetch {name} --from "
            f"{imported_from or path} --force` (runs made before keep the old checksum)."
        )


def check_inputs(name: str, meta: dict) -> None:
    """Refuse the cache of a local dataset whose input files changed (missing ones are fine)."""
    if meta.get("origin") != LOCAL:
        return
    for record in meta.get("files", []):
        if "path" in record and Path(record["path"]).is_file():
            check_unchanged(name, record, meta.get("imported_from"))
