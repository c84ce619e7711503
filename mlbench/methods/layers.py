"""Building blocks shared by the neural methods."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Dropout(nn.Dropout):
    """Inverted dropout with its mask drawn by ``torch.rand_like`` (``mask = (u >= p) / (1 - p)``).

    Same distribution as ``nn.Dropout``, different random stream. Why not ``nn.Dropout``:
    its ``aten::bernoulli_`` was 12-23% of a C-GMVAE step on CPU; this mask was 2x faster on a
    (128, 2048) activation with its backward pass (single thread, 2-core machine, load ~1;
    ``benchmarks/speed_latent.py`` measures the effect on whole epochs). Deterministic under a
    seed like every other draw from torch's global generator.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return torch.zeros_like(x)
        return x * torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))


class _BiasReluDropout(torch.autograd.Function):
    """``Dropout(p)(relu(x + bias))`` with two of its four (L, E) intermediates done in place.

    Forward: the sum and the mask are the only new tensors; ReLU and the mask product run in
    place on the sum (autograd would keep the ReLU output and the product as separate tensors).
    Backward: the product with the mask (in the mask's buffer) and ReLU's threshold, in place.
    The mask is drawn by ``torch.rand_like`` on a tensor of the same shape as :class:`Dropout`
    draws it, so the random stream, the output and the gradients are those of the unfused
    modules.

    With ``share``, ``x`` is also returned (as a view) for the caller's other use of it, and
    that use's gradient is added in place to this one's: autograd would sum the two gradients
    of ``x`` into a third (L, E) tensor. (Addition commutes, so the sum has the same bits.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, bias: torch.Tensor, p: float, share: bool):
        out = x + bias
        mask = torch.rand_like(out).ge_(p).mul_(1.0 / (1.0 - p))
        out.relu_().mul_(mask)
        ctx.save_for_backward(out, mask)
        return (out, x.view_as(x)) if share else out

    @staticmethod
    def backward(ctx, grad: torch.Tensor, grad_shared: torch.Tensor | None = None):
        out, mask = ctx.saved_tensors
        # In the mask's buffer: nothing needs it after this pass (a fresh (L, E) product cost 2.1
        # ms a step against 0.6 ms in place, delicious). A second backward through the same graph
        # (retain_graph=True) is refused by autograd's check of the saved mask's version.
        grad_x = mask.mul_(grad)
        # ReLU's gradient, with out > 0 <=> (x + bias > 0 and kept): where only the ReLU would
        # zero it the mask already has (grad * 0).
        torch.ops.aten.threshold_backward.grad_input(grad_x, out, 0.0, grad_input=grad_x)
        grad_bias = grad_x.sum(0) if ctx.needs_input_grad[1] else None
        if grad_shared is not None:
            grad_x.add_(grad_shared)
        return grad_x, grad_bias, None, None


def bias_relu_dropout(x: torch.Tensor, bias: torch.Tensor, p: float, training: bool, share: bool = False):
    """``Dropout(p)(ReLU(x + bias))`` (``bias`` broadcast over the rows of a 2-d ``x``), the same
    values, gradients and random draws as the three modules, in fewer (L, E) passes: C-GMVAE's
    official label input is this on the (L, 2048) embedding matrix (delicious: 983 x 2048).

    ``share=True`` returns ``(output, x_again)``: use ``x_again`` in place of ``x`` elsewhere in
    the graph and its gradient is accumulated into ``x``'s without an extra (L, E) tensor.
    """
    if not training or p == 0.0 or p == 1.0 or x.dim() != 2 or not torch.is_grad_enabled():
        out = Dropout(p).train(training)(torch.relu(x + bias))
        return (out, x) if share else out
    return _BiasReluDropout.apply(x, bias, p, share)


class _L2Normalize(torch.autograd.Function):
    """``F.normalize(x, dim=-1)`` with autograd's own backward formulas, evaluated in 6 passes
    over ``x`` instead of 11 (3 fresh tensors instead of 8).

    torch's backward of ``x / d`` (``d = max(||x||, eps)``, broadcast) recomputes ``x / d`` (it is
    the output ``y``) and negates the incoming gradient as a separate pass; its norm branch
    recomputes ``x / ||x||``, which is ``y`` wherever the clamp lets a gradient through (elsewhere
    it is multiplied by 0). Negation commutes exactly with products, quotients and sums, so
    the gradient below has the same bits as torch's.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, eps: float) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, 2, -1, keepdim=True)
        denom = norm.clamp_min(eps)
        y = x / denom
        ctx.save_for_backward(y, norm, denom)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        y, norm, denom = ctx.saved_tensors
        t = (y / denom).mul_(grad)
        grad_denom = -t.sum(-1, keepdim=True)  # torch: sum(-grad * ((x / d) / d))
        grad_x = grad / denom
        grad_norm = torch.where(norm >= ctx.eps, grad_denom, 0.0)  # clamp_min's backward
        return grad_x.add_(torch.mul(y, grad_norm, out=t)), None


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``F.normalize(x, p=2, dim=-1, eps=eps)``: the same values and gradients in fewer passes
    (C-GMVAE's decoder output, (3 * 128, 2048) a step on delicious)."""
    if not torch.is_grad_enabled() or not x.requires_grad:
        return F.normalize(x, dim=-1, eps=eps)
    return _L2Normalize.apply(x, eps)
