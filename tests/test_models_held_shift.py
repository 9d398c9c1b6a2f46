"""TSM's identity-shortcut blocks with the input held shifted until the backward
(``benchmark.models.held_shift``) against torchvision's own blocks running the reference shift
(a zero-filled copy, kept in tests/test_models_fast_ops.py): the same outputs and gradients bit for
bit, the input restored by the backward, and the cases where nothing may be held."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from benchmark.models import cpu_kernels, held_shift
from benchmark.models.modules.tsm import (
    HeldShiftBasicBlock,
    HeldShiftBottleneck,
    ShiftThenConv,
    TemporalShift,
)
from tests.test_models_fast_ops import reference_tsm

EXACT = {"rtol": 0.0, "atol": 0.0}

pytestmark = pytest.mark.skipif(cpu_kernels.library() is None, reason="the C kernels cannot be built here")


class ReferenceShift(nn.Module):
    def __init__(self, frames: int, fold: int) -> None:
        super().__init__()
        self.frames, self.fold = frames, fold

    def forward(self, x):
        return reference_tsm(x.view(-1, self.frames, *x.shape[1:]), self.fold).reshape(x.shape)


def blocks(kind: str, channels: int, frames: int, dtype, downsample: bool = False):
    """(a held block, the same torchvision block with the reference shift before conv1);
    ``downsample``: stride 2 and a 1x1 convolution + BatchNorm on the shortcut, doubling the width."""
    torch.manual_seed(channels + frames)
    out_channels = 2 * channels if downsample else channels
    shortcut = nn.Sequential(nn.Conv2d(channels, out_channels, 1, stride=2, bias=False),
                             nn.BatchNorm2d(out_channels)) if downsample else None
    stride = 2 if downsample else 1
    if kind == "bottleneck":
        plain = Bottleneck(channels, out_channels // 4, stride=stride, downsample=shortcut)
    else:
        plain = BasicBlock(channels, out_channels, stride=stride, downsample=shortcut)
    for m in plain.modules():  # BatchNorm with non-trivial affine parameters
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    plain = plain.to(dtype)
    held = copy.deepcopy(plain)
    shift = TemporalShift(channels, grad_in_place=True)
    shift.frames = frames
    held.conv1 = ShiftThenConv(shift, held.conv1)
    held.__class__ = HeldShiftBottleneck if kind == "bottleneck" else HeldShiftBasicBlock
    plain.conv1 = nn.Sequential(ReferenceShift(frames, shift.fold), plain.conv1)
    return held, plain


def run(block, x, grad_out):
    """Output, input gradient and parameter gradients; the block's input is made by a layer (x * 1)."""
    leaf = x.clone().requires_grad_()
    inner = leaf * 1.0
    out = block(inner)
    grads = torch.autograd.grad(out, [leaf, *block.parameters()], grad_out)
    return [out.detach(), *grads], inner


@pytest.mark.parametrize("downsample", [False, True])
@pytest.mark.parametrize("kind", ["bottleneck", "basic"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch, frames, channels, size", [(2, 4, 16, 5), (1, 2, 20, 3), (3, 1, 24, 4), (2, 3, 12, 2)])
def test_held_block_equals_torchvision_block_with_reference_shift(kind, dtype, batch, frames, channels, size,
                                                                  downsample, monkeypatch):
    held, plain = blocks(kind, channels, frames, dtype, downsample)
    x = torch.randn(batch * frames, channels, size, size, dtype=dtype)
    grad_out = torch.randn(plain(x).shape, dtype=dtype)
    shifts = []
    original = cpu_kernels.tsm_shift_keeping
    monkeypatch.setattr(cpu_kernels, "tsm_shift_keeping", lambda *a, restore: shifts.append(restore) or original(
        *a, restore=restore))
    got, inner = run(held, x, grad_out)
    assert shifts == [False, True]  # held: shifted once in the forward, restored once in the backward
    expected, _ = run(plain, x, grad_out)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, **EXACT)
    torch.testing.assert_close(inner.detach(), x, **EXACT)


def test_input_is_shifted_until_the_backward_and_restored_by_it():
    held, _ = blocks("bottleneck", 16, 4, torch.float64)
    leaf = torch.randn(8, 16, 3, 3, dtype=torch.float64, requires_grad=True)
    x = leaf * 1.0
    before = x.detach().clone()
    out = held(x)
    clips = before.view(2, 4, 16, 3, 3)
    torch.testing.assert_close(x.detach().view(clips.shape), reference_tsm(clips, 2), **EXACT)  # held shifted
    out.sum().backward()
    torch.testing.assert_close(x.detach(), before, **EXACT)


def test_a_second_backward_through_a_retained_graph_gives_the_same_gradients():
    held, plain = blocks("basic", 16, 2, torch.float64)
    leaf = torch.randn(4, 16, 3, 3, dtype=torch.float64, requires_grad=True)
    x = leaf * 1.0
    before = x.detach().clone()
    out = held(x)
    g = torch.randn_like(out)
    first = torch.autograd.grad(out, [leaf, *held.parameters()], g, retain_graph=True)
    second = torch.autograd.grad(out, [leaf, *held.parameters()], g)
    expected, _ = run(plain, before, g)
    for a, b, c in zip(first, second, expected[1:]):
        torch.testing.assert_close(a, c, **EXACT)
        torch.testing.assert_close(b, c, **EXACT)
    torch.testing.assert_close(x.detach(), before, **EXACT)


@pytest.mark.parametrize("case", ["no_grad", "leaf", "eval_no_grad", "fused_ops_off"])
def test_nothing_is_held_without_a_backward_to_undo_it(case, monkeypatch):
    """Under no_grad, or for an input no layer made (the caller's own tensor), the block runs
    torchvision's forward: its input is as it was right after the forward."""
    held, plain = blocks("bottleneck", 16, 4, torch.float64)
    x = torch.randn(8, 16, 3, 3, dtype=torch.float64)
    if case == "fused_ops_off":
        monkeypatch.setenv(cpu_kernels.ENV, "off")
    inp = {"leaf": x.clone().requires_grad_(), "fused_ops_off": x.clone().requires_grad_() * 1.0}.get(case, x.clone())
    if case == "eval_no_grad":
        held.eval(), plain.eval()
    with torch.set_grad_enabled(case in ("leaf", "fused_ops_off")):
        out = held(inp)
        torch.testing.assert_close(inp.detach(), x, **EXACT)
        torch.testing.assert_close(out, plain(x.clone()), **EXACT)


def test_an_error_in_the_convolution_leaves_the_input_as_it_was(monkeypatch):
    held, _ = blocks("bottleneck", 16, 4, torch.float64)
    x = torch.randn(8, 16, 3, 3, dtype=torch.float64, requires_grad=True) * 1.0
    before = x.detach().clone()

    def out_of_memory(*args):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(held_shift.F, "conv2d", out_of_memory)
    with pytest.raises(RuntimeError, match="out of memory"):
        held(x)
    torch.testing.assert_close(x.detach(), before, **EXACT)


def test_held_block_passes_gradcheck():
    held, _ = blocks("basic", 8, 3, torch.float64)
    held.eval()  # BatchNorm from running statistics: gradcheck perturbs one input at a time
    x = torch.randn(6, 8, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: held(inp * 1.0), (x,))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_kernels_against_plain_tensor_ops(dtype):
    b, t, c, hw, fold = 2, 5, 12, 7, 1
    x = torch.randn(b, t, c, hw, dtype=dtype)
    out = torch.randn(b, t, c, hw, dtype=dtype)
    shifted, kept = x.clone(), torch.empty(b, 2, fold, hw, dtype=dtype)
    cpu_kernels.tsm_shift_keeping(shifted, kept, fold, restore=False)
    torch.testing.assert_close(shifted, reference_tsm(x, fold), **EXACT)
    expected = out + x
    cpu_kernels.tsm_add_unshifted(out, shifted, kept, fold)
    torch.testing.assert_close(out, expected, **EXACT)
    # the input gradient: shift^T(grad) + grad_identity, signed zeros as autograd's sum makes them
    grad, identity = torch.randn(b, t, c, hw, dtype=dtype), torch.randn(b, t, c, hw, dtype=dtype)
    identity[:, 0, :fold] = -0.0  # where shift^T brings in a zero
    leaf = torch.zeros(b, t, c, hw, dtype=dtype, requires_grad=True)
    (through_shift,) = torch.autograd.grad(reference_tsm(leaf, fold), leaf, grad)
    expected = identity + through_shift
    cpu_kernels.tsm_shift_back_add(grad, identity, fold)
    torch.testing.assert_close(grad, expected, **EXACT)
    assert torch.equal(torch.signbit(grad), torch.signbit(expected))


def test_a_backward_that_skips_the_branch_still_restores_the_input_before_the_shortcut_reads_it():
    """Asking only for the downsample's weight gradient runs no backward of the shifted convolution:
    the guard on the shortcut puts the input back first, so that gradient is still right."""
    held, plain = blocks("bottleneck", 16, 2, torch.float64, downsample=True)
    leaf = torch.randn(4, 16, 4, 4, dtype=torch.float64, requires_grad=True)
    x = leaf * 1.0
    before = x.detach().clone()
    out = held(x)
    g = torch.randn_like(out)
    (got,) = torch.autograd.grad(out, [held.downsample[0].weight], g)
    (expected,) = torch.autograd.grad(plain(before), [plain.downsample[0].weight], g)
    torch.testing.assert_close(got, expected, **EXACT)
    torch.testing.assert_close(x.detach(), before, **EXACT)


@pytest.mark.parametrize("where", ["stage", "global", "pre-hook on a block"])
def test_a_network_with_a_users_forward_hook_holds_nothing(where, monkeypatch):
    """A hook that keeps a block's input (a stage's output, say, for feature distillation) and reads
    it after the forward must see the values it was handed: such forwards run torchvision's blocks."""
    from benchmark.models.build import build_model

    model = build_model("TSM-ResNet18-f2", 5)
    kept = []  # (the tensor the hook was handed, its values then)

    def keep(module, args, output=None):
        tensor = output if output is not None else args[0]
        kept.append((tensor, tensor.detach().clone()))

    if where == "stage":
        handle = model.features.layer1.register_forward_hook(keep)
    elif where == "global":
        handle = nn.modules.module.register_module_forward_hook(
            lambda m, a, o: keep(m, a, o) if m is model.features.layer1 else None)
    else:
        handle = model.features.layer2[1].register_forward_pre_hook(keep)
    calls = []
    original = held_shift._HeldShiftConv.forward
    monkeypatch.setattr(held_shift._HeldShiftConv, "forward", staticmethod(lambda *a: calls.append(1) or original(*a)))
    out = model(torch.randn(2, 3, 2, 32, 32))
    tensor, then = kept[0]
    torch.testing.assert_close(tensor.detach(), then, **EXACT)  # read after the forward: its own values
    assert calls == []  # nothing held
    out.sum().backward()
    handle.remove()
    model(torch.randn(2, 3, 2, 32, 32)).sum().backward()
    assert len(calls) == 8  # without the hook every block holds again


@pytest.mark.parametrize("name", ["TSM-ResNet18-f4", "TSM-ResNet50-f4"])
def test_inference_in_the_network_holds_without_undoing_and_equals_torchvision(name, monkeypatch):
    """In a TSM network's own forward under no_grad the blocks hold too (one pass, never undone:
    their inputs are the network's intermediates); the logits equal the unheld network's bit for
    bit and the caller's clip is untouched."""
    from benchmark.models.build import build_model

    torch.manual_seed(0)
    model = build_model(name, 5).eval()
    clip = torch.randn(2, 3, 4, 32, 32)
    before = clip.clone()
    calls = []
    original = held_shift._HeldShiftConv.forward
    monkeypatch.setattr(held_shift._HeldShiftConv, "forward", staticmethod(lambda *a: calls.append(1) or original(*a)))
    with torch.no_grad():
        held = model(clip)
    assert len(calls) == (8 if "18" in name else 16)
    torch.testing.assert_close(clip, before, **EXACT)
    monkeypatch.setattr(held_shift, "holdable", lambda *a: False)
    monkeypatch.setattr("benchmark.models.modules.tsm.holdable", lambda *a: False)
    with torch.no_grad():
        torch.testing.assert_close(held, model(clip), **EXACT)
