"""Start-up of worker processes ready to train: spawned (each imports torch, torch._dynamo and the
method registry) against forked from mlbench's preloaded fork server (imports once).

    python benchmarks/worker_start.py --workers 3 --repeat 2

Interleaved; prints wall and CPU seconds of each pool (fork server included: this script adopts
the orphaned server, Linux) and the 1-minute load.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POOL = r"""
import sys
from concurrent.futures import ProcessPoolExecutor


def ready():
    import mlbench.runs.worker_imports  # noqa: F401  (nothing left to do where preloaded)
    return 1


if __name__ == "__main__":
    mode, workers = sys.argv[1], int(sys.argv[2])
    if mode == "spawn":
        import multiprocessing

        context = multiprocessing.get_context("spawn")
    else:
        from mlbench.runs.workers import pool_context

        context = pool_context()
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        assert sum(f.result() for f in [pool.submit(ready) for _ in range(workers)]) == workers
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the fork server's CPU counts
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = Path(tempfile.mkdtemp(prefix="mlbench-worker-start-")) / "pool.py"
    script.write_text(POOL)  # a file, not -c: the workers find ``ready`` in the main module's file
    for rep in range(args.repeat):
        for mode in ("spawn", "forkserver"):
            before, load = resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()[0]
            started = time.perf_counter()
            subprocess.run([sys.executable, str(script), mode, str(args.workers)], check=True, env=env)
            wall = time.perf_counter() - started
            while True:
                try:
                    os.wait()
                except ChildProcessError:
                    break
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            print(f"{mode:>10} rep {rep} load {load:4.1f}: wall {wall:5.1f} s, CPU {cpu:5.1f} s", flush=True)


if __name__ == "__main__":
    main()
