"""MulCon speed and memory: seconds per epoch (per stage) and peak memory on yeast and delicious.

    python benchmarks/speed_mulcon.py [--datasets yeast delicious] [--configs full induced none]
                                      [--epochs 1] [--batch-size 128] [--dim 64]
                                      [--device cpu] [--threads 1] [--data-dir data]

MulCon keeps one d-dim embedding per label and sample, so a batch holds B x L x d activations
per layer (delicious, L = 983, d = 64, B = 128: 8M floats, 32 MB each), and its label
self-attention costs O(B L^2 d) time. This script measures what that means: each (dataset,
config) trains ``--epochs`` epochs of each stage (BCE, then BCE + LLCL) in a fresh child
process and reports

* s/epoch of each stage (training plus validation, from the training log); with
  ``--train-fraction f`` < 1 (non-yeast datasets) the training part is measured on a fraction f
  of the training split and scaled by 1/f, the validation part (timed separately) is not;
* peak resident memory of the child (ru_maxrss) and its increase over a baseline child that
  only imports torch/mlbench and loads the same split; on CUDA also max_memory_allocated.

``--configs`` are values of ``label_attention``: ``full`` (the default, paper Eq. 6), ``induced``
(ISAB with 32 inducing points) and ``none`` (no label self-attention). ``bce`` is added as the
reference MLP. Datasets must be cached: ``mlbench fetch delicious --mirror ... --data-dir ...``.
Timings depend on the machine and its load; report them with both.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time


def _child(dataset: str, config: str, args: dict, queue) -> None:
    import torch

    from mlbench.data import load_split
    from mlbench.methods import FitContext, create_method

    if args["threads"] > 0:
        torch.set_num_threads(args["threads"])
    frac = args["train_fraction"] if dataset != "yeast" else 1.0
    data = load_split(dataset, "iterative", 0, data_dir=args["data_dir"], train_fraction=frac)
    row = {"n_train": data.Y_train.shape[0], "n_labels": data.Y_train.shape[1]}
    if config == "baseline":
        queue.put({**row, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        return
    common = {"epochs": args["epochs"], "batch_size": args["batch_size"]}
    if config == "bce":
        method = create_method("bce", dataset, common)
    else:
        method = create_method(
            "mulcon",
            dataset,
            {
                **common,
                "finetune_epochs": args["epochs"],
                "label_attention": config,
                "dim": args["dim"],
            },
        )
    ctx = FitContext(seed=0, device=args["device"], progress=False)
    if args["device"].startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    method.fit(data.X_train, data.Y_train, data.X_val, data.Y_val, context=ctx)
    row["fit_s"] = time.perf_counter() - start
    start = time.perf_counter()
    method.predict_proba(data.X_test)
    row["predict_s"] = time.perf_counter() - start
    start = time.perf_counter()
    method.predict_proba(data.X_val)
    val_s = time.perf_counter() - start  # the validation part of every epoch
    for stage in ("train", "bce", "finetune"):
        seconds = [r["seconds"] for r in ctx.log if r["stage"] == stage]
        if seconds:
            # Training time scales with the fraction of the training split used, validation not.
            per_epoch = sum(seconds) / len(seconds)
            row["s_epoch_" + ("stage1" if stage != "finetune" else "stage2")] = (
                max(per_epoch - val_s, 0.0) / frac + val_s
            )
    row["fraction"] = frac
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args["device"].startswith("cuda"):
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    queue.put(row)


def _cell(value, spec: str) -> str:
    if value is None:
        return format("-", spec)
    if isinstance(value, float):
        digits = ".2g" if abs(value) < 1 else ".2f" if abs(value) < 100 else ".0f"
        return format(format(value, digits), spec)
    return format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["yeast", "delicious"])
    parser.add_argument("--configs", nargs="+", default=["full", "induced", "none"])
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each stage")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: default)")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="train on this fraction of the non-yeast training splits and scale "
        "the training part of s/epoch up to the full split (CPU budget)",
    )
    args = vars(parser.parse_args())

    ctx = mp.get_context("spawn")
    print(
        f"device {args['device']}, threads {args['threads']}, batch {args['batch_size']}, "
        f"d {args['dim']}, {args['epochs']} epoch(s) per stage"
    )
    columns = [
        ("dataset", "<10"),
        ("config", "<9"),
        ("frac", ">5"),
        ("train n", ">8"),
        ("L", ">5"),
        ("s/ep st1", ">9"),
        ("s/ep st2", ">9"),
        ("fit s", ">7"),
        ("pred s", ">7"),
        ("peak MB", ">8"),
        ("+MB", ">7"),
        ("BxLxd MB", ">9"),
    ]
    if args["device"].startswith("cuda"):
        columns.append(("cuda MB", ">8"))
    print("".join(format(name, spec) for name, spec in columns))
    for dataset in args["datasets"]:
        base = None
        for config in ["baseline", "bce", *args["configs"]]:
            queue = ctx.Queue()
            child = ctx.Process(target=_child, args=(dataset, config, args, queue))
            child.start()
            row = queue.get()
            child.join()
            if config == "baseline":
                base = row["peak_mb"]
            # One (B, L, d) float32 activation: the unit the label-level embeddings cost.
            unit = args["batch_size"] * row["n_labels"] * args["dim"] * 4 / 2**20
            cells = [
                dataset,
                config,
                row.get("fraction"),
                row["n_train"],
                row["n_labels"],
                row.get("s_epoch_stage1"),
                row.get("s_epoch_stage2"),
                row.get("fit_s"),
                row.get("predict_s"),
                row["peak_mb"],
                row["peak_mb"] - base,
                unit if config not in ("baseline", "bce") else None,
                row.get("cuda_peak_mb"),
            ]
            print("".join(_cell(v, spec) for v, (_, spec) in zip(cells, columns)), flush=True)


if __name__ == "__main__":
    main()
