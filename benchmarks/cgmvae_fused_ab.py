"""C-GMVAE training steps with the fused label-input, normalise and masked-logsumexp functions
against the plain torch expressions they replace, in one process.

    OMP_NUM_THREADS=1 python benchmarks/cgmvae_fused_ab.py --dataset delicious --rounds 20 --steps 5

"A" restores the unfused code (``relu(label_emb + bias)`` through the ReLU and Dropout modules,
``F.normalize``, ``torch.logsumexp`` of the filled tensor) by patching CGMVAENet for its blocks;
"B" is the code as it is. Two models start from the same seed and the same batches; the first
three steps check that A and B give the same losses bit for bit, then blocks of ``--steps`` steps
alternate A, B, A, B. Both variants share the process, its load and its caches, so the per-round
ratio B/A is steadier than separate runs on a busy machine. Times are thread CPU seconds and wall
seconds per step; one thread.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_steps import ab_parser, ready_to_step, train_step  # noqa: E402


def main() -> None:
    args = ab_parser(__doc__, rounds=20).parse_args()

    import torch
    import torch.nn.functional as F

    from mlbench.data import load_split
    from mlbench.methods import create_method, latent
    from mlbench.methods.losses import latent as losses

    torch.set_num_threads(1)
    data = load_split(args.dataset, seed=0, data_dir=args.data_dir)

    def build():
        est = ready_to_step(create_method("cgmvae", args.dataset, {"epochs": 2, "early_stopping": 0}), data)
        return est, est.configure_optimizer(est.module_)

    def step(est, opt, idx):
        return train_step(est, opt, idx)

    def encode_plain(self, e, share=False):
        h = self.fe(e if self.label_bias is None else e + self.label_bias)
        mu, logvar = self.fe_mu(h), self.fe_logvar(h)
        return (mu, logvar, self.label_emb) if share else (mu, logvar)

    def decode_plain(self, z, x):
        return F.normalize(self.fd(torch.cat([x, z], dim=-1) if self.decode_x else z), dim=-1)

    class LogsumexpPlain:
        @staticmethod
        def apply(values, keep):
            return torch.logsumexp(losses._masked_fill_min(values, keep), dim=-1)

    net_cls = latent.CGMVAENet
    fused = (net_cls._encode_label_input, net_cls.decode, losses._MaskedLogsumexp)

    @contextlib.contextmanager
    def plain():
        net_cls._encode_label_input, net_cls.decode, losses._MaskedLogsumexp = (
            encode_plain,
            decode_plain,
            LogsumexpPlain,
        )
        try:
            yield
        finally:
            net_cls._encode_label_input, net_cls.decode, losses._MaskedLogsumexp = fused

    variants = {"A": (*build(), plain), "B": (*build(), contextlib.nullcontext)}
    batches = list(variants["A"][0].epoch_batches(variants["A"][0].train_[0].shape[0], 128))
    first = {}
    for name, (est, opt, ctx) in variants.items():
        torch.manual_seed(0)
        with ctx():
            first[name] = [step(est, opt, batches[i]) for i in range(3)]
    print(f"A and B losses over the first 3 steps identical: {first['A'] == first['B']}")
    cpu = {"A": [], "B": []}
    wall = {"A": [], "B": []}
    at = 3
    loads = []
    for _ in range(args.rounds):
        for name, (est, opt, ctx) in variants.items():
            with ctx():
                c, w = time.thread_time(), time.perf_counter()
                for j in range(args.steps):
                    step(est, opt, batches[(at + j) % len(batches)])
                cpu[name].append((time.thread_time() - c) / args.steps)
                wall[name].append((time.perf_counter() - w) / args.steps)
        at += args.steps
        loads.append(os.getloadavg()[0])
    ratio = statistics.median(b / a for a, b in zip(cpu["A"], cpu["B"]))
    for name in ("A", "B"):
        print(
            f"{name}: CPU s/step median {statistics.median(cpu[name]):.4f} (min {min(cpu[name]):.4f}), "
            f"wall median {statistics.median(wall[name]):.4f} (min {min(wall[name]):.4f})"
        )
    print(f"B/A CPU per-round median {ratio:.3f}; 1-minute load {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
