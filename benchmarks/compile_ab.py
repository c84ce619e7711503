"""Does ``torch.compile`` bring a neural method's CPU training step closer to its matmul limit?
Eager and compiled steps of the same method, alternating in one process.

    OMP_NUM_THREADS=1 python benchmarks/compile_ab.py --method cgmvae --dataset delicious --rounds 6 --steps 5

"A" is the training step as mlbench runs it (eager); "B" the same step with the forward pass
and the loss wrapped in ``torch.compile`` (TorchInductor: generated C++ for the CPU, the
backward compiled by AOTAutograd; the optimizer step stays eager and fused). Both start from the
same seed; the first compiled step, which includes the compilation, is reported on its own, then
blocks of ``--steps`` steps alternate A, B, A, B. Thread CPU seconds and wall seconds per step,
one thread (issue 14: the C-GMVAE delicious step against 1.25x its FLOPs' time).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_steps import ab_parser, ready_to_step, train_step  # noqa: E402


def main() -> None:
    ap = ab_parser(__doc__, rounds=6)
    ap.add_argument("--method", default="cgmvae")
    args = ap.parse_args()

    import torch

    from mlbench.data import load_split
    from mlbench.methods import create_method
    from mlbench.methods.neural import torch_cpu_mode

    torch.set_num_threads(1)
    data = load_split(args.dataset, seed=0, data_dir=args.data_dir)

    def build():
        torch.manual_seed(0)
        est = ready_to_step(create_method(args.method, args.dataset, {"epochs": 2, "early_stopping": 0}), data)
        return est, est.configure_optimizer(est.module_)

    def step(est, opt, loss_fn, idx):
        return train_step(est, opt, idx, loss_fn)

    with torch_cpu_mode(1):  # as fit runs: one thread, subnormals flushed
        eager_est, eager_opt = build()
        compiled_est, compiled_opt = build()
        variants = {
            "A": (eager_est, eager_opt, eager_est.batch_loss),
            "B": (compiled_est, compiled_opt, torch.compile(compiled_est.batch_loss)),
        }
        batches = list(eager_est.epoch_batches(eager_est.train_[0].shape[0], eager_est.hparams["batch_size"]))
        start = time.perf_counter()
        step(*variants["B"], batches[0])
        print(f"B: first step (compilation included) {time.perf_counter() - start:.1f} s")
        step(*variants["A"], batches[0])
        cpu = {"A": [], "B": []}
        wall = {"A": [], "B": []}
        losses = {"A": [], "B": []}
        at, loads = 1, []
        for _ in range(args.rounds):
            for name, (est, opt, loss_fn) in variants.items():
                c, w = time.thread_time(), time.perf_counter()
                for j in range(args.steps):
                    losses[name].append(step(est, opt, loss_fn, batches[(at + j) % len(batches)]))
                cpu[name].append((time.thread_time() - c) / args.steps)
                wall[name].append((time.perf_counter() - w) / args.steps)
            at += args.steps
            loads.append(os.getloadavg()[0])
    gap = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses["A"], losses["B"]))
    print(f"largest relative difference of the two runs' losses: {gap:.2e} (other kernels, other random draws)")
    for name, label in (("A", "eager"), ("B", "torch.compile")):
        print(
            f"{name} ({label}): CPU s/step median {statistics.median(cpu[name]):.4f} "
            f"(min {min(cpu[name]):.4f}), wall median {statistics.median(wall[name]):.4f}"
        )
    ratio = statistics.median(b / a for a, b in zip(cpu["A"], cpu["B"]))
    print(f"B/A CPU per-round median {ratio:.3f}; 1-minute load {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
