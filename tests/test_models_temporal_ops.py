"""TAM and TSM against straightforward implementations kept here as references (the forms of the
official code: a zero-padded copy and three taps; a zero-filled copy with shifted slices), and as
ordinary PyTorch modules: gradcheck, activation checkpointing, ``torch.func``, ``torch.compile``, a
backward whose operator count does not grow with the batch, and no writes into saved tensors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.checkpoint import checkpoint

import benchmark
from benchmark.models.build import build_model
from benchmark.models.modules.tam import TemporalAggregation
from benchmark.models.modules.tsm import TemporalShift
from benchmark.models.profile import count_conv_macs
from benchmark.models.temporal_ops import temporal_aggregation, temporal_shift

EXACT = {"rtol": 0.0, "atol": 0.0}
TIGHT = {"rtol": 1e-12, "atol": 1e-12}  # the same sums, added in another order or with fused multiply-adds
FLOAT32 = {"rtol": 1e-6, "atol": 1e-6}
SHAPES = [(2, 1, 5, 3, 3), (3, 2, 7, 5, 3), (2, 3, 9, 1, 7), (1, 8, 12, 3, 5), (2, 5, 20, 4, 4)]  # B, T, C, H, W


def reference_taps(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """TAM before its ReLU as the official code: a zero frame padded at each end, three taps."""
    channels, t = weight.shape[0], clips.shape[1]
    padded = F.pad(clips, (0, 0, 0, 0, 0, 0, 1, 1))
    w = weight.view(1, 1, channels, 3, 1, 1).unbind(3)
    return w[0] * padded[:, 0:t] + w[1] * padded[:, 1:t + 1] + w[2] * padded[:, 2:t + 2]


def reference_tam(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.relu(reference_taps(clips, weight))


def reference_tsm(clips: torch.Tensor, fold: int) -> torch.Tensor:
    """TSM's shift as the official code: a zero-filled copy with the shifted slices filled in."""
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
def test_tam_equals_reference(shape, dtype):
    gen = torch.Generator().manual_seed(sum(shape))
    clips = torch.randn(shape, generator=gen, dtype=dtype)
    weight = torch.randn(shape[2], 3, generator=gen, dtype=dtype)
    out, (gx, gw) = forward_backward(temporal_aggregation, clips, weight)
    ref_out, (ref_gx, ref_gw) = forward_backward(reference_tam, clips, weight)
    assert (out == 0).any() and (out > 0).any()  # the ReLU's mask is exercised both ways
    # TAM adds its taps with addcmul (one rounding per multiply-add where the CPU fuses them)
    torch.testing.assert_close(out, ref_out, **(TIGHT if dtype == torch.float64 else FLOAT32))
    torch.testing.assert_close(gx, ref_gx, **(TIGHT if dtype == torch.float64 else FLOAT32))
    scale = (ref_gx.abs().sum() + 1) if dtype == torch.float32 else 1
    torch.testing.assert_close(gw, ref_gw, **(TIGHT if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6 * scale}))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
@pytest.mark.parametrize("shape", SHAPES)
def test_tsm_equals_reference(shape, dtype):
    clips = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape))).to(dtype)
    fold = shape[2] // 8  # C = 5, 7 give no shifted channels, 9, 12, 20 a ragged remainder
    out, (gx,) = forward_backward(temporal_shift, clips, fold)
    ref_out, (ref_gx,) = forward_backward(reference_tsm, clips, fold)
    torch.testing.assert_close(out, ref_out, **EXACT)
    torch.testing.assert_close(gx, ref_gx, **EXACT)


def test_operators_leave_their_inputs_and_incoming_gradients_alone():
    clips = torch.randn(2, 4, 16, 3, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    for out in (temporal_aggregation(clips, weight), temporal_shift(clips, 2)):
        before, grad = clips.detach().clone(), torch.randn(out.shape, dtype=torch.float64)
        kept = grad.clone()
        (result,) = torch.autograd.grad(out, clips, grad)
        assert result.data_ptr() != grad.data_ptr()
        torch.testing.assert_close(grad, kept, **EXACT)
        torch.testing.assert_close(clips.detach(), before, **EXACT)


@pytest.mark.parametrize("shape", [(2, 1, 3, 2, 3), (2, 2, 3, 3, 1), (1, 4, 5, 2, 2)])
def test_gradcheck(shape):
    gen = torch.Generator().manual_seed(3)
    clips = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_()
    weight = torch.randn(shape[2], 3, generator=gen, dtype=torch.float64)
    # the ReLU's kink must lie outside gradcheck's finite-difference step (1e-6)
    assert reference_taps(clips.detach(), weight).abs().min() > 1e-4
    assert torch.autograd.gradcheck(temporal_aggregation, (clips, weight.requires_grad_()))
    assert torch.autograd.gradcheck(temporal_shift, (clips, 1))
    assert torch.autograd.gradgradcheck(temporal_aggregation, (clips, weight))  # TAM's written-out backward is differentiable


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # functorch's fallback for in-place addcmul
def test_vmap_equals_a_loop():
    gen = torch.Generator().manual_seed(5)
    clips = torch.randn(4, 2, 3, 6, 2, 2, generator=gen, dtype=torch.float64)
    weight = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    batched = torch.func.vmap(lambda c: temporal_aggregation(c, weight))(clips)
    torch.testing.assert_close(batched, torch.stack([temporal_aggregation(c, weight) for c in clips]), **EXACT)
    grads = torch.func.vmap(torch.func.grad(lambda w, c: temporal_aggregation(c, w).square().sum()), in_dims=(None, 0))(weight, clips)
    expected = [torch.func.grad(lambda w, c=c: reference_tam(c, w).square().sum())(weight) for c in clips]
    torch.testing.assert_close(grads, torch.stack(expected), **TIGHT)


def test_modules_give_the_references_results():
    """The nn.Modules on (B*T, C, H, W) maps give the references' results, TAM with each init."""
    x = torch.randn(6, 16, 3, 5, dtype=torch.float64)
    for init in ("identity", "uniform", "fan_out"):
        tam = TemporalAggregation(16, init=init).double()
        tam.frames = 3
        expected = reference_tam(x.view(2, 3, 16, 3, 5), tam.weight.detach()).reshape(x.shape)
        torch.testing.assert_close(tam(x), expected, **TIGHT)
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


def _loss_and_grads(model, x):
    torch.manual_seed(1)  # the same dropout mask in every pass
    clip = x.clone().requires_grad_()
    model.zero_grad(set_to_none=True)
    out = model(clip)
    out.square().sum().backward()  # not autograd.grad: reentrant checkpointing supports backward() only
    return [out.detach(), clip.grad, *(p.grad for p in model.parameters())]


class _Checkpointed(torch.nn.Module):
    """``module`` run under activation checkpointing (its activations recomputed in the backward)."""

    def __init__(self, module, reentrant: bool):
        super().__init__()
        self.module, self.reentrant = module, reentrant

    def forward(self, x):
        return checkpoint(self.module, x, use_reentrant=self.reentrant, preserve_rng_state=True)


def _checkpoint(stage_or_blocks, reentrant):
    return torch.nn.Sequential(*(_Checkpointed(block, reentrant) for block in stage_or_blocks))


@pytest.mark.parametrize("reentrant", [False, True])
@pytest.mark.parametrize("name", ["TSM-ResNet18-f4", "TAM-ResNet18-f4"])
def test_activation_checkpointing_gives_the_same_outputs_and_gradients(name, reentrant):
    """Each block, then each stage, recomputed in the backward: the same outputs and gradients as
    one plain pass (the model-layer issue: a shift that wrote into its input gave gradients off by
    up to 180 % here, silently)."""
    torch.manual_seed(0)
    model = build_model(name, 5).eval()  # eval: BatchNorm's running statistics are not updated twice
    x = torch.randn(2, 3, 4, 32, 32)
    plain = _loss_and_grads(model, x)
    features = model.features
    stages = {n: getattr(features, n) for n in ("layer1", "layer2", "layer3", "layer4")}
    for wrap in (lambda stage: _checkpoint(stage, reentrant), lambda stage: _checkpoint([stage], reentrant)):
        for n, stage in stages.items():
            setattr(features, n, wrap(stage))
        checkpointed = _loss_and_grads(model, x)
        for n, stage in stages.items():
            setattr(features, n, stage)
        assert len(checkpointed) == len(plain)
        for a, b in zip(checkpointed, plain):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["TSM-TinyResNet-f4", "TAM-TinyResNet-f4"])
def test_torch_func_gradients_equal_autograds(name):
    """``torch.func.grad`` over ``functional_call`` (no module state touched) equals ``backward``."""
    torch.manual_seed(0)
    model = build_model(name, 5).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p):
        return torch.func.functional_call(model, p, (x,)).square().sum()

    grads = torch.func.grad(loss)(params)
    model(x).square().sum().backward()
    for k, p in model.named_parameters():
        torch.testing.assert_close(grads[k], p.grad, rtol=1e-5, atol=1e-6)


class _CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def _backward_calls(module, batch: int) -> int:
    x = torch.randn(batch * 4, 16, 6, 6, requires_grad=True)
    out = module(x)
    grad = torch.randn_like(out)
    with _CountOps() as counter:
        out.backward(grad)
    return counter.calls


@pytest.mark.parametrize("op", ["TAM", "TSM"])
def test_backward_operator_count_does_not_depend_on_the_batch(op):
    """A GPU runs one kernel per operator call: the backward is as many calls at batch 2 as at 16."""
    module = TemporalAggregation(16, init="uniform") if op == "TAM" else TemporalShift(16)
    module.frames = 4
    small, large = _backward_calls(module, 2), _backward_calls(module, 16)
    assert small == large and 0 < small < 40


def test_network_backward_operator_count_does_not_depend_on_the_batch():
    model = build_model("TAM-TinyResNet-f4", 5)

    def calls(batch):
        out = model(torch.randn(batch, 3, 4, 32, 32))
        with _CountOps() as counter:
            out.sum().backward()
        return counter.calls

    assert calls(2) == calls(16)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["TAM-ResNet18-f4", "TSM-ResNet18-f4"])
def test_compiled_training_step_equals_eager(name):
    """``torch.compile`` of a whole network's training step (forward, loss, backward) traced by
    Dynamo and differentiated by AOTAutograd, as the run option ``compile`` does: the same loss,
    input and parameter gradients as eager to float32 rounding. The ``aot_eager`` backend runs the
    traced graphs with eager kernels (Inductor's C++ build of a ResNet costs minutes here; the
    next test compiles the operators with it)."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = build_model(name, 5).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    eager = _loss_and_grads(model, x)
    compiled = _loss_and_grads(torch.compile(model, backend="aot_eager"), x)
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_inductor_compiled_operators_equal_eager():
    """TAM and TSM each before a convolution, compiled with the default backend (Inductor generates
    and fuses their kernels): output and gradients equal eager's to float32 rounding."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    tam, tsm = TemporalAggregation(8, init="uniform"), TemporalShift(16)
    tam.frames = tsm.frames = 3
    net = torch.nn.Sequential(tam, torch.nn.Conv2d(8, 16, 1), torch.nn.ReLU(), tsm, torch.nn.Conv2d(16, 4, 3, padding=1))
    x = torch.randn(6, 8, 5, 5)
    eager = _loss_and_grads(net, x)
    compiled = _loss_and_grads(torch.compile(net), x)
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_autocast_bf16_runs_and_stays_close_to_float32():
    torch.manual_seed(0)
    model = build_model("TAM-TinyResNet-f4", 5).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x).float()
    torch.testing.assert_close(low, model(x), rtol=0.1, atol=0.05)


def test_channels_last_gives_the_same_outputs():
    torch.manual_seed(0)
    for name in ("TAM-TinyResNet-f4", "TSM-TinyResNet-f4"):
        model = build_model(name, 5).eval()
        x = torch.randn(2, 3, 4, 32, 32)
        expected = model(x)
        model.to(memory_format=torch.channels_last)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


FORBIDDEN = {
    "a held shift": r"held_shift",
    "a class swap": r"__class__\s*=[^=]",
    "a read of torch's hook registries": r"_global_forward_hooks|\._forward_hooks|_forward_pre_hooks",
    "a .data assignment or in-place write": r"\.data\s*=[^=]|\.data\.\w+_\(",
    "a process-wide heap setting": r"mallopt",
}


def test_model_and_engine_layers_are_plain_pytorch():
    """No write behind autograd's back, no class swaps, no private hook registries, no heap settings
    under benchmark/models and benchmark/engine."""
    root = Path(benchmark.__file__).parent
    found = []
    for folder in ("models", "engine"):
        for path in sorted((root / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#")[0]
                found += [f"{path.relative_to(root)}:{number}: {what}" for what, pattern in FORBIDDEN.items()
                          if re.search(pattern, code)]
    assert not found, found
    assert not list((root / "models").rglob("*.c"))
