"""Is a GRU of our own faster than ``nn.GRU`` for RBCC's chain? One process, A/B/A/B.

    OMP_NUM_THREADS=1 python benchmarks/rbcc_gru_ab.py --labels 983 --batch 128 --rounds 3

RBCC's GRU reads the same input at chain position t for every sample (a learned position
embedding; only the initial state depends on x), so its input gates W_ih e_t + b_ih could be
computed once per batch instead of once per sample: on delicious that is 20 % of the step's
FLOPs. "A" is ``nn.GRU`` on the embeddings broadcast over the batch, as ``rbcc`` runs it; "B" a
GRU with the input gates computed once and its recurrence and backward pass written out by
hand (:class:`SharedInputGRU`). The script checks that B's outputs and gradients equal A's to
float rounding, then times forward + backward, thread CPU seconds, alternating A and B.
``rbcc`` keeps ``nn.GRU`` as long as B is not faster (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


class SharedInputGRU(torch.autograd.Function):
    """The GRU recurrence of ``nn.GRU`` (gates r, z, n) over input gates ``gi`` (T, 3H) shared by
    the batch: h' = n + z (h - n), n = tanh(gi_n + r (W_hn h + b_hn)); output (B, T, H)."""

    @staticmethod
    def forward(ctx, gi, h0, w_hh, b_hh):
        n_batch, hidden = h0.shape
        out = h0.new_empty(gi.shape[0], n_batch, hidden)
        gates = h0.new_empty(gi.shape[0], n_batch, 3 * hidden)  # r, z, n after activation
        hidden_n = h0.new_empty(gi.shape[0], n_batch, hidden)  # W_hn h + b_hn
        h = h0
        for t in range(gi.shape[0]):
            gh = torch.addmm(b_hh, h, w_hh.t())
            g = gates[t]
            torch.add(gi[t, : 2 * hidden], gh[:, : 2 * hidden], out=g[:, : 2 * hidden]).sigmoid_()
            hidden_n[t] = gh[:, 2 * hidden :]
            n = torch.addcmul(gi[t, 2 * hidden :], g[:, :hidden], gh[:, 2 * hidden :], out=g[:, 2 * hidden :])
            n.tanh_()
            h = torch.sub(h, n, out=out[t]).mul_(g[:, hidden : 2 * hidden]).add_(n)
        ctx.save_for_backward(h0, w_hh, out, gates, hidden_n)
        return out.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_out):
        h0, w_hh, out, gates, hidden_n = ctx.saved_tensors
        hidden = h0.shape[1]
        grad_out = grad_out.transpose(0, 1)
        grad_gi = torch.empty_like(gates)
        grad_gh = torch.empty_like(gates)
        dh = torch.zeros_like(h0)
        for t in range(out.shape[0] - 1, -1, -1):
            dh = dh + grad_out[t]
            g = gates[t]
            r, z, n = g[:, :hidden], g[:, hidden : 2 * hidden], g[:, 2 * hidden :]
            h_prev = out[t - 1] if t > 0 else h0
            dn = dh * (1 - z) * (1 - n * n)
            dz = dh * (h_prev - n) * z * (1 - z)
            dr = dn * hidden_n[t] * r * (1 - r)
            grad_gi[t] = torch.cat([dr, dz, dn], dim=1)
            grad_gh[t] = torch.cat([dr, dz, dn * r], dim=1)
            dh = dh * z + grad_gh[t] @ w_hh
        states = torch.cat([h0.unsqueeze(0), out[:-1]])
        grad_w = grad_gh.reshape(-1, 3 * hidden).t() @ states.reshape(-1, hidden)
        return grad_gi.sum(1), dh, grad_w, grad_gh.sum((0, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=int, default=983, help="chain length (delicious: 983)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rnn-size", type=int, default=128)
    ap.add_argument("--position-dim", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2, help="forward + backward passes per block")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    gru = torch.nn.GRU(args.position_dim, args.rnn_size, batch_first=True)
    positions = torch.randn(args.labels, args.position_dim, requires_grad=True)
    h0 = torch.randn(1, args.batch, args.rnn_size, requires_grad=True)
    params = [h0, positions, gru.weight_ih_l0, gru.bias_ih_l0, gru.weight_hh_l0, gru.bias_hh_l0]

    def with_nn_gru():
        out, _ = gru(positions.unsqueeze(0).expand(args.batch, -1, -1).contiguous(), h0)
        return out

    def with_shared_input_gates():
        gi = torch.addmm(gru.bias_ih_l0, positions, gru.weight_ih_l0.t())
        return SharedInputGRU.apply(gi, h0[0], gru.weight_hh_l0, gru.bias_hh_l0)

    variants = {"A (nn.GRU)": with_nn_gru, "B (shared input gates)": with_shared_input_gates}
    grad = torch.randn(args.batch, args.labels, args.rnn_size)
    outputs = {name: f() for name, f in variants.items()}
    grads = {name: torch.autograd.grad(out, params, grad) for name, out in outputs.items()}
    out_a, out_b = outputs.values()
    worst = max(((a - b).abs().max() / a.abs().max()).item() for a, b in zip(*grads.values()))
    print(
        f"largest output difference {(out_a - out_b).abs().max().item():.1e}, largest relative gradient difference {worst:.1e}"
    )
    times: dict[str, list[float]] = {name: [] for name in variants}
    loads = []
    for _ in range(args.rounds):
        for name, f in variants.items():
            start = time.thread_time()
            for _ in range(args.repeats):
                torch.autograd.grad(f(), params, grad)
            times[name].append((time.thread_time() - start) / args.repeats)
        loads.append(os.getloadavg()[0])
    for name, values in times.items():
        print(
            f"{name}: forward + backward {statistics.median(values):.3f} CPU-s (all: {', '.join(f'{v:.3f}' for v in values)})"
        )
    print(f"1-minute load {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
