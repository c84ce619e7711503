"""Seconds per epoch and peak memory of MulSupCon / MulSupConLD pretraining and fine-tuning.

    python benchmarks/speed_contrastive.py [--methods mulsupcon mulsupconld-cld]
        [--datasets yeast delicious] [--epochs 3] [--device cpu|cuda] [--threads 1]
        [--preset paper] [--report benchmarks/reports/speed_contrastive.md]

Each (method, dataset) runs in a fresh child process. Per stage it reports the mean seconds per
epoch (the first epoch excluded when there are more than one: warm-up), milliseconds per
iteration, and peak memory: on CPU the peak resident set size sampled every 2 ms while the stage
runs (/proc/self/statm; the "over baseline" column subtracts the RSS of the child after it loaded
the data, i.e. torch + data), on CUDA ``torch.cuda.max_memory_allocated`` during the stage.
Paper preset: one epoch = one pass over the training part (batch 32 for yeast, 256 for
delicious); the official preset's epoch is 1000 iterations of 64, so its time per epoch is
1000 x the ms/iteration column at batch 64. Split: official, seed 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import shlex
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPORT = ROOT / "benchmarks" / "reports" / "speed_contrastive.md"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measure(method_id, dataset, data_dir, epochs, device, threads, preset, queue) -> None:
    import torch

    from mlbench.data import load_split
    from mlbench.methods import FitContext, create_method

    if threads:
        torch.set_num_threads(threads)
    data = load_split(dataset, "official", 0, data_dir=data_dir)
    est = create_method(method_id, dataset, {"pretrain_epochs": epochs, "epochs": epochs, "preset": preset})
    cuda = device.startswith("cuda")
    baseline = _rss_mb()
    peaks: dict[str, float] = {}
    current = {"stage": None}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            stage = current["stage"]
            if stage is not None:
                peaks[stage] = max(peaks.get(stage, 0.0), _rss_mb())
            time.sleep(0.002)

    original = est.run_stage

    def run_stage(name, module, **kwargs):
        current["stage"] = name
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        try:
            return original(name, module, **kwargs)
        finally:
            if cuda:
                torch.cuda.synchronize()
                peaks[name] = torch.cuda.max_memory_allocated() / 2**20
            current["stage"] = None

    est.run_stage = run_stage
    sampler = threading.Thread(target=sample, daemon=True)
    if not cuda:
        sampler.start()
    ctx = FitContext(seed=0, device=device, progress=False)
    start = time.perf_counter()
    est.fit(data.X_train, data.Y_train, data.X_val, data.Y_val, context=ctx)
    fit_s = time.perf_counter() - start
    stop.set()
    hp = est.hparams
    n = data.Y_train.shape[0]
    rows = []
    for stage, bs, iters in (
        ("pretrain", hp["pretrain_batch_size"], hp["pretrain_iters"]),
        ("finetune", hp["batch_size"], hp["finetune_iters"]),
    ):
        secs = [r["seconds"] for r in ctx.log if r["stage"] == stage]
        steady = secs[1:] if len(secs) > 1 else secs
        per_epoch = sum(steady) / len(steady)
        n_iters = iters or (n // bs if stage == "pretrain" and n >= bs else -(-n // bs))
        rows.append(
            {
                "method": method_id,
                "dataset": dataset,
                "stage": stage,
                "n_train": n,
                "n_labels": data.Y_train.shape[1],
                "batch": bs,
                "iters": n_iters,
                "s_per_epoch": per_epoch,
                "ms_per_iter": 1000 * per_epoch / n_iters,
                "peak_mb": peaks.get(stage),
                "baseline_mb": None if cuda else baseline,
            }
        )
    queue.put({"rows": rows, "fit_s": fit_s})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["mulsupcon", "mulsupconld-cld"])
    parser.add_argument("--datasets", nargs="+", default=["yeast", "delicious"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = default)")
    parser.add_argument("--preset", default="paper", choices=["paper", "official"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--report", type=Path, default=None, help="default benchmarks/reports/speed_contrastive[-cuda].md"
    )
    args = parser.parse_args()
    if args.report is None:
        suffix = "-cuda" if args.device.startswith("cuda") else ""
        args.report = DEFAULT_REPORT.with_name(f"speed_contrastive{suffix}.md")
    command = "python " + shlex.join(["benchmarks/speed_contrastive.py", *sys.argv[1:]])

    import torch

    from mlbench.runs.runner import versions

    device_name = (
        torch.cuda.get_device_name(0)
        if args.device.startswith("cuda")
        else f"CPU ({os.cpu_count()} cores visible, {args.threads or 'default'} torch thread(s))"
    )
    ctx = mp.get_context("spawn")
    rows = []
    for method_id in args.methods:
        for name in args.datasets:
            queue = ctx.Queue()
            child = ctx.Process(
                target=_measure,
                args=(method_id, name, args.data_dir, args.epochs, args.device, args.threads, args.preset, queue),
            )
            child.start()
            result = queue.get()
            child.join()
            rows += result["rows"]
            for r in result["rows"]:
                print(r, flush=True)

    mem_head = "peak GPU MB" if args.device.startswith("cuda") else "peak RSS MB | over baseline MB"
    lines = [
        "# Speed and memory: MulSupCon / MulSupConLD\n",
        f"Command: `{command}`  ",
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}; device: {device_name}; "
        + ", ".join(f"{k} {v}" for k, v in versions().items())
        + "  ",
        f"Preset `{args.preset}`, {args.epochs} epochs per stage (mean over epochs 2..n). "
        "Measured on a shared, loaded 2-core machine: absolute times are pessimistic and noisy.\n",
        f"| method | dataset | stage | train n | labels | batch | iters/epoch | s/epoch | ms/iter | {mem_head} |",
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if not args.device.startswith("cuda") else ""),
    ]
    for r in rows:
        mem = (
            f"{r['peak_mb']:.0f}"
            if r["baseline_mb"] is None
            else f"{r['peak_mb']:.0f} | {r['peak_mb'] - r['baseline_mb']:.0f}"
        )
        lines.append(
            f"| {r['method']} | {r['dataset']} | {r['stage']} | {r['n_train']} | "
            f"{r['n_labels']} | {r['batch']} | {r['iters']} | {r['s_per_epoch']:.2f} | "
            f"{r['ms_per_iter']:.1f} | {mem} |"
        )
    lines += [
        "",
        "* s/epoch: wall seconds of one epoch, fine-tuning including its validation pass; no run "
        "directory, so no checkpoint writes. Split `official` (Mulan train/test, validation 10% "
        "of all rows), seed 0.",
        "* The `official` preset's epoch is 1000 iterations (batch 64): about 1000 x the "
        "pretraining ms/iter of a batch-64 step, i.e. 150 such epochs cost ~150k steps.",
        "* CPU memory is the process's resident set: the allocator keeps freed pages, so the "
        "fine-tuning peak includes what pretraining left behind (it is an upper bound).",
    ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"report: {args.report}")


if __name__ == "__main__":
    main()
