"""TSM in a residual block with the block's input held shifted from its first convolution's forward
to that convolution's backward (CPU, the C kernels).

Why: :class:`~benchmark.models.modules.tsm.ShiftThenConv` shifts the input x in place for the
convolution and undoes it right after; its backward shifts x again around the convolution's
backward, undoes it, and shifts the input gradient: five passes over a quarter of x per block,
as much memory traffic as the copy they replace. In a residual block the only other readers of x
are the shortcut and the previous layer's backward, so x may stay shifted in between:

- identity shortcut: the add reads x where the shift left it (:func:`held_add`); the convolution's
  backward finds x shifted already and undoes it once, and the input gradient's shift is fused
  with the sum autograd would form with the identity's gradient (the add hands that gradient
  over instead of returning it). Two passes.
- downsample shortcut: it runs on x before the shift, and its output passes a guard
  (:func:`restore_first`) whose backward undoes the shift if it is still in place before the
  downsample's backward reads x. Three passes (the input gradient is shifted in place).

Every output and gradient is the same sum of the same values as shift-then-conv, bit for bit.
Between a forward and its backward the tensor x holds shifted values (without a backward, e.g.
under ``no_grad``, it keeps them); only a TSM network's own forward holds freely
(:func:`network_forward`), and not while a user's forward hook could keep x.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models import cpu_kernels


class Held:
    """What one block's convolution, add and guard share: the input's clips view, the rows the
    shift drops, whether the input is shifted now, and the gradient the add hands over."""

    __slots__ = ("clips", "fold", "kept", "shifted", "grad_identity")

    def __init__(self, x: torch.Tensor, frames: int, fold: int) -> None:
        self.clips = x.data.view(-1, frames, *x.shape[1:])
        self.fold = fold
        self.kept = x.new_empty((self.clips.shape[0], 2, fold, *x.shape[2:]))
        self.shifted = False
        self.grad_identity = None

    def shift(self, restore: bool) -> None:
        cpu_kernels.tsm_shift_keeping(self.clips, self.kept, self.fold, restore=restore)
        self.shifted = not restore


_SCOPE = threading.local()  # inside a TSM network's forward: whether a user's hook may watch it


def _user_forward_hooks(net: nn.Module) -> bool:
    if getattr(nn.modules.module, "_global_forward_hooks", None) or getattr(
            nn.modules.module, "_global_forward_pre_hooks", None):
        return True
    return any(module._forward_hooks or module._forward_pre_hooks for module in net.modules())


@contextmanager
def network_forward(net: nn.Module):
    """A TSM network's forward: its blocks' inputs are its own intermediate tensors, read by nothing
    but the network, so a block may hold its input shifted even without a backward to undo it
    (inference: the shift is then one pass, never undone). Unless a forward hook (on any module of
    the network, or a global one) could keep a block's input and read it later (feature
    distillation, say): then nothing is held and the blocks run as torchvision's."""
    previous = getattr(_SCOPE, "hooked", None)
    _SCOPE.hooked = _user_forward_hooks(net)
    try:
        yield
    finally:
        _SCOPE.hooked = previous


def holdable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`held_shift_conv` may keep ``x`` shifted (see the module docstring); the caller
    has checked the convolution and the layout (ShiftThenConv's rules). Inside
    :func:`network_forward`: unless a hook watches. A block called on its own: only in a training
    forward whose backward will undo the shift (grad enabled, x made by an earlier layer)."""
    if x.dtype not in cpu_kernels.DTYPES or weight.dtype != x.dtype or not cpu_kernels.usable(x):
        return False
    hooked = getattr(_SCOPE, "hooked", None)
    if hooked is None:
        return torch.is_grad_enabled() and x.grad_fn is not None
    return not hooked


class _HeldShiftConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, conv_args, held):
        held.shift(restore=False)
        try:
            y = F.conv2d(x.data, weight, bias, *conv_args)
        except BaseException:  # out of memory, say: x is the caller's again
            held.shift(restore=True)
            raise
        ctx.save_for_backward(x, weight)
        ctx.held, ctx.conv_args, ctx.has_bias = held, conv_args, bias is not None
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        held = ctx.held
        stride, padding, dilation, groups = ctx.conv_args
        need = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]]
        if not held.shifted:  # restored already (a second backward through a retained graph)
            held.shift(restore=False)
        grad_x, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            grad, x.data, weight, [weight.shape[0]] if ctx.has_bias else None, stride, padding, dilation, False,
            [0, 0], groups, need)
        held.shift(restore=True)
        identity, held.grad_identity = held.grad_identity, None
        if grad_x is not None:
            clips = grad_x.contiguous().view(held.clips.shape)
            if identity is not None:
                cpu_kernels.tsm_shift_back_add(clips, identity.contiguous().view(clips.shape), held.fold)
            else:
                cpu_kernels.tsm_shift_in_place(clips, held.fold, back=True)
            grad_x = clips.view(x.shape)
        return grad_x, grad_weight, grad_bias, None, None


class _HeldAdd(torch.autograd.Function):
    @staticmethod
    def forward(ctx, out, x, held):
        target = out if out.is_contiguous() else out.contiguous()
        cpu_kernels.tsm_add_unshifted(target.view(held.clips.shape), held.clips, held.kept, held.fold)
        ctx.held = held
        if target is out:
            ctx.mark_dirty(out)
        return target

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        if ctx.needs_input_grad[1]:  # x's share: the convolution's backward sums it in
            ctx.held.grad_identity = grad
        return grad, None, None


class _RestoreFirst(torch.autograd.Function):
    """The identity on the shortcut's output; its backward puts the block's input back if it is still
    held shifted, before the shortcut's own backward reads it. Applied before the residual branch
    exists, it is the later of the two in autograd's order (later-made nodes first), so the branch's
    convolution has used and restored the input already; were it first, that convolution would
    shift again around its backward: correct either way."""

    @staticmethod
    def forward(ctx, shortcut, held):
        ctx.held = held
        return shortcut.view_as(shortcut)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        if ctx.held.shifted:
            ctx.held.shift(restore=True)
        return grad, None


def held_shift_conv(x: torch.Tensor, conv: torch.nn.Conv2d, held: Held) -> torch.Tensor:
    """``conv(shift(x))`` leaving ``x`` shifted until the backward."""
    args = (conv.stride, conv.padding, conv.dilation, conv.groups)
    return _HeldShiftConv.apply(x, conv.weight, conv.bias, args, held)


def held_add(out: torch.Tensor, x: torch.Tensor, held: Held) -> torch.Tensor:
    """``out += x`` (the residual add; in place) with ``x`` as :func:`held_shift_conv` left it."""
    return _HeldAdd.apply(out, x, held)


def restore_first(shortcut: torch.Tensor, held: Held) -> torch.Tensor:
    """``shortcut`` (a downsample's output, computed before the shift) guarded by :class:`_RestoreFirst`."""
    return _RestoreFirst.apply(shortcut, held)
