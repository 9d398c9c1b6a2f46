"""The frame-mixing operators TAM and TSM as ordinary differentiable tensor ops.

Plain PyTorch on purpose: autograd, ``torch.compile``, AMP, channels_last, activation checkpointing,
DDP, ``torch.func`` and FX see nothing but padding, slicing, products and sums, and each call
makes new tensors (nothing a caller or autograd holds is written into). Both operators issue a
fixed number of operator calls whatever the batch, so on CUDA they cost a handful of kernel
launches per block; they add 0.4 % (TAM) and 0 % (TSM) MACs to TSN, and what is left is memory
traffic, which ``torch.compile`` fuses.

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


def temporal_aggregation(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``ReLU(w₋₁⊙x_{t−1} + w₀⊙x_t + w₊₁⊙x_{t+1})`` per clip, zero frames beyond the clip's ends;
    ``weight`` is ``(C, 3)``, columns for t−1, t, t+1 (the official code's three depthwise 1×1
    convolutions, summed in this order)."""
    taps = weight.view(weight.shape[0], 3, 1, 1)
    before, now, after = taps[:, 0], taps[:, 1], taps[:, 2]
    return torch.relu(clips * now + _earlier(clips) * before + _later(clips) * after)


def temporal_shift(clips: torch.Tensor, fold: int) -> torch.Tensor:
    """TSM's shift: channels ``[0, fold)`` of frame t take frame t+1's values, ``[fold, 2·fold)``
    frame t−1's, the rest stay; frames shifted in from beyond the clip are zeros. Pure copies: exact.

    ``split`` rather than three slices: its backward concatenates the three gradients into one new
    tensor, where each slice's backward would fill a zero tensor the size of the input."""
    ahead, behind, kept = clips.split([fold, fold, clips.shape[2] - 2 * fold], 2)
    return torch.cat([_later(ahead), _earlier(behind), kept], 2)
