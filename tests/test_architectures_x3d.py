"""X3D: the expansion table (depth, width, bottleneck), its blocks, and the published cost figures."""

import math

import pytest
import torch
from tiny_run import train_one_step

from benchmark.errors import ModelError
from benchmark.models import build_model, input_normalization, list_architectures
from benchmark.models.architectures.x3d import X3DBlock, round_width
from benchmark.models.profile import profile_model
from benchmark.models.squeeze_excite import SqueezeExcite3d


def test_registered_with_their_frames():
    assert {"X3D-XS", "X3D-S", "X3D-M", "X3D-L", "X3D-XL"} <= set(list_architectures())
    assert input_normalization("X3D-M-f16") == ((0.45,) * 3, (0.225,) * 3)
    with pytest.raises(ModelError, match="does not support temporal pooling"):
        build_model("X3D-M-tp-f16", 3)


@pytest.mark.parametrize("variant, blocks, widths", [
    ("M", (3, 5, 11, 7), (24, 48, 96, 192)),      # depth x2.2 of X2D's (1, 2, 5, 3): ceil(2.2 * d)
    ("L", (5, 10, 25, 15), (24, 48, 96, 192)),    # depth x5.0
    ("XL", (5, 10, 25, 15), (32, 72, 136, 280)),  # and width x2.9/2 = 1.45, each rounded to 8
])
def test_stage_depths_widths_and_bottleneck(variant, blocks, widths):
    model = build_model(f"X3D-{variant}-f16", 3)
    assert tuple(len(stage) for stage in model.stages) == blocks
    assert tuple(stage[0].project[0].out_channels for stage in model.stages) == widths
    for stage, width in zip(model.stages, widths):
        assert stage[0].channelwise.out_channels == int(2.25 * width)  # gamma_b = 2.25
        assert stage[0].channelwise.groups == stage[0].channelwise.in_channels  # channel-wise 3x3x3
        # SE on every other block, starting with the first
        assert [isinstance(b.se, SqueezeExcite3d) for b in stage] == [i % 2 == 0 for i in range(len(stage))]
    assert model.stem[0].out_channels == widths[0]


def test_round_width():
    assert [round_width(w) for w in (34.8, 69.6, 139.2, 278.4, 24)] == [32, 72, 136, 280, 24]
    assert round_width(10) == 16  # 8 would lose more than 10%


def test_block_is_swish_after_se_and_residual():
    torch.manual_seed(0)
    block = X3DBlock(8, 18, 8, stride=1, use_se=False).eval()
    torch.nn.init.normal_(block.project[1].weight)  # X3D zero-inits it: the branch would add nothing
    x = torch.randn(1, 8, 3, 5, 5)
    y = block.bn(block.channelwise(block.expand(x)))
    expected = torch.relu(block.project(y * torch.sigmoid(y)) + x)
    assert torch.allclose(block(x), expected, atol=1e-6)


# X3D paper Table 4 / paper 002 Table 2: GFLOPs (multiply-adds) at the test crop.
@pytest.mark.parametrize("name, size, printed", [
    ("X3D-M-f16", 256, 6.2), ("X3D-L-f16", 356, 24.8), ("X3D-XL-f16", 356, 48.4), ("X3D-XS-f4", 160, 0.6),
])
def test_gflops_match_published(name, size, printed):
    assert round(profile_model(name, 400, size)["macs_conv"] / 1e9, 1) == printed


def _x3d(variant):
    with torch.device("meta"):
        return build_model(f"X3D-{variant}-f16", 400)


def _params_without_bn(model):
    return sum(p.numel() for m in model.modules() if not isinstance(m, torch.nn.BatchNorm3d)
               for p in m.parameters(recurse=False))


def _params_with_unrounded_se(model):
    """The count if each SE's hidden width were int(C/16) instead of rounded to a multiple of 8."""
    se = [m for m in model.modules() if isinstance(m, SqueezeExcite3d)]
    unrounded = sum(2 * s.reduce.in_channels * (s.reduce.in_channels // 16) + s.reduce.in_channels // 16
                    + s.reduce.in_channels for s in se)
    return sum(p.numel() for p in model.parameters()) - sum(p.numel() for s in se for p in s.parameters()) + unrounded


def test_params_match_the_model_zoo_and_the_papers_convention_is_named():
    models = {v: _x3d(v) for v in ("M", "L", "XL")}
    params = {v: sum(p.numel() for p in m.parameters()) for v, m in models.items()}
    # Ours are the reference implementation's: PySlowFast's model zoo prints X3D-M 3.8M, X3D-L 6.2M.
    assert (params["M"], params["L"], params["XL"]) == (3_794_322, 6_153_432, 11_095_904)
    assert (round(params["M"] / 1e6, 1), round(params["L"] / 1e6, 1)) == (3.8, 6.2)
    # The X3D paper's Table 4 prints 3.8M / 6.1M / 11.0M (M / L / XL). Two conventions reproduce all
    # three to that precision, and we cannot tell which the paper used: leaving out the BatchNorm
    # affine parameters (3.763 / 6.087 / 11.000M), or SE hidden widths of int(C/16) rather than
    # PySlowFast's multiple of 8 (3.767 / 6.098 / 11.034M). Ruled out: truncating ours (M 3.794 ->
    # 3.7), SE without biases (XL 11.085 -> 11.1), the classifier left out (L 5.334).
    printed = {"M": 3.8, "L": 6.1, "XL": 11.0}
    for variant, model in models.items():
        assert round(_params_without_bn(model) / 1e6, 1) == printed[variant]
        assert round(_params_with_unrounded_se(model) / 1e6, 1) == printed[variant]
    assert math.floor(params["M"] / 1e5) / 10 == 3.7  # truncation would print 3.7 for M
    se_biases = sum(s.reduce.bias.numel() + s.expand.bias.numel() for s in models["XL"].modules()
                    if isinstance(s, SqueezeExcite3d))
    assert round((params["XL"] - se_biases) / 1e6, 1) == 11.1


@pytest.mark.slow
def test_forward_backward_and_one_engine_step(tmp_path):
    torch.manual_seed(0)
    model = build_model("X3D-S-f4", 5)
    out = model(torch.randn(2, 3, 4, 32, 32))
    assert out.shape == (2, 5)
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.stem[0].weight.grad.abs().sum() > 0
    train_one_step("X3D-XS-f4", tmp_path)
