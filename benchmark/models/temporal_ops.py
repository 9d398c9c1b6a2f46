"""Fast kernels of the frame-mixing operators TAM and TSM, with hand-written backward passes.

Why: TAM adds 0.4 % MACs to TSN yet the straightforward autograd graph (pad a zero frame at each
end, three weighted taps, two sums, ReLU) makes seven full-size tensors per call and as many in its
backward, and on the CPU a fresh large tensor costs a page fault per 4 KiB as well as the memory
passes. TAM here writes one output buffer by slices and in-place adds, puts its temporaries in a
scratch buffer kept between calls (:func:`_scratch`), saves only what its backward needs (the input
and the output, whose sign is the ReLU mask), and gets its weight gradient from one batched matrix
product per clip instead of three products and reductions. TSM fills an empty buffer by slices and
zeroes only the two boundary frames. The outputs and input gradients are the same sums in the same
order as the straightforward form (``tests/test_models_fast_ops.py`` keeps it as the reference; no
fused multiply-add: ``addcmul_`` rounds once, not twice), so they are bit-identical; TAM's weight
gradients are the same sums reduced in another order.

Tensors are clips ``(B, T, C, H, W)``.
"""

from __future__ import annotations

import threading

import torch

SCRATCH_LIMIT = 256 * 2**20  # bytes: larger temporaries are allocated afresh rather than kept
_SCRATCH = threading.local()


def _scratch(like: torch.Tensor, slot: int) -> torch.Tensor:
    """An uninitialised tensor shaped like ``like`` for temporaries that die within one call.

    On the CPU it is a buffer kept between calls (one per thread, ``slot`` and dtype; at most
    :data:`SCRATCH_LIMIT` bytes each, so TAM holds at most two of them): there, a fresh large tensor
    is a fresh mapping whose every page faults on first write. On CUDA the caching allocator already
    reuses memory, so it is a plain ``empty``.
    """
    numel = like.numel()
    if like.device.type != "cpu" or numel * like.element_size() > SCRATCH_LIMIT:
        return torch.empty(like.shape, dtype=like.dtype, device=like.device)
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    buffer = buffers.get((slot, like.dtype))
    if buffer is None or buffer.numel() < numel:
        buffer = buffers[(slot, like.dtype)] = torch.empty(numel, dtype=like.dtype)
    return buffer[:numel].view(like.shape)


def _taps(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(C, 3)`` weights -> three ``(C, 1, 1)`` taps for frames t−1, t, t+1."""
    w = weight.view(weight.shape[0], 3, 1, 1)
    return w[:, 0], w[:, 1], w[:, 2]


def _weight_grad(grad: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """``(C, 3)``: Σ ⟨g_t, x_{t−1}⟩, Σ ⟨g_t, x_t⟩, Σ ⟨g_t, x_{t+1}⟩ per channel.

    One product per clip gives every ⟨g_t, x_s⟩ as a (C, T, T) batch of matrices (T² dot products
    where three diagonals are needed, but at matrix-product speed and without a temporary the size
    of the input); the three sums are its sub-, main and super-diagonal.
    """
    batch, frames, channels = grad.shape[:3]
    g, x = grad.reshape(batch, frames, channels, -1), clips.reshape(batch, frames, channels, -1)
    products = torch.bmm(g[0].transpose(0, 1), x[0].permute(1, 2, 0))
    for b in range(1, batch):
        products += torch.bmm(g[b].transpose(0, 1), x[b].permute(1, 2, 0))
    return torch.stack([products.diagonal(offset, 1, 2).sum(-1) for offset in (-1, 0, 1)], 1)


class _TemporalAggregation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        before, now, after = _taps(weight)
        out = clips * now
        if clips.shape[1] > 1:
            tap = _scratch(clips, 0)[:, 1:]
            out[:, 1:] += torch.mul(clips[:, :-1], before, out=tap)  # w₀x_t + w₋₁x_{t−1}: frame 0 has no t−1
            out[:, :-1] += torch.mul(clips[:, 1:], after, out=tap)  # ... + w₊₁x_{t+1}: the last has no t+1
        out.relu_()
        ctx.save_for_backward(clips, weight, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        clips, weight, out = ctx.saved_tensors
        before, now, after = _taps(weight)
        # the ReLU's mask, as autograd's
        grad = torch.ops.aten.threshold_backward.grad_input(grad, out, 0, grad_input=_scratch(clips, 1))
        grad_clips = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_clips = grad * now
            if clips.shape[1] > 1:
                tap = _scratch(clips, 0)[:, 1:]
                grad_clips[:, 1:] += torch.mul(grad[:, :-1], after, out=tap)  # x_s fed output s−1 through w₊₁
                grad_clips[:, :-1] += torch.mul(grad[:, 1:], before, out=tap)  # ... and output s+1 through w₋₁
        if ctx.needs_input_grad[1]:
            grad_weight = _weight_grad(grad, clips)
        return grad_clips, grad_weight


def temporal_aggregation(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``ReLU(w₋₁⊙x_{t−1} + w₀⊙x_t + w₊₁⊙x_{t+1})`` per clip, zero frames beyond the clip's ends;
    ``weight`` is ``(C, 3)``, columns for t−1, t, t+1."""
    return _TemporalAggregation.apply(clips, weight)


def _shift(clips: torch.Tensor, fold: int, back: bool) -> torch.Tensor:
    """Channels ``[0, fold)`` of frame t from frame t+1 and ``[fold, 2·fold)`` from t−1 (``back``:
    the other way round, the shift's transpose); zeros where the source frame is beyond the clip."""
    out = torch.empty_like(clips)
    early, late = (slice(0, fold), slice(fold, 2 * fold)) if not back else (slice(fold, 2 * fold), slice(0, fold))
    out[:, :-1, early] = clips[:, 1:, early]
    out[:, -1, early] = 0
    out[:, 1:, late] = clips[:, :-1, late]
    out[:, 0, late] = 0
    out[:, :, 2 * fold:] = clips[:, :, 2 * fold:]
    return out


class _TemporalShift(torch.autograd.Function):
    @staticmethod
    def forward(ctx, clips: torch.Tensor, fold: int) -> torch.Tensor:
        ctx.fold = fold
        return _shift(clips, fold, back=False)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        return _shift(grad, ctx.fold, back=True), None


def temporal_shift(clips: torch.Tensor, fold: int) -> torch.Tensor:
    """TSM's shift: channels ``[0, fold)`` take frame t+1's values, ``[fold, 2·fold)`` frame t−1's,
    the rest stay; frames shifted in from beyond the clip are zeros. Pure copies: exact."""
    return _TemporalShift.apply(clips, fold)
