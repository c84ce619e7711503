"""MLkNN fit+predict time and peak memory: mlbench's vectorised implementation vs
scikit-multilearn-ng's ``MLkNN`` (the implementation it replaced, kept as the test reference).

    python benchmarks/mlknn_speed.py [--datasets yeast scene delicious] [--no-reference DATASET ...]
                                     [--repeats 3] [--rounds 1] [--before] [--mirror DIR_OR_URL]
                                     [--data-dir DIR]

Each measurement runs in a fresh child process (single-threaded BLAS) so its peak resident memory
(ru_maxrss) is its own; "base MB" is the peak of a child that only loads the data, so peak - base
is what the fit and predict added. Both implementations see the same min-max scaled features, k=10,
s=1, the iterative split with seed 0; time is fit on the training part + predict on the test part,
the best of --repeats runs (ng: one run), as wall-clock and as the process's CPU time (on a shared
machine the CPU time is the steadier figure). "max |diff|" compares the two probability matrices.
``--before`` also times ours with scikit-learn's ``kneighbors`` for sparse data
(``MLKNN_SPARSE_BLOCK_BYTES = 0``, the implementation before mlbench's own sparse search), in
alternation with ours for ``--rounds`` rounds (ours, before, ours, before, ...; best of each), and
checks that both give the same probabilities.
If delicious cannot be fetched, a synthetic sparse matrix of its shape (16105 x 500 binary features,
983 labels, similar densities) stands in for it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mirror"


def _load(dataset: str, data_dir: str):
    import numpy as np
    import scipy.sparse as sp

    if dataset == "synthetic-delicious":
        rng = np.random.default_rng(0)
        n, d, L = 16105, 500, 983
        X = sp.random(n, d, density=0.04, format="csr", random_state=0, data_rvs=np.ones)
        W = sp.random(d, L, density=0.02, format="csr", random_state=1)
        Y = (np.asarray((X @ W).todense()) + rng.random((n, L)) > 0.97).astype(np.int64)
        n_test = n // 10
        return X[:-n_test], Y[:-n_test], X[-n_test:]
    from mlbench.data import load_split

    data = load_split(dataset, "iterative", 0, data_dir=data_dir)
    return data.X_train, data.Y_train, data.X_test


def _child(which: str, dataset: str, data_dir: str, repeats: int, out: str, queue) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numpy as np
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    from mlbench.methods.classic import MLkNN

    X, Y, Xt = _load(dataset, data_dir)
    result = {"n_train": X.shape[0], "n_test": Xt.shape[0], "n_labels": Y.shape[1], "sparse": sp.issparse(X)}
    with threadpool_limits(1):
        if which == "base":
            result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            queue.put(result)
            return
        if which in ("ours", "before"):
            if which == "before":
                import mlbench.methods.classic as classic

                classic.MLKNN_SPARSE_BLOCK_BYTES = 0
            best = cpu = float("inf")
            for _ in range(repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                proba = MLkNN(k=10, s=1.0).fit(X, Y).predict_proba(Xt)
                best = min(best, time.perf_counter() - start)
                cpu = min(cpu, time.process_time() - start_cpu)
        else:
            from skmultilearn.adapt import MLkNN as NgMLkNN

            from mlbench.methods.classic import feature_matrix

            X, Xt = feature_matrix(X), feature_matrix(Xt)
            scaling = MLkNN(k=10, s=1.0).fit(X, Y).scaling_  # the same features as ours sees
            Xs, Xts = scaling.transform(X), scaling.transform(Xt)
            start, start_cpu = time.perf_counter(), time.process_time()
            model = NgMLkNN(k=10, s=1.0, ignore_first_neighbours=1).fit(Xs, Y)
            model.ignore_first_neighbours = 0
            proba = model.predict_proba(Xts).toarray()
            best, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    np.save(out, proba)
    result.update(seconds=best, cpu_seconds=cpu, peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    queue.put(result)


def _run(which, dataset, data_dir, repeats, out):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(which, dataset, data_dir, repeats, out, queue))
    proc.start()
    while True:  # a child that dies (an import error, out of memory) must not hang the parent
        try:
            result = queue.get(timeout=5)
            break
        except Exception:
            if not proc.is_alive():
                raise SystemExit(f"the {which} measurement on {dataset} failed (exit {proc.exitcode}); see above")
    proc.join()
    return result


def _best(a, b):
    """The faster of two measurements (CPU and wall separately), the larger peak."""
    if a is None:
        return b
    return {
        **b,
        "seconds": min(a["seconds"], b["seconds"]),
        "cpu_seconds": min(a["cpu_seconds"], b["cpu_seconds"]),
        "peak_mb": max(a["peak_mb"], b["peak_mb"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["yeast", "scene", "delicious"],
        help="dataset names, or synthetic-delicious for the stand-in",
    )
    parser.add_argument(
        "--no-reference", nargs="*", default=[], help="datasets on which ng is not run (it takes minutes on delicious)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="alternate ours and --before this many times")
    parser.add_argument("--before", action="store_true", help="also time scikit-learn's sparse kneighbors")
    parser.add_argument("--mirror", default=str(DEFAULT_MIRROR))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    import numpy as np

    from mlbench.data.fetch import fetch_dataset

    data_dir = args.data_dir or tempfile.mkdtemp(prefix="mlknn-speed-")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    print(
        "| dataset | train x test x labels | ours wall / CPU (s) | before wall / CPU (s) | ng wall / CPU (s) "
        "| speed-up (CPU) | ours peak MB | before peak MB | ng peak MB | base MB | max \\|diff\\| |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets:
        name = dataset
        try:
            if dataset != "synthetic-delicious":
                fetch_dataset(dataset, data_dir, mirror=args.mirror)
        except Exception as exc:  # offline without a mirror: a stand-in of the same shape
            if dataset != "delicious":
                raise
            print(f"(delicious unavailable: {exc}; using a synthetic stand-in)")
            name = "synthetic-delicious"
        with tempfile.TemporaryDirectory() as tmp:
            base = _run("base", name, data_dir, 1, f"{tmp}/base.npy")
            ours = before = None
            for _ in range(args.rounds):
                ours = _best(ours, _run("ours", name, data_dir, args.repeats, f"{tmp}/ours.npy"))
                if args.before:
                    before = _best(before, _run("before", name, data_dir, args.repeats, f"{tmp}/before.npy"))
            if before and not np.array_equal(np.load(f"{tmp}/ours.npy"), np.load(f"{tmp}/before.npy")):
                raise SystemExit(f"{name}: ours and before give different probabilities")
            ng = None
            if dataset not in args.no_reference:
                ng = _run("ng", name, data_dir, 1, f"{tmp}/ng.npy")
                diff = float(np.abs(np.load(f"{tmp}/ours.npy") - np.load(f"{tmp}/ng.npy")).max())
        shape = f"{ours['n_train']} x {ours['n_test']} x {ours['n_labels']}"
        ng_s = f"{ng['seconds']:.2f} / {ng['cpu_seconds']:.2f}" if ng else "–"
        before_s = f"{before['seconds']:.3f} / {before['cpu_seconds']:.3f}" if before else "–"
        before_mb = f"{before['peak_mb']:.0f}" if before else "–"
        ratio = f"{ng['cpu_seconds'] / ours['cpu_seconds']:.0f}x" if ng else "–"
        ng_mb = f"{ng['peak_mb']:.0f}" if ng else "–"
        diff_s = f"{diff:.1e}" if ng else "–"
        print(
            f"| {name} | {shape} | {ours['seconds']:.3f} / {ours['cpu_seconds']:.3f} | {before_s} | {ng_s} | "
            f"{ratio} | {ours['peak_mb']:.0f} | {before_mb} | {ng_mb} | {base['peak_mb']:.0f} | {diff_s} |",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
