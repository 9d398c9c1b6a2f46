"""The fast TAM and TSM kernels against the straightforward implementations they replaced (kept here
as references): same outputs and gradients in float64, for ragged sizes, T = 1 and 2, batch > 1.
Every comparison runs on both kernel paths: the one-pass C kernels (``cpu``) and the eager ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark.models import cpu_kernels, held_shift, temporal_ops
from benchmark.models.build import build_model
from benchmark.models.modules.tam import TemporalAggregation
from benchmark.models.modules.tsm import ShiftThenConv, TemporalShift
from benchmark.models.profile import count_conv_macs
from benchmark.models.temporal_ops import temporal_aggregation, temporal_shift

EXACT = {"rtol": 0.0, "atol": 0.0}
TIGHT = {"rtol": 1e-12, "atol": 1e-12}  # weight gradients: the same sums reduced in another order
SHAPES = [(2, 1, 5, 3, 3), (3, 2, 7, 5, 3), (2, 3, 9, 1, 7), (1, 8, 12, 3, 5), (2, 5, 20, 4, 4)]  # B, T, C, H, W


@pytest.fixture(params=["cpu", "eager"], autouse=True)
def kernels(request, monkeypatch):
    """Run the test on the C kernels (skipped where they cannot be built) or the eager ones."""
    monkeypatch.setenv(cpu_kernels.ENV, "auto" if request.param == "cpu" else "off")
    if request.param == "cpu" and cpu_kernels.library() is None:
        pytest.skip("the C kernels cannot be built here (no C compiler)")
    return request.param


def _assert_path(kernels, clips, weight=None):
    assert cpu_kernels.usable(clips, weight) == (kernels == "cpu")


def reference_taps(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The previous TemporalAggregation.forward before its ReLU: a zero frame padded at each end, three taps."""
    channels, t = weight.shape[0], clips.shape[1]
    padded = F.pad(clips, (0, 0, 0, 0, 0, 0, 1, 1))
    w = weight.view(1, 1, channels, 3, 1, 1).unbind(3)
    return w[0] * padded[:, 0:t] + w[1] * padded[:, 1:t + 1] + w[2] * padded[:, 2:t + 2]


def reference_tam(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.relu(reference_taps(clips, weight))


def reference_tsm(clips: torch.Tensor, fold: int) -> torch.Tensor:
    """The previous TemporalShift.forward: a zero-filled copy with the shifted slices filled in."""
    f = fold
    out = torch.zeros_like(clips)
    out[:, :-1, :f] = clips[:, 1:, :f]
    out[:, 1:, f:2 * f] = clips[:, :-1, f:2 * f]
    out[:, :, 2 * f:] = clips[:, :, 2 * f:]
    return out


def forward_backward(fn, clips, *args):
    """Output and gradients of a random linear loss (so every gradient entry is distinct)."""
    leaves = [clips.detach().clone().requires_grad_()] + [
        a.detach().clone().requires_grad_() if isinstance(a, torch.Tensor) else a for a in args]
    out = fn(*leaves)
    seed = torch.Generator().manual_seed(7)
    out.backward(torch.randn(out.shape, generator=seed, dtype=out.dtype))
    return out.detach(), [leaf.grad for leaf in leaves if isinstance(leaf, torch.Tensor)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_fast_tam_equals_reference(shape, dtype, kernels):
    gen = torch.Generator().manual_seed(sum(shape))
    clips = torch.randn(shape, generator=gen, dtype=dtype)
    weight = torch.randn(shape[2], 3, generator=gen, dtype=dtype)
    _assert_path(kernels, clips, weight)
    out, (gx, gw) = forward_backward(temporal_aggregation, clips, weight)
    ref_out, (ref_gx, ref_gw) = forward_backward(reference_tam, clips, weight)
    assert (out == 0).any() and (out > 0).any()  # the ReLU's mask is exercised both ways
    torch.testing.assert_close(out, ref_out, **EXACT)
    torch.testing.assert_close(gx, ref_gx, **EXACT)
    # weight gradients: the same sums in another order (float32: relative to the sum of |terms|)
    scale = (ref_gx.abs().sum() + 1) if dtype == torch.float32 else 1
    torch.testing.assert_close(gw, ref_gw, **(TIGHT if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6 * scale}))


@pytest.mark.parametrize("grad_in_place", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
@pytest.mark.parametrize("shape", SHAPES)
def test_fast_tsm_equals_reference(shape, dtype, grad_in_place, kernels):
    clips = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape))).to(dtype)
    fold = shape[2] // 8  # C = 5, 7 give no shifted channels, 9, 12, 20 a ragged remainder
    _assert_path(kernels, clips)
    out, (gx,) = forward_backward(temporal_shift, clips, fold, grad_in_place)
    ref_out, (ref_gx,) = forward_backward(reference_tsm, clips, fold)
    torch.testing.assert_close(out, ref_out, **EXACT)
    torch.testing.assert_close(gx, ref_gx, **EXACT)


def test_in_place_shift_gradient_moves_only_the_shifted_channels(kernels):
    """The in-place backward writes into the gradient it receives and leaves channels 2·fold.. alone."""
    clips = torch.randn(2, 4, 16, 3, 3, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 4, 16, 3, 3, dtype=torch.float64)
    expected = torch.autograd.grad(reference_tsm(clips, 2), clips, grad.clone())[0]
    received = grad.clone()
    (result,) = torch.autograd.grad(temporal_shift(clips, 2, True), clips, received)
    torch.testing.assert_close(result, expected, **EXACT)
    assert result.data_ptr() == received.data_ptr()  # no new tensor
    torch.testing.assert_close(received[:, :, 4:], grad[:, :, 4:], **EXACT)
    # the default copies: the caller's gradient is left as it was
    kept = grad.clone()
    torch.autograd.grad(temporal_shift(clips, 2), clips, kept)
    torch.testing.assert_close(kept, grad, **EXACT)
    assert expected.shape == clips.shape


@pytest.mark.parametrize("name", ["TSM-ResNet18-f4", "TSM-ResNet50-f4"])  # 3x3 (strided) and 1x1 conv1
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tsm_network_shift_in_the_inputs_memory_equals_shift_then_conv(name, dtype, kernels, monkeypatch):
    """Every shift feeds a conv and becomes ShiftThenConv; shifting inside the input's own memory
    gives the network the same output, parameter and input gradients as a shifted copy, bit for bit,
    and leaves the input as it was."""
    torch.manual_seed(0)
    model = build_model(name, 5).to(dtype)
    fused = [m for m in model.modules() if isinstance(m, ShiftThenConv)]
    assert len(fused) == 8 if "18" in name else 16
    assert all(isinstance(m[0], TemporalShift) and m[0].grad_in_place for m in fused)
    x = torch.randn(2, 3, 4, 32, 32, dtype=dtype)

    def run():
        torch.manual_seed(1)  # the same dropout mask in both passes
        clip = x.clone().requires_grad_()
        out = model(clip)
        return [out.detach(), *torch.autograd.grad(out.square().sum(), [clip, *model.parameters()])]

    seen = []
    for function in (temporal_ops._ShiftedConv, held_shift._HeldShiftConv):
        monkeypatch.setattr(function, "forward", staticmethod(
            lambda ctx, inp, *a, original=function.forward, kind=function.__name__: seen.append(kind)
            or original(ctx, inp, *a)))
    in_memory = run()
    assert len(seen) == len(fused)  # a fused path ran at every shift
    # every block holds its input shifted until the backward on the C kernels' path
    assert seen.count("_HeldShiftConv") == (len(fused) if kernels == "cpu" else 0)
    monkeypatch.setattr(ShiftThenConv, "_fusable", staticmethod(lambda *a: False))
    copied = run()
    for a, b in zip(in_memory, copied):
        torch.testing.assert_close(a, b, **EXACT)


def test_shifted_conv_restores_its_input_and_passes_gradcheck(kernels):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 6, 3, stride=2, padding=1, bias=True).double()
    x = torch.randn(6, 16, 5, 5, dtype=torch.float64, requires_grad=True)  # 2 clips of 3 frames
    before = x.detach().clone()
    y = temporal_ops.shifted_conv2d(x, 3, 2, conv)
    torch.testing.assert_close(x.detach(), before, **EXACT)
    expected = conv(reference_tsm(before.view(2, 3, 16, 5, 5), 2).reshape(6, 16, 5, 5))
    torch.testing.assert_close(y, expected, **EXACT)
    y.sum().backward()
    torch.testing.assert_close(x.detach(), before, **EXACT)
    assert torch.autograd.gradcheck(lambda inp, w, b: temporal_ops._ShiftedConv.apply(
        inp, w, b, 3, 2, (conv.stride, conv.padding, conv.dilation, conv.groups)),
        (x, conv.weight, conv.bias))


def _stacked(tam, clips, w1, w2, w3):
    """Three TAMs in a row, their backward passes one after the other: they share the scratch buffers."""
    return tam(tam(tam(clips, w1), w2) * 0.5 - 0.1, w3)


@pytest.mark.parametrize("limit", [temporal_ops.SCRATCH_LIMIT, 0])  # 0: every temporary is fresh
def test_tam_scratch_buffers_shared_between_calls_and_sizes(monkeypatch, limit, kernels):
    monkeypatch.setattr(temporal_ops, "SCRATCH_LIMIT", limit)
    for shape in [(2, 5, 20, 4, 4), (1, 3, 6, 2, 3), (3, 4, 20, 5, 5)]:  # larger, smaller, larger again
        gen = torch.Generator().manual_seed(sum(shape))
        clips = torch.randn(shape, generator=gen, dtype=torch.float64)
        weights = [torch.randn(shape[2], 3, generator=gen, dtype=torch.float64) for _ in range(3)]
        out, grads = forward_backward(lambda *a: _stacked(temporal_aggregation, *a), clips, *weights)
        ref_out, ref_grads = forward_backward(lambda *a: _stacked(reference_tam, *a), clips, *weights)
        torch.testing.assert_close(out, ref_out, **EXACT)
        torch.testing.assert_close(grads[0], ref_grads[0], **EXACT)
        for grad, ref in zip(grads[1:], ref_grads[1:]):
            torch.testing.assert_close(grad, ref, **TIGHT)


def test_scratch_is_kept_on_the_cpu_up_to_the_limit(monkeypatch):
    like = torch.empty(2, 3, 4, 5, 6)
    first, again = temporal_ops._scratch(like, 0), temporal_ops._scratch(like[:1], 0)
    assert first.shape == like.shape and again.shape == (1, 3, 4, 5, 6)
    assert again.data_ptr() == first.data_ptr()  # the same memory, not a fresh mapping
    assert temporal_ops._scratch(like, 1).data_ptr() != first.data_ptr()  # one buffer per slot
    assert temporal_ops._scratch(like.double(), 0).dtype == torch.float64
    monkeypatch.setattr(temporal_ops, "SCRATCH_LIMIT", like.numel() * 4 - 1)
    assert temporal_ops._scratch(like, 0).data_ptr() != first.data_ptr()  # over the limit: fresh


@pytest.mark.parametrize("shape", [(2, 1, 3, 2, 3), (2, 2, 3, 3, 1), (1, 4, 5, 2, 2)])
def test_gradcheck_fast_kernels(shape):
    gen = torch.Generator().manual_seed(3)
    clips = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_()
    weight = torch.randn(shape[2], 3, generator=gen, dtype=torch.float64)
    # the ReLU's kink must lie outside gradcheck's finite-difference step (1e-6)
    assert reference_taps(clips.detach(), weight).abs().min() > 1e-4
    assert torch.autograd.gradcheck(temporal_aggregation, (clips, weight.requires_grad_()))
    assert torch.autograd.gradcheck(temporal_shift, (clips, 1))


def test_modules_use_fast_kernels_with_reference_results():
    """The nn.Modules on (B*T, C, H, W) maps give the references' results, TAM with each init."""
    x = torch.randn(6, 16, 3, 5, dtype=torch.float64)
    for init in ("identity", "uniform", "fan_out"):
        tam = TemporalAggregation(16, init=init).double()
        tam.frames = 3
        expected = reference_tam(x.view(2, 3, 16, 3, 5), tam.weight.detach()).reshape(x.shape)
        torch.testing.assert_close(tam(x), expected, **EXACT)
    tsm = TemporalShift(16)
    tsm.frames = 3
    torch.testing.assert_close(tsm(x), reference_tsm(x.view(2, 3, 16, 3, 5), 2).reshape(x.shape), **EXACT)


def test_tam_model_keeps_mac_convention():
    """TAM still counts 3·C·H·W per frame: TAM-ResNet18's MACs exceed TSN's by exactly that sum."""
    x = torch.randn(1, 3, 4, 32, 32)
    tsn, tam = build_model("TSN-ResNet18-f4", 5).eval(), build_model("TAM-ResNet18-f4", 5).eval()
    assert sum(isinstance(m, TemporalAggregation) for m in tam.modules()) == 8  # one per BasicBlock
    extra = count_conv_macs(tam, x) - count_conv_macs(tsn, x)
    # each block's residual input: 64@8x8 (layer1), 128@4x4, 256@2x2, 512@1x1 at 32 px; 2 blocks per stage
    # and the first block of stages 2..4 sees the previous stage's output (half the channels, twice the side)
    per_frame = 0
    for c, side in ((64, 8), (64, 8), (64, 8), (128, 4), (128, 4), (256, 2), (256, 2), (512, 1)):
        per_frame += 3 * c * side * side
    assert extra == 4 * per_frame
