"""TAM and TSM under ``torch.compile`` (the run option ``compile``): the traced forms give the same
results as the kernels that run without it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.models import temporal_ops
from benchmark.models.modules.tam import TemporalAggregation
from benchmark.models.modules.tsm import ShiftThenConv, TemporalShift


def _output_and_grads(net: nn.Module, x: torch.Tensor):
    inp = x.clone().requires_grad_()
    out = net(inp)
    return [out.detach(), *torch.autograd.grad(out.square().sum(), [inp, *net.parameters()])]


def test_traceable_tam_is_the_same_sums():
    """What torch.compile traces computes the kernels' output bit for bit (float64), and autograd's
    gradients of it equal the hand-written backward's."""
    gen = torch.Generator().manual_seed(0)
    for shape in [(2, 1, 5, 3, 3), (3, 2, 7, 5, 3), (2, 5, 20, 4, 4)]:
        clips = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
        weight = torch.randn(shape[2], 3, generator=gen, dtype=torch.float64, requires_grad=True)
        traced, kernel = temporal_ops._traceable_aggregation(clips, weight), temporal_ops.temporal_aggregation(clips, weight)
        torch.testing.assert_close(traced, kernel, rtol=0, atol=0)
        grad = torch.randn(shape, generator=gen, dtype=torch.float64)
        for a, b in zip(torch.autograd.grad(traced, (clips, weight), grad),
                        torch.autograd.grad(kernel, (clips, weight), grad)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("module", ["TAM", "TSM"])
def test_compiled_operator_equals_eager(module):
    """A TAM before a 1x1 conv, and TSM's ShiftThenConv before a 3x3 conv, compiled (about 10 s
    each on the CPU): the same output and gradients as without compiling, to float32 rounding
    (gradients of order 1: 1e-5)."""
    torch.manual_seed(0)
    if module == "TAM":
        op = TemporalAggregation(8, init="uniform")
        net = nn.Sequential(op, nn.Conv2d(8, 4, 1))
    else:
        op = TemporalShift(16, grad_in_place=True)
        net = ShiftThenConv(op, nn.Conv2d(16, 4, 3, padding=1))
    op.frames = 3
    x = torch.randn(6, op.channels, 5, 5)
    eager = _output_and_grads(net, x)
    compiled = _output_and_grads(torch.compile(net), x)
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(_output_and_grads(net, x)[0], eager[0], rtol=0, atol=0)  # eager unharmed after
