"""The frame-mixing operators TAM and TSM as ordinary differentiable tensor ops.

Plain PyTorch on purpose: autograd, ``torch.compile``, AMP, channels_last, activation checkpointing,
DDP, ``torch.func`` and FX see nothing but slicing, products, sums and (TAM) a
``torch.autograd.Function`` whose backward is again such ops; each call makes new tensors (nothing
a caller or autograd holds is written into). Both operators issue a fixed number of operator calls
whatever the batch, so on CUDA they cost a handful of kernel launches per block; they add 0.4 %
(TAM) and 0 % (TSM) MACs to TSN, and what is left is memory traffic, which ``torch.compile`` fuses.

Tensors are clips ``(B, T, C, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _earlier(clips: torch.Tensor) -> torch.Tensor:
    """``x_{t−1}`` at every t, zeros at the first frame."""
    return F.pad(clips[:, :-1], (0, 0, 0, 0, 0, 0, 1, 0))


def _later(clips: torch.Tensor) -> torch.Tensor:
    """``x_{t+1}`` at every t, zeros at the last frame."""
    return F.pad(clips[:, 1:], (0, 0, 0, 0, 0, 0, 0, 1))


def _three_taps(clips: torch.Tensor, before: torch.Tensor, now: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """``before⊙x_{t−1} + now⊙x_t + after⊙x_{t+1}`` in three passes over a new tensor."""
    out = clips * now
    out[:, 1:].addcmul_(clips[:, :-1], before)
    out[:, :-1].addcmul_(clips[:, 1:], after)
    return out


def _channel_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ a⊙b`` per channel of clips ``(B, T, C, H, W)``."""
    return (a * b).sum((0, 1, 3, 4))


class _TemporalAggregation(torch.autograd.Function):
    """TAM with the backward written out: autograd's own backward of the three taps makes about
    twice the memory passes (the padded copies, a product tensor per weight gradient, the sum of
    three input gradients), and TAM is all memory traffic. Only new tensors are written; under
    ``torch.compile`` Dynamo traces both directions and Inductor fuses them."""

    generate_vmap_rule = True  # torch.func.vmap runs forward and backward on batched tensors

    @staticmethod
    def forward(clips, weight):
        taps = weight.view(weight.shape[0], 3, 1, 1)
        return _three_taps(clips, taps[:, 0], taps[:, 1], taps[:, 2]).relu_()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs, output)

    @staticmethod
    def backward(ctx, grad):
        clips, weight, out = ctx.saved_tensors
        grad = torch.ops.aten.threshold_backward(grad, out, 0)  # ReLU's own backward; where() is 15× slower on CPU
        grad_clips = grad_weight = None
        if ctx.needs_input_grad[0]:  # frame t's input reached t+1 through w₋₁ and t−1 through w₊₁
            taps = weight.view(weight.shape[0], 3, 1, 1)
            grad_clips = _three_taps(grad, taps[:, 2], taps[:, 1], taps[:, 0])
        if ctx.needs_input_grad[1]:
            grad_weight = torch.stack([_channel_dot(grad[:, 1:], clips[:, :-1]), _channel_dot(grad, clips),
                                       _channel_dot(grad[:, :-1], clips[:, 1:])], 1)
        return grad_clips, grad_weight


def temporal_aggregation(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``ReLU(w₋₁⊙x_{t−1} + w₀⊙x_t + w₊₁⊙x_{t+1})`` per clip, zero frames beyond the clip's ends;
    ``weight`` is ``(C, 3)``, columns for t−1, t, t+1 (the official code's three depthwise 1×1
    convolutions, summed in this order)."""
    return _TemporalAggregation.apply(clips, weight)


def temporal_shift(clips: torch.Tensor, fold: int) -> torch.Tensor:
    """TSM's shift: channels ``[0, fold)`` of frame t take frame t+1's values, ``[fold, 2·fold)``
    frame t−1's, the rest stay; frames shifted in from beyond the clip are zeros. Pure copies: exact.

    ``split`` rather than three slices: its backward concatenates the three gradients into one new
    tensor, where each slice's backward would fill a zero tensor the size of the input."""
    ahead, behind, kept = clips.split([fold, fold, clips.shape[2] - 2 * fold], 2)
    return torch.cat([_later(ahead), _earlier(behind), kept], 2)
