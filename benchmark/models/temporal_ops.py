"""Kernels of the frame-mixing operators TAM and TSM, with hand-written backward passes.

Two paths with the same results. On the CPU, for contiguous clips (TAM: float32 or float64), the
one-pass C kernels of :mod:`benchmark.models.cpu_kernels` (built on first use; the eager path where they
cannot be). Under ``torch.compile``, TAM is plain differentiable ops for it to trace and fuse
(:func:`_traceable_aggregation`). Elsewhere (CUDA, channels_last, other dtypes) the eager kernels
below: TAM adds 0.4 % MACs to TSN yet the straightforward autograd graph (pad a zero frame at each
end, three weighted taps, two sums, ReLU) makes seven full-size tensors per call and as many in its
backward, and on the CPU a fresh large tensor costs a page fault per 4 KiB as well as the memory
passes. The eager TAM writes one output buffer by slices and in-place adds, puts its temporaries in
a scratch buffer kept between calls (:func:`_scratch`), saves only what its backward needs (the
input and the output, whose sign is the ReLU mask), and gets its weight gradient from one batched
matrix product per clip instead of three products and reductions. TSM fills an empty buffer by
slices and zeroes only the two boundary frames; where its output feeds only a convolution, its
backward shifts the incoming gradient in place. The outputs and input gradients of both paths are
the same sums in the same order as the straightforward form (``tests/test_models_fast_ops.py``
keeps it as the reference; no fused multiply-add: ``addcmul_`` rounds once, not twice), so they are
bit-identical; TAM's weight gradients are the same sums reduced in another order.

Tensors are clips ``(B, T, C, H, W)``.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from benchmark.models import cpu_kernels

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
        ctx.fused = cpu_kernels.usable(clips, weight)
        out = cpu_kernels.tam_forward(clips, weight) if ctx.fused else _eager_forward(clips, weight)
        ctx.save_for_backward(clips, weight, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        clips, weight, out = ctx.saved_tensors
        if not ctx.fused:
            return _eager_backward(ctx.needs_input_grad, grad, clips, weight, out)
        grad_clips, grad_weight = cpu_kernels.tam_backward(grad, clips, weight, out, ctx.needs_input_grad[0])
        return grad_clips, grad_weight if ctx.needs_input_grad[1] else None


def _eager_forward(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    before, now, after = _taps(weight)
    out = clips * now
    if clips.shape[1] > 1:
        tap = _scratch(clips, 0)[:, 1:]
        out[:, 1:] += torch.mul(clips[:, :-1], before, out=tap)  # w₀x_t + w₋₁x_{t−1}: frame 0 has no t−1
        out[:, :-1] += torch.mul(clips[:, 1:], after, out=tap)  # ... + w₊₁x_{t+1}: the last has no t+1
    return out.relu_()


def _eager_backward(needs_input_grad, grad: torch.Tensor, clips: torch.Tensor, weight: torch.Tensor,
                    out: torch.Tensor):
    before, now, after = _taps(weight)
    # the ReLU's mask, as autograd's
    grad = torch.ops.aten.threshold_backward.grad_input(grad, out, 0, grad_input=_scratch(clips, 1))
    grad_clips = grad_weight = None
    if needs_input_grad[0]:
        grad_clips = grad * now
        if clips.shape[1] > 1:
            tap = _scratch(clips, 0)[:, 1:]
            grad_clips[:, 1:] += torch.mul(grad[:, :-1], after, out=tap)  # x_s fed output s−1 through w₊₁
            grad_clips[:, :-1] += torch.mul(grad[:, 1:], before, out=tap)  # ... and output s+1 through w₋₁
    if needs_input_grad[1]:
        grad_weight = _weight_grad(grad, clips)
    return grad_clips, grad_weight


def temporal_aggregation(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``ReLU(w₋₁⊙x_{t−1} + w₀⊙x_t + w₊₁⊙x_{t+1})`` per clip, zero frames beyond the clip's ends;
    ``weight`` is ``(C, 3)``, columns for t−1, t, t+1."""
    if torch.compiler.is_compiling():
        return _traceable_aggregation(clips, weight)
    return _TemporalAggregation.apply(clips, weight)


def _traceable_aggregation(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The same sums as plain differentiable ops, for ``torch.compile`` to trace, differentiate and
    fuse into its own kernels (the kernels above write into kept scratch buffers, which a traced
    graph cannot)."""
    before, now, after = _taps(weight)
    earlier = F.pad(clips[:, :-1], (0, 0, 0, 0, 0, 0, 1, 0))  # x_{t−1}, zero at t = 0
    later = F.pad(clips[:, 1:], (0, 0, 0, 0, 0, 0, 0, 1))  # x_{t+1}, zero at the last frame
    return torch.relu((clips * now + earlier * before) + later * after)


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


def _shift_in_place(clips: torch.Tensor, fold: int, back: bool) -> torch.Tensor:
    """``_shift(clips, fold, back)`` written into ``clips`` itself: only the 2·fold shifted channels
    move (the C kernel row by row; else through a scratch copy, as source and target overlap)."""
    if cpu_kernels.usable(clips):
        return cpu_kernels.tsm_shift_in_place(clips, fold, back)
    up, down = (slice(fold, 2 * fold), slice(0, fold)) if back else (slice(0, fold), slice(fold, 2 * fold))
    for moved, source, target, emptied in ((up, slice(1, None), slice(None, -1), -1),
                                           (down, slice(None, -1), slice(1, None), 0)):
        part = clips[:, source, moved]
        clips[:, target, moved] = _scratch(part, 2).copy_(part)
        clips[:, emptied, moved] = 0
    return clips


class _TemporalShift(torch.autograd.Function):
    @staticmethod
    def forward(ctx, clips: torch.Tensor, fold: int, grad_in_place: bool) -> torch.Tensor:
        ctx.fold, ctx.grad_in_place = fold, grad_in_place
        return cpu_kernels.tsm_shift(clips, fold, False) if cpu_kernels.usable(clips) else _shift(clips, fold, False)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        if ctx.grad_in_place and grad.is_contiguous():
            return _shift_in_place(grad, ctx.fold, back=True), None, None
        fused = cpu_kernels.usable(grad)
        return cpu_kernels.tsm_shift(grad, ctx.fold, True) if fused else _shift(grad, ctx.fold, True), None, None


def temporal_shift(clips: torch.Tensor, fold: int, grad_in_place: bool = False) -> torch.Tensor:
    """TSM's shift: channels ``[0, fold)`` take frame t+1's values, ``[fold, 2·fold)`` frame t−1's,
    the rest stay; frames shifted in from beyond the clip are zeros. Pure copies: exact.

    ``grad_in_place``: the backward shifts the incoming gradient in place (a quarter of the
    channels move, no new tensor) instead of into a copy. Only safe when that gradient is nobody
    else's, i.e. the output feeds a single layer that makes a fresh input gradient (a convolution):
    an output also used elsewhere (``shift(x) + y``) hands both uses the same gradient tensor."""
    return _TemporalShift.apply(clips, fold, grad_in_place)


@contextmanager
def _shifted_in_place(clips: torch.Tensor, fold: int):
    """``clips`` holds its TSM-shifted values inside the block and its own values again after it.

    The shift loses one frame per shifted channel group (frame 0 of channels ``[0, fold)``, the
    last frame of ``[fold, 2·fold)``); those are kept aside and put back after the transpose."""
    if cpu_kernels.usable(clips):
        kept = clips.new_empty((clips.shape[0], 2, fold, *clips.shape[3:]))
        cpu_kernels.tsm_shift_keeping(clips, kept, fold, restore=False)
        try:
            yield clips
        finally:
            cpu_kernels.tsm_shift_keeping(clips, kept, fold, restore=True)
        return
    lost = clips[:, 0, :fold].clone(), clips[:, -1, fold:2 * fold].clone()
    _shift_in_place(clips, fold, back=False)
    try:
        yield clips
    finally:
        _shift_in_place(clips, fold, back=True)
        clips[:, 0, :fold], clips[:, -1, fold:2 * fold] = lost


class _ShiftedConv(torch.autograd.Function):
    """``conv(shift(x))`` without the shifted copy of x: the shift happens in x's own memory for the
    convolution's forward (and again for its backward) and is undone right after. ``x.data`` has
    its own version counter, so the round trip does not trip autograd's check on x, which other
    nodes saved (the ReLU that made it, the shortcut); no other op runs in between."""

    @staticmethod
    def forward(ctx, x, weight, bias, frames, fold, conv_args):
        with _shifted_in_place(x.data.view(-1, frames, *x.shape[1:]), fold) as clips:
            y = F.conv2d(clips.view(x.shape), weight, bias, *conv_args)
        ctx.save_for_backward(x, weight)
        ctx.frames, ctx.fold, ctx.conv_args, ctx.has_bias = frames, fold, conv_args, bias is not None
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv_args
        need = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]]
        with _shifted_in_place(x.data.view(-1, ctx.frames, *x.shape[1:]), ctx.fold) as clips:
            grad_x, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad, clips.view(x.shape), weight, [weight.shape[0]] if ctx.has_bias else None, stride, padding,
                dilation, False, [0, 0], groups, need)
        if grad_x is not None:  # through the shift: its transpose, in place on the conv's fresh gradient
            grad_clips = grad_x.view(-1, ctx.frames, *x.shape[1:])
            grad_x = (_shift_in_place(grad_clips, ctx.fold, back=True) if grad_x.is_contiguous()
                      else _shift(grad_clips, ctx.fold, back=True)).view(x.shape)
        return grad_x, grad_weight, grad_bias, None, None, None


def shifted_conv2d(x: torch.Tensor, frames: int, fold: int, conv: torch.nn.Conv2d) -> torch.Tensor:
    """``conv(temporal_shift(x as clips of frames, fold))`` for contiguous maps ``(B*T, C, H, W)``:
    the same values (the same convolution kernels see the same input) without the shifted copy."""
    args = (conv.stride, conv.padding, conv.dilation, conv.groups)
    return _ShiftedConv.apply(x, conv.weight, conv.bias, frames, fold, args)
