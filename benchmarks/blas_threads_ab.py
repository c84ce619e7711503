"""OpenBLAS threads for scikit-learn's methods: the default (one per core) against one thread, A/B.

    python benchmarks/blas_threads_ab.py [--dataset delicious] [--rows 3000] [--labels 60] [--rounds 2]

torch's thread setting does not reach numpy's and scipy's BLAS, which scikit-learn's solvers use;
``--threads-per-job`` caps both (``mlbench.runs.execute.limit_blas_threads``). This fits a
classifier chain (``cc``) on the first ``--rows`` training rows and ``--labels`` labels of the
dataset (iterative split seed 0), alternating the default pools and a cap of 1 in one process,
and prints wall and CPU seconds of each fit and the load average. The difference shows when
another process holds a core: on an idle machine the two are close.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="delicious")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--labels", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir", default=os.environ.get("MLBENCH_DATA", "data"))
    args = parser.parse_args()

    import scipy.linalg  # noqa: F401  (loads scipy's BLAS before the pools are read)
    from threadpoolctl import threadpool_limits

    from mlbench.data import load_split
    from mlbench.methods import create_method
    from mlbench.methods.base import FitContext
    from mlbench.runs.cost import blas_threads

    split = load_split(args.dataset, seed=0, data_dir=args.data_dir)
    X, Y = split.X_train[: args.rows], split.Y_train[: args.rows, : args.labels]
    default = blas_threads()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} cores)")
    print(f"cc on {args.dataset}, {X.shape[0]} rows, {Y.shape[1]} labels")
    print("round  blas threads  wall s  cpu s")
    for round_ in range(args.rounds):
        for threads in (default, 1):
            with threadpool_limits(threads):
                method = create_method("cc")
                wall, cpu = time.perf_counter(), time.process_time()
                method.fit(X, Y, context=FitContext(seed=0, progress=False))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{round_:>5} {threads:>13} {wall:>7.2f} {cpu:>6.2f}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
