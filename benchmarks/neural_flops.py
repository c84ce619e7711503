"""How close each neural method's training step is to this machine's matmul limit.

    python benchmarks/neural_flops.py                                 # every neural method, yeast scene delicious
    python benchmarks/neural_flops.py --methods cgmvae bce --datasets delicious --steps 20
    python benchmarks/neural_flops.py --device cuda --markdown docs/flops.md

For every (method, dataset) it prints seconds per training step and per epoch, the FLOPs of one
step (forward + backward, counted by ``torch.utils.flop_counter.FlopCounterMode``: matmuls,
convolutions and attention; elementwise work is not counted), the seconds those FLOPs take at
the matmul rate measured here (``--threads`` threads, float32), the ratio of the two (1.0 = the
step is pure matmul at full speed; issue 14 aims at <= 1.25 for C-GMVAE) and the peak memory.

How: each configuration runs ``fit`` in a fresh subprocess with every stage cut to two epochs
of ``--steps`` batches (the paper settings otherwise, per dataset). The first epoch of each
stage is counted with the FLOP counter, the second is timed; a full epoch's time is the step
time times the full number of batches (validation excluded). Peak memory: the subprocess's
``ru_maxrss`` on CPU (interpreter, torch and data included), ``torch.cuda.max_memory_allocated``
on CUDA.
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


def matmul_gflops(threads: int, device: str = "cpu", n: int = 1024, repeats: int = 5) -> float:
    """Best-of-``repeats`` float32 GFLOP/s of an (n x n) @ (n x n) product."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats + 1):  # the first is warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * n**3 / best / 1e9


def count_cpu_attention() -> None:
    """Teach the FLOP counter the CPU flash-attention kernels that ``scaled_dot_product_attention``
    dispatches to on CPU (torch counts only the CUDA ones; without this MulCon's and LaMP's label
    attention would count as zero). The formulas are torch's own SDPA counts."""
    import torch
    from torch.utils.flop_counter import register_flop_formula, sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    @register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu)
    def _forward(query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query, key, value)

    @register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu_backward)
    def _backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_backward_flop_count(grad_out, query, key, value)


def neural_method_ids() -> list[str]:
    """Registered neural methods that are not pinned variants of another (ablations, presets)."""
    from mlbench.methods import get_method_class, method_ids

    out = []
    for mid in method_ids():
        cls = get_method_class(mid)
        if getattr(cls, "is_neural", False) and not cls.fixed_params:
            out.append(mid)
    return out


def measure_one(method: str, dataset: str, device: str, steps: int, threads: int, data_dir: str) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mlbench.data import load_split
    from mlbench.methods import FitContext, create_method, get_method_class

    torch.set_num_threads(threads)
    if device == "cpu":
        count_cpu_attention()
    data = load_split(dataset, seed=0, data_dir=data_dir)
    cls = get_method_class(method)
    cut = {
        k: 2
        for k, v in cls.params.items()
        if k.endswith("epochs") and isinstance(v, int) and not isinstance(v, bool) and v > 0
    }
    est = create_method(method, dataset, {**cut, "early_stopping": 0})
    full_batches: list[int] = []
    epoch_batches = est.epoch_batches

    def limited_batches(n, bs):
        batches = list(epoch_batches(n, bs))
        full_batches.append(len(batches))
        return batches[:steps]

    calls: list[dict] = []
    train_epoch = est.train_epoch

    def measured_epoch(module, optimizer, loss_fn, batch_size):
        first_of_stage = len(calls) % 2 == 0
        n_steps = min(steps, full_batches[-1]) if full_batches else steps
        if first_of_stage:
            with FlopCounterMode(display=False) as counter:
                out = train_epoch(module, optimizer, loss_fn, batch_size)
            calls.append({"flops": counter.get_total_flops() / max(n_steps, 1)})
            return out
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = train_epoch(module, optimizer, loss_fn, batch_size)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        calls.append(
            {
                "seconds": (time.perf_counter() - start) / max(n_steps, 1),
                "batches": full_batches[-1],
                "batch_size": batch_size,
            }
        )
        return out

    est.epoch_batches = limited_batches
    est.train_epoch = measured_epoch
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    ctx = FitContext(seed=0, device=device, progress=False)
    est.fit(data.X_train, data.Y_train, data.X_val, data.Y_val, ctx)
    stage_names = list(dict.fromkeys(r["stage"] for r in ctx.log))
    stages = []
    for i in range(0, len(calls) - 1, 2):
        counted, timed = calls[i], calls[i + 1]
        name = stage_names[i // 2] if i // 2 < len(stage_names) else f"stage{i // 2}"
        stages.append(
            {
                "stage": name,
                "flops_per_step": counted["flops"],
                "sec_per_step": timed["seconds"],
                "batches": timed["batches"],
                "batch_size": timed["batch_size"],
                "sec_per_epoch": timed["seconds"] * timed["batches"],
            }
        )
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "method": method,
        "dataset": dataset,
        "device": device,
        "threads": threads,
        "n_train": int(data.Y_train.shape[0]),
        "n_labels": int(data.Y_train.shape[1]),
        "stages": stages,
        "peak_mb": peak,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="*", help="default: every neural method that is not a variant")
    ap.add_argument("--datasets", nargs="*", default=["yeast", "scene", "delicious"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=10, help="batches timed per configuration")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=os.environ.get("MLBENCH_DATA", str(REPO / "data")))
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: JSON config of one measurement
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(**json.loads(args.one))))
        return
    methods = args.methods or neural_method_ids()
    rate = matmul_gflops(args.threads, args.device)
    load_before = os.getloadavg()[0]
    header = (
        "| method | dataset (n_train, L) | stage | batch | s/step | s/epoch | GFLOP/step "
        "| s at matmul rate | ratio | peak MB |"
    )
    lines = [header, "|" + "---|" * 10]
    print(f"matmul rate: {rate:.1f} GFLOP/s ({args.threads} thread(s), {args.device}, float32)")
    print(header)
    for dataset in args.datasets:
        for method in methods:
            one = json.dumps(
                {
                    "method": method,
                    "dataset": dataset,
                    "device": args.device,
                    "steps": args.steps,
                    "threads": args.threads,
                    "data_dir": args.data_dir,
                }
            )
            proc = subprocess.run(
                [sys.executable, __file__, "--one", one],
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": str(args.threads)},
            )
            if proc.returncode != 0:
                line = f"| {method} | {dataset} | failed: {proc.stderr.strip().splitlines()[-1][:80]} |"
                print(line)
                lines.append(line)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            for st in r["stages"]:
                ideal = st["flops_per_step"] / (rate * 1e9)
                ratio = st["sec_per_step"] / ideal if ideal > 0 else float("nan")
                line = (
                    f"| {method} | {dataset} ({r['n_train']}, {r['n_labels']}) | {st['stage']} "
                    f"| {st['batch_size']} | {st['sec_per_step']:.4f} | {st['sec_per_epoch']:.2f} "
                    f"| {st['flops_per_step'] / 1e9:.3f} | {ideal:.4f} | {ratio:.2f} | {r['peak_mb']:.0f} |"
                )
                print(line, flush=True)
                lines.append(line)
    load_after = os.getloadavg()[0]
    note = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python "
        f"benchmarks/neural_flops.py {' '.join(argv if argv is not None else sys.argv[1:])}` on "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, matmul rate {rate:.1f} GFLOP/s; "
        f"1-minute load {load_before:.1f} before, {load_after:.1f} after (a load above the core "
        "count inflates the times)."
    )
    print(note)
    if args.markdown:
        args.markdown.write_text(note + "\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
