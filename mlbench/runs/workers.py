"""Where worker processes come from: a fork server that imports torch and mlbench once.

A spawned worker imports torch, every method module and torch's compiler stack (which the
first ``torch.optim`` step imports) before its first run: 5-9 CPU-s per worker on the 2-core
development machine, paid again by every worker (``docs/benchmarks.md``, the main job). A fork
server pays it once and forks each worker from that state. It is a fresh process that has only
imported (no torch op ran, no thread started), so its forks do not inherit a busy OpenMP pool,
which is why the workers are not forked from the calling process, which may have trained.

Torch-free itself: :func:`warm_up` starts the server early, so it imports while the calling
process is still reading its own method registry.
"""

from __future__ import annotations

import multiprocessing

# Imported by the fork server (an ImportError is skipped there; the worker then imports it).
PRELOAD = ["mlbench.runs.worker_imports"]


def pool_context():
    """The multiprocessing context of local worker pools: the fork server where the platform
    has one (Linux, macOS), spawn otherwise (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # no effect once this process's server runs
    return context


def warm_up() -> None:
    """Start the fork server now (it imports in the background); a later pool uses it."""
    context = pool_context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
