"""Verified downloads of upstream files, through mirrors, into the raw-file cache.

pooch does the work: it streams into a temporary file beside the target and moves it into place
only once the sha256 matches, so a killed or corrupted download never leaves a file that a later
run trusts. A file already in the cache is re-hashed and reused without touching the network.
Downloads into one directory hold its lock, so the temporary files that a killed download leaves
behind (pooch's ``tmpXXXXXXXX``, mlbench's ``.NAME.*.tmp``) are debris by the time the next fetch
gets the lock, and are removed then.

Mirrors: with ``--mirror BASE`` / ``MLBENCH_MIRROR=BASE`` the URL ``https://<host>/<path>`` is
fetched from ``BASE/<host>/<path>``; BASE is an ``http(s)://`` URL or a local directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pooch
import requests

from mlbench.data.registry import RemoteFile
from mlbench.errors import MlbenchError
from mlbench.io import atomic_write_bytes, current_umask, file_lock

MIRROR_ENV = "MLBENCH_MIRROR"
TIMEOUT_S = 60

pooch.get_logger().setLevel(logging.WARNING)
MIRROR_HINT = (
    f"Check the connection, or set a mirror with --mirror BASE or {MIRROR_ENV}=BASE (files at BASE/<host>/<path>)."
)


class DownloadError(MlbenchError):
    """A file could not be obtained; ``short`` is '<url> (<reason>)' for combined messages."""

    def __init__(self, message: str, short: str) -> None:
        super().__init__(message)
        self.short = short


def mirror_url(url: str, mirror: str | None) -> str:
    """Where to fetch ``url`` from: itself, or ``mirror/<host>/<path>``."""
    if not mirror:
        return url
    parts = urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


def resolve_mirror(mirror: str | None) -> str | None:
    return mirror or os.environ.get(MIRROR_ENV) or None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class _ProgressAdapter:
    """The object pooch's HTTPDownloader drives (``total``, ``update``, ``reset``, ``close``),
    shown as a rich progress task."""

    def __init__(self, progress, description: str) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=None)
        self.total = 0

    def update(self, n: int) -> None:
        self._progress.update(self._task, advance=n, total=self.total or None)

    def reset(self) -> None:
        self._progress.reset(self._task, total=self.total or None)

    def close(self) -> None:
        self._progress.update(self._task, total=self.total or None, visible=True)


def _copy_downloader(progress: _ProgressAdapter | None) -> Callable:
    """A pooch downloader for a local-directory mirror (same temp-file + hash path as HTTP)."""

    def download(url: str, output_file: str, _pooch) -> None:
        source = Path(url)
        if not source.is_file():
            raise FileNotFoundError(url)
        if progress is not None:
            progress.total = source.stat().st_size
        with open(source, "rb") as src, open(output_file, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
                if progress is not None:
                    progress.update(len(block))

    return download


@contextmanager
def _download_progress(enabled: bool):
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as progress:
        yield progress


def fetch_file(
    remote: RemoteFile,
    directory: Path,
    *,
    mirror: str | None = None,
    force: bool = False,
    progress: bool = True,
    embedded: Callable[[], bytes | None] | None = None,
) -> Path:
    """Return the verified local copy of ``remote`` in ``directory``, downloading it if needed.

    ``embedded`` returns the package's copy of the file (or None): it is used instead of the
    network when its sha256 matches, unless ``force``. It is only called when the file is missing.
    """
    with file_lock(directory / LOCK_NAME):
        remove_debris(directory)
        return _fetch_file_locked(remote, directory, mirror=mirror, force=force, progress=progress, embedded=embedded)


LOCK_NAME = ".download.lock"
_POOCH_TMP = re.compile(r"tmp[a-z0-9_]{8}")  # tempfile.NamedTemporaryFile's default names
_ATOMIC_TMP = re.compile(r"\..+\.tmp.*")  # mlbench.io.atomic_path's names


def remove_debris(directory: Path) -> list[Path]:
    """Delete the temporary files of downloads and writes that were killed; the caller holds the
    directory's download lock, so none of them is in use."""
    removed = []
    for path in directory.iterdir() if directory.is_dir() else ():
        if path.is_file() and (_POOCH_TMP.fullmatch(path.name) or _ATOMIC_TMP.fullmatch(path.name)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _fetch_file_locked(remote, directory, *, mirror, force, progress, embedded) -> Path:
    target = directory / remote.filename
    if force and target.exists():
        target.unlink()
    if target.exists() and sha256_of(target) == remote.sha256:
        return target
    content = embedded() if embedded is not None and not force else None
    if content is not None and hashlib.sha256(content).hexdigest() == remote.sha256:
        atomic_write_bytes(target, content)
        return target
    source = mirror_url(remote.url, resolve_mirror(mirror))
    is_local = "://" not in source
    with _download_progress(progress) as bar:
        adapter = _ProgressAdapter(bar, remote.filename) if bar is not None else None
        downloader = (
            _copy_downloader(adapter)
            if is_local
            else pooch.HTTPDownloader(progressbar=adapter or False, timeout=TIMEOUT_S)
        )
        try:
            pooch.retrieve(
                source,
                known_hash=f"sha256:{remote.sha256}",
                fname=remote.filename,
                path=directory,
                downloader=downloader,
            )
        except ValueError as exc:
            if "hash" not in str(exc).lower():
                raise
            raise DownloadError(
                f"checksum mismatch for {source}: expected sha256 {remote.sha256[:12]}...; the "
                "server may have sent an error page or a truncated file. Nothing was cached; "
                "retry, or use another mirror with --mirror BASE.",
                f"{source} (checksum mismatch)",
            ) from None
        except (requests.RequestException, OSError) as exc:  # network, or missing from a local mirror
            reason = _short_reason(exc)
            raise DownloadError(
                f"could not download {source} ({reason}). {MIRROR_HINT}", f"{source} ({reason})"
            ) from None
    os.chmod(target, 0o666 & ~current_umask())  # pooch's temporary file was created 0600
    return target


def _short_reason(exc: Exception) -> str:
    name = type(exc).__name__
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code}"
    if isinstance(exc, FileNotFoundError):
        return "not in the mirror"
    text = str(exc).splitlines()[0] if str(exc) else ""
    if "Connection refused" in text or "Max retries" in text:
        return "connection refused"
    return f"{name}: {text[:80]}" if text else name
