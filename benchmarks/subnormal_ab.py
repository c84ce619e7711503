"""Training steps of a trained C-GMVAE with and without subnormal floats flushed to zero, in one
process; and the seconds per epoch over runs' training logs.

    OMP_NUM_THREADS=1 python benchmarks/subnormal_ab.py --rounds 6 --steps 5
    python benchmarks/subnormal_ab.py --logs-only RUN_DIR ...      # epoch seconds from train_log.csv
    OMP_NUM_THREADS=1 python benchmarks/subnormal_ab.py --same-scores yeast   # flush on/off, same scores?

Why: weights and Adam moments of units whose gradient stays (nearly) zero, such as the label
encoder's inputs for labels absent from a batch, decay geometrically under weight decay into the
subnormal range (below 1.2e-38), where x86 float arithmetic on them is many times slower. The
model of a 100-epoch C-GMVAE delicious run has 4.5% subnormal weights in its label encoder's first
layer; its epochs grew from 16 s to 39 s while the machine's load stayed at 2. Since 0.2.0 every
neural ``fit``/``predict_proba`` flushes them (``torch_cpu_mode`` in mlbench/methods/neural.py).

How: the model is loaded from ``--model`` (a ``model.pt`` mlbench wrote: its own format, loaded
with ``weights_only``) and trained further on the same split (delicious, iterative, seed 0) with
a fresh Adam, as its run did. Each block restores the loaded weights and a fresh optimizer, then
times ``--steps`` steps; blocks alternate flush off ("A") and on ("B"), one thread, so both see
the same load. The fraction of subnormal weights is printed at load and after an "A" block.
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_steps import REPO, ab_parser, ready_to_step, train_step  # noqa: E402

DEFAULT_RUN = REPO / "docs/reports/runs/delicious/cgmvae/preset=official/iterative-seed0"
MAKE_DEFAULT_RUN = "mlbench reproduce --experiment cgmvae --groups main --methods cgmvae --datasets delicious --seeds 0"


def subnormal_counts(module) -> dict[str, tuple[int, int]]:
    """(subnormal entries, entries) of each weight matrix."""
    import torch

    tiny = torch.finfo(torch.float32).tiny
    return {
        name: (int(((w != 0) & (w.abs() < tiny)).sum()), w.numel())
        for name, w in module.named_parameters()
        if w.dim() > 1
    }


def subnormal_share(module) -> float:
    counts = subnormal_counts(module).values()
    return sum(n for n, _ in counts) / sum(total for _, total in counts)


def epoch_seconds(run_dir: Path) -> list[float]:
    with open(run_dir / "train_log.csv", newline="") as f:
        return [float(row["seconds"]) for row in csv.DictReader(f)]


def print_logs(run_dirs: list[Path]) -> None:
    for run_dir in run_dirs:
        seconds = epoch_seconds(run_dir)
        marks = [i for i in (0, 9, 24, 49, 74, 99) if i < len(seconds)]
        shown = ", ".join(f"{i + 1}: {seconds[i]:.1f}" for i in marks)
        print(f"{run_dir}: {len(seconds)} epochs, seconds at epoch {shown}; total {sum(seconds) / 60:.1f} min")


def same_scores(dataset: str, data_dir: str) -> None:
    """Short bce, cgmvae and c2ae fits with the flush and with it disabled: sha256 of the test
    scores. Identical unless some value went subnormal in the run."""
    import hashlib

    import torch

    from mlbench.data import load_split
    from mlbench.methods import FitContext, create_method

    torch.set_num_threads(1)
    split = load_split(dataset, seed=0, data_dir=data_dir)
    setter = torch.set_flush_denormal
    for method, overrides in (("bce", {}), ("cgmvae", {"epochs": 15}), ("c2ae", {"epochs": 15})):
        digests = []
        for flush in (True, False):
            torch.set_flush_denormal = setter if flush else (lambda mode: False)
            try:
                est = create_method(method, dataset, overrides)
                est.fit(split.X_train, split.Y_train, split.X_val, split.Y_val, FitContext(progress=False))
                digests.append(hashlib.sha256(est.predict_proba(split.X_test).tobytes()).hexdigest()[:16])
            finally:
                torch.set_flush_denormal = setter
        print(
            f"{method} {dataset} {overrides or ''}: flush {digests[0]}, no flush {digests[1]}, identical: {digests[0] == digests[1]}"
        )


def main() -> None:
    ap = ab_parser(__doc__, rounds=6)
    ap.add_argument("--model", type=Path, default=DEFAULT_RUN / "model.pt")
    ap.add_argument("--logs-only", nargs="+", type=Path, metavar="RUN_DIR", help="only print epoch seconds")
    ap.add_argument("--same-scores", metavar="DATASET", help="only compare scores with and without the flush")
    args = ap.parse_args()
    if args.same_scores:
        same_scores(args.same_scores, args.data_dir)
        return
    if args.logs_only:
        print_logs(args.logs_only)
        return
    if not args.model.is_file():
        sys.exit(f"no trained model at {args.model}: train one with `{MAKE_DEFAULT_RUN}` or pass --model.")

    import torch

    from mlbench.data import load_split
    from mlbench.methods import get_method_class
    from mlbench.methods.neural import flushing_subnormals

    torch.set_num_threads(1)
    trained = get_method_class("cgmvae").load(args.model)
    weights = {k: v.clone() for k, v in trained.module_.state_dict().items()}
    data = load_split(args.dataset, seed=0, data_dir=args.data_dir)
    est = ready_to_step(trained.__class__(**trained.get_params()), data)
    print(f"{args.model}: {subnormal_share(trained.module_):.2%} of the weights subnormal")
    for name, (n_sub, total) in subnormal_counts(trained.module_).items():
        if n_sub:
            print(f"  {name}: {n_sub / total:.2%} of {total}")
    batches = list(est.epoch_batches(est.train_[0].shape[0], est.hparams["batch_size"]))

    def block(flush: bool, at: int) -> tuple[float, float]:
        est.module_.load_state_dict(weights)
        opt = est.configure_optimizer(est.module_)
        torch.set_flush_denormal(flush)
        assert flushing_subnormals() == flush
        cpu, wall = time.thread_time(), time.perf_counter()
        for j in range(args.steps):
            train_step(est, opt, batches[(at + j) % len(batches)])
        return (time.thread_time() - cpu) / args.steps, (time.perf_counter() - wall) / args.steps

    times = {"A": [], "B": []}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for name, flush in (("A", False), ("B", True)):
            times[name].append(block(flush, r * args.steps))
        if r == 0:
            torch.set_flush_denormal(False)
            print(f"after an A block: {subnormal_share(est.module_):.2%} of the weights subnormal (B: 0 by design)")
        loads.append(os.getloadavg()[0])
    torch.set_flush_denormal(False)
    for name, label in (("A", "subnormals kept"), ("B", "flushed to zero")):
        cpu = [c for c, _ in times[name]]
        wall = [w for _, w in times[name]]
        print(
            f"{name} ({label}): CPU s/step median {statistics.median(cpu):.4f}, wall median {statistics.median(wall):.4f}"
        )
    ratio = statistics.median(a[0] / b[0] for a, b in zip(times["A"], times["B"]))
    print(f"A/B CPU per-round median {ratio:.2f}; 1-minute load {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
