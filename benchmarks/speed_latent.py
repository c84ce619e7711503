"""Seconds per epoch and peak memory of C-GMVAE, MPVAE and C2AE on yeast, scene and delicious.

    python benchmarks/speed_latent.py                      # CPU (and CUDA when available)
    python benchmarks/speed_latent.py --device cpu --epochs 3 --datasets yeast scene
    python benchmarks/speed_latent.py --markdown benchmarks/reports/speed_latent.md

Each (method, dataset, device) is measured in a fresh subprocess, so the CPU peak resident set
size (``ru_maxrss``) belongs to that configuration alone; it includes the Python interpreter,
torch and the dataset (the baseline before building the model is reported too). On CUDA the
figure is ``torch.cuda.max_memory_allocated``. Hyperparameters are each method's per-dataset
paper settings (C-GMVAE Table 7, MPVAE official scripts). An epoch is one pass of training plus
the validation scoring that model selection needs; the first epoch (warm-up) is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIGS = [("cgmvae", ()), ("cgmvae", (("preset", "official"),)), ("mpvae", ()), ("c2ae", ())]


def measure_one(
    method: str, overrides: dict, dataset: str, device: str, epochs: int, data_dir: str, threads: int
) -> dict:
    import torch

    from mlbench.data import load_split
    from mlbench.methods import FitContext, create_method

    if threads:
        torch.set_num_threads(threads)
    data = load_split(dataset, seed=0, data_dir=data_dir)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    est = create_method(method, dataset, {**overrides, "epochs": epochs})
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    ctx = FitContext(seed=0, device=device, progress=False)
    start = time.perf_counter()
    est.fit(data.X_train, data.Y_train, data.X_val, data.Y_val, ctx)
    total = time.perf_counter() - start
    secs = [r["seconds"] for r in ctx.log][1:] or [ctx.log[0]["seconds"]]
    out = {
        "method": method,
        "overrides": overrides,
        "dataset": dataset,
        "device": device,
        "n_train": int(data.Y_train.shape[0]),
        "n_labels": int(data.Y_train.shape[1]),
        "batch_size": est.hparams["batch_size"],
        "epochs_timed": len(secs),
        "sec_per_epoch": sum(secs) / len(secs),
        "fit_seconds": total,
        "params": sum(p.numel() for p in est.module_.parameters()),
        "threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
    else:
        out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["baseline_rss_mb"] = base_rss
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="*", default=["yeast", "scene", "delicious"])
    ap.add_argument("--device", nargs="*", default=None, help="default: cpu, plus cuda if available")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per measurement (first not timed)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--data-dir", default=str(REPO / "data"))
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: JSON config of one measurement
    args = ap.parse_args(argv)

    if args.one:
        cfg = json.loads(args.one)
        print(json.dumps(measure_one(**cfg)))
        return

    devices = args.device
    if devices is None:
        import torch

        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    load_before = os.getloadavg()
    for device in devices:
        for dataset in args.datasets:
            for method, overrides in CONFIGS:
                cfg = {
                    "method": method,
                    "overrides": dict(overrides),
                    "dataset": dataset,
                    "device": device,
                    "epochs": args.epochs,
                    "data_dir": args.data_dir,
                    "threads": args.threads,
                }
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", json.dumps(cfg)],
                    capture_output=True,
                    text=True,
                    env=os.environ.copy(),
                )
                if proc.returncode != 0:
                    print(f"FAILED {cfg}: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                results.append(r)
                print(json.dumps(r), flush=True)

    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`python benchmarks/speed_latent.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
        f" on {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores; "
        f"1-minute load average {load_before[0]:.1f} before and {os.getloadavg()[0]:.1f} after "
        "(a load above the core count means the machine was shared and the CPU times are "
        "inflated accordingly).",
        "",
        "| method | dataset (n_train, L) | device | threads | batch | params | s/epoch | peak memory MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        name = r["method"] + (
            "" if not r["overrides"] else " (" + ",".join(f"{k}={v}" for k, v in r["overrides"].items()) + ")"
        )
        mem = f"{r['peak_mem_mb']:.0f}"
        if "baseline_rss_mb" in r:
            mem += f" (RSS; {r['baseline_rss_mb']:.0f} before the model)"
        lines.append(
            f"| {name} | {r['dataset']} ({r['n_train']}, {r['n_labels']}) | "
            f"{r.get('gpu', r['device'])} | {r['threads']} | {r['batch_size']} | "
            f"{r['params'] / 1e6:.2f} M | {r['sec_per_epoch']:.2f} | {mem} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
