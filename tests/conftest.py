"""Shared fixtures: the offline mirror served over real HTTP on 127.0.0.1, and temp dirs."""

from __future__ import annotations

import atexit
import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

# Rich sizes tables to the terminal; a fixed width keeps rendered output (names, wrapping) the
# same in a terminal, under CI and in pytest-xdist workers.
os.environ["COLUMNS"] = "200"
# pytest -n auto gives each worker one core, and torch's default of one intra-op thread per core
# then oversubscribes the machine: OpenMP's spinning threads made the 5-epoch MPVAE and 10-epoch
# C2AE tests 15-20x slower (157 s vs 7.8 s, 2 cores, one other busy process; measured
# 2026-12-02, A/B/A/B). Set before any test imports torch; tests that need more set it themselves.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# A developer's ./data (or $MLBENCH_DATA) must not leak into tests: a test that passed only because
# delicious was fetched locally failed on CI's clean checkout. Tests name their data dir.
os.environ["MLBENCH_DATA"] = tempfile.mkdtemp(prefix="mlbench-tests-no-data-")
atexit.register(shutil.rmtree, os.environ["MLBENCH_DATA"], True)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MLBENCH_SHARED", REPO.parent / "shared"))
MIRROR_DIR = SHARED / "mirror"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


def serve_directory(directory: Path):
    """Start a threaded HTTP server for ``directory`` on 127.0.0.1; returns (server, base URL)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def invoke_cli(*argv) -> int:
    """Run ``mlbench argv`` in-process through the real entry point; returns the exit code."""
    from mlbench.cli import main

    try:
        main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: a second intra-op thread only adds contention on a busy 2-core machine
    (use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    from mlbench.methods.neural import torch_cpu_mode

    with torch_cpu_mode(1):
        yield


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """:func:`invoke_cli` plus what it printed: (exit code, stdout, stderr)."""
    code = invoke_cli(*argv)
    out, err = capsys.readouterr()
    return code, out, err


def store_row(dataset: str, method: str, seed: int, metric: str, value: float, **fields) -> dict:
    """One results-store row of a default-variant iterative run; ``fields`` override or add
    columns (``protocol``, ``train_fraction``, ``method_name``, ...)."""
    fraction = fields.get("train_fraction", 1.0)
    return {
        "dataset": dataset,
        "method": method,
        "variant": "default",
        "seed": seed,
        "split": "iterative",
        "split_id": f"iterative-seed{seed}",
        "train_fraction": fraction,
        "protocol": "fixed",
        "metric": metric,
        "value": value,
        "run_id": f"{dataset}/{method}/default/iterative-seed{seed}" + ("" if fraction == 1 else f"-frac{fraction:g}"),
        "finished_at": "2026-01-01T00:00:00Z",
        **fields,
    }


@pytest.fixture(scope="session")
def mirror_url():
    """Base URL of ../shared/mirror served over HTTP (laid out as <host>/<path>)."""
    if not MIRROR_DIR.is_dir():
        pytest.skip(f"offline mirror not found at {MIRROR_DIR} (set MLBENCH_SHARED)")
    server, url = serve_directory(MIRROR_DIR)
    yield url
    server.shutdown()


@pytest.fixture
def dead_mirror() -> str:
    """A loopback URL where nothing listens."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory, mirror_url):
    """A data dir shared by read-only tests, with yeast and scene downloaded over HTTP from the
    mirror (``force`` bypasses yeast's embedded copy, so the end-to-end tests use the network path)."""
    from mlbench.data.fetch import fetch_dataset

    data_dir = tmp_path_factory.mktemp("data")
    for name in ("yeast", "scene"):
        fetch_dataset(name, data_dir, mirror=mirror_url, force=True)
    return data_dir
