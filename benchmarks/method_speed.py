"""Fit and predict time, seconds per epoch and peak memory of methods on real datasets.

    python benchmarks/method_speed.py [--methods br mlknn bce] [--datasets yeast scene delicious]
                                      [--epochs 5] [--device cpu] [--threads N] [--mirror DIR_OR_URL]

Each (method, dataset) runs in a fresh child process so that its peak resident memory (ru_maxrss,
which includes the ~0.3-0.4 GB of an imported torch) is its own; the baseline row shows the
memory of a child that only imports the same modules. Neural methods train --epochs epochs and
report seconds per epoch from their training log. Data: iterative split, seed 0.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mirror"


def _measure(method_id: str, dataset: str, data_dir: str, epochs: int, device: str, threads: int, queue) -> None:
    import torch

    if threads:
        # On a shared machine, torch's default (one thread per core) spins against other
        # processes: an epoch of BCE on yeast measured 0.12 s with 1 thread, 0.2-4 s with 2.
        torch.set_num_threads(threads)
        from mlbench.runs.execute import limit_blas_threads

        limit_blas_threads(threads)  # and numpy's/scipy's BLAS, which scikit-learn's methods use
    from mlbench.data import load_split
    from mlbench.methods import FitContext, create_method
    from mlbench.methods.neural import seed_everything

    data = load_split(dataset, "iterative", 0, data_dir=data_dir)
    if method_id == "baseline":
        queue.put({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        return
    overrides = {}
    model_cls = create_method(method_id).__class__
    if "epochs" in model_cls.params:
        overrides = (
            {"epochs": epochs, "early_stopping": 0} if "early_stopping" in model_cls.params else {"epochs": epochs}
        )
    model = create_method(method_id, dataset, overrides)
    seed_everything(0)
    context = FitContext(seed=0, device=device, progress=False)
    start = time.perf_counter()
    model.fit(data.X_train, data.Y_train, data.X_val, data.Y_val, context=context)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    model.predict_proba(data.X_test)
    predict = time.perf_counter() - start
    epoch_seconds = [r["seconds"] for r in context.log if "seconds" in r]
    queue.put(
        {
            "fit_s": fit,
            "predict_s": predict,
            "s_per_epoch": sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else None,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "n_train": data.Y_train.shape[0],
            "n_labels": data.Y_train.shape[1],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["br", "mlknn", "bce"])
    parser.add_argument("--datasets", nargs="+", default=["yeast", "scene", "delicious"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--mirror", default=str(DEFAULT_MIRROR))
    args = parser.parse_args()

    from mlbench.data.fetch import fetch_dataset

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as data_dir:
        for name in args.datasets:
            fetch_dataset(name, data_dir, mirror=args.mirror)
        print(
            f"{'method':<10}{'dataset':<11}{'train n':>8}{'labels':>7}{'fit s':>9}{'predict s':>10}"
            f"{'s/epoch':>9}{'peak MB':>9}"
        )
        for method_id in ["baseline", *args.methods]:
            for name in args.datasets:
                queue = ctx.Queue()
                child = ctx.Process(
                    target=_measure, args=(method_id, name, data_dir, args.epochs, args.device, args.threads, queue)
                )
                child.start()
                row = queue.get()
                child.join()
                fmt = lambda key, spec: format(row[key], spec) if row.get(key) is not None else "-"
                print(
                    f"{method_id:<10}{name:<11}{fmt('n_train', 'd'):>8}{fmt('n_labels', 'd'):>7}"
                    f"{fmt('fit_s', '.2f'):>9}{fmt('predict_s', '.3f'):>10}"
                    f"{fmt('s_per_epoch', '.3f'):>9}{fmt('peak_mb', '.0f'):>9}"
                )


if __name__ == "__main__":
    main()
