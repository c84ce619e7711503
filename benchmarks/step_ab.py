"""A neural method's CPU training step as mlbench runs it (eager, float32) against one variant
of it, alternating in one process.

    OMP_NUM_THREADS=1 python benchmarks/step_ab.py --variant compile --method cgmvae --dataset delicious
    OMP_NUM_THREADS=1 python benchmarks/step_ab.py --variant bf16 --method mulcon --dataset delicious --steps 2

"A" is the step as ``fit`` takes it. "B" is the same step with
  * ``--variant compile``: the forward pass and the loss wrapped in ``torch.compile``
    (TorchInductor: generated C++ for the CPU, the backward compiled by AOTAutograd; the
    optimizer step stays eager and fused);
  * ``--variant bf16``: the method with ``precision=bf16``, its forward passes under bfloat16
    autocast (what ``--set precision=bf16`` trains with; fast where the CPU has AVX512-BF16 or
    AMX).
Both start from the same seed; B's first step (for ``compile``, the compilation) is reported on
its own, then blocks of ``--steps`` steps alternate A, B, A, B. Thread CPU seconds and wall
seconds per step, one thread (issue 14: the C-GMVAE delicious step against 1.25x its FLOPs'
time, the MulCon delicious epoch against 120 s).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_steps import ab_parser, ready_to_step, train_step  # noqa: E402

VARIANTS = {"compile": "torch.compile", "bf16": "bf16 autocast"}


def main() -> None:
    ap = ab_parser(__doc__, rounds=6)
    ap.add_argument("--method", default="cgmvae")
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="compile")
    args = ap.parse_args()

    import torch

    from mlbench.data import load_split
    from mlbench.methods import create_method
    from mlbench.methods.neural import torch_cpu_mode

    torch.set_num_threads(1)
    data = load_split(args.dataset, seed=0, data_dir=args.data_dir)

    def build(params):
        torch.manual_seed(0)
        est = ready_to_step(
            create_method(args.method, args.dataset, {"epochs": 2, "early_stopping": 0, **params}), data
        )
        return est, est.configure_optimizer(est.module_)

    with torch_cpu_mode(1):  # as fit runs: one thread, subnormals flushed
        eager_est, eager_opt = build({})
        other_est, other_opt = build({"precision": "bf16"} if args.variant == "bf16" else {})
        other_loss = torch.compile(other_est.batch_loss) if args.variant == "compile" else other_est.batch_loss
        variants = {"A": (eager_est, eager_opt, eager_est.batch_loss), "B": (other_est, other_opt, other_loss)}
        batches = list(eager_est.epoch_batches(eager_est.train_[0].shape[0], eager_est.hparams["batch_size"]))
        start = time.perf_counter()
        train_step(other_est, other_opt, batches[0], other_loss)
        print(
            f"B: first step{' (compilation included)' if args.variant == 'compile' else ''} {time.perf_counter() - start:.1f} s"
        )
        train_step(eager_est, eager_opt, batches[0])
        cpu = {"A": [], "B": []}
        wall = {"A": [], "B": []}
        losses = {"A": [], "B": []}
        at, loads = 1, []
        for _ in range(args.rounds):
            for name, (est, opt, loss_fn) in variants.items():
                c, w = time.thread_time(), time.perf_counter()
                for j in range(args.steps):
                    losses[name].append(train_step(est, opt, batches[(at + j) % len(batches)], loss_fn))
                cpu[name].append((time.thread_time() - c) / args.steps)
                wall[name].append((time.perf_counter() - w) / args.steps)
            at += args.steps
            loads.append(os.getloadavg()[0])
    gap = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses["A"], losses["B"]))
    print(f"largest relative difference of the two runs' losses: {gap:.2e} (other arithmetic or random draws)")
    for name, label in (("A", "eager, float32"), ("B", VARIANTS[args.variant])):
        print(
            f"{name} ({label}): CPU s/step median {statistics.median(cpu[name]):.4f} "
            f"(min {min(cpu[name]):.4f}), wall median {statistics.median(wall[name]):.4f}"
        )
    ratio = statistics.median(b / a for a, b in zip(cpu["A"], cpu["B"]))
    print(f"B/A CPU per-round median {ratio:.3f}; 1-minute load {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
