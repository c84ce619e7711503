"""Shared by the step-level A/B scripts (``cgmvae_fused_ab.py``, ``step_ab.py``,
``subnormal_ab.py``): their common options, a neural method made ready to take training steps
outside ``fit``, and one training step as ``NeuralMethod.train_epoch`` takes it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def ab_parser(doc: str | None, rounds: int) -> argparse.ArgumentParser:
    """--dataset, --rounds, --steps (per block) and --data-dir; scripts add their own."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="delicious")
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--steps", type=int, default=5, help="steps per block")
    ap.add_argument("--data-dir", default=os.environ.get("MLBENCH_DATA", str(REPO / "data")))
    return ap


def ready_to_step(est, data):
    """``est`` set up on ``data``'s training part (CPU, seed 0) with a freshly built module in
    training mode, as ``fit`` has it before its first epoch."""
    from mlbench.methods import FitContext

    est._setup(FitContext(seed=0, device="cpu", progress=False), data.X_train, data.Y_train, None, None)
    est.module_ = est.build_module(est.n_features_, est.n_labels_).train()
    return est


def train_step(est, optimizer, idx, loss_fn=None) -> float:
    """One optimisation step on the training rows ``idx``, the loss under the method's autocast
    (its ``precision``) as in ``train_epoch``; ``loss_fn`` defaults to the method's
    ``batch_loss``. Returns the loss."""
    X, Y = est.train_
    with est.autocast():
        loss, _ = (loss_fn or est.batch_loss)(est.module_, X[idx], Y[idx])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()
