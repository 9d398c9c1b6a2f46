"""SEVNet-G6/G8/G12: SEV module structure, training step, the paper's parameter / FLOP figures."""

import pytest
import torch

from benchmark.errors import ModelError
from benchmark.models import build_model, list_architectures
from benchmark.models.architectures.sevnet import SEVModule
from benchmark.models.profile import profile_model


def test_registered_variants():
    assert {"SEVNet-G6", "SEVNet-G8", "SEVNet-G12"} <= set(list_architectures())


def test_forward_backward_tiny_clip():
    torch.manual_seed(0)
    # the engine's call: every option it passes is accepted ('inflate' has nothing to inflate)
    model = build_model("SEVNet-G6-f4", 3, pretrained=None, dropout=0.5, inflate="copy")
    logits = model(torch.randn(2, 3, 4, 32, 32))
    assert logits.shape == (2, 3)
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.stem[0][0].weight.grad.abs().sum() > 0


def test_sev_module_convolutions():
    # channel-wise 1x1x1 (full mixing), spatial 1x3x3 in groups of G channels, temporal 3x1x1 (full)
    module = SEVModule(32, group_width=8)
    assert module.channel[0].weight.shape == (32, 32, 1, 1, 1)
    assert module.spatial[0].groups == 4 and module.spatial[0].weight.shape == (32, 8, 1, 3, 3)
    assert module.temporal[0].weight.shape == (32, 32, 3, 1, 1)
    x = torch.randn(1, 32, 3, 6, 6)
    assert module(x).shape == x.shape


def test_downsample_module_doubles_channels_and_halves_space():
    module = SEVModule(16, group_width=8, downsample=True).eval()
    x = torch.randn(1, 16, 3, 8, 8)
    y = module(x)
    assert y.shape == (1, 32, 3, 4, 4)  # time is never strided
    # the second half is the pooled + projected shortcut alone: it ignores the main branch
    with torch.no_grad():
        module.channel[0].weight.zero_()
    torch.testing.assert_close(module(x)[:, 16:], y[:, 16:])
    # odd sizes: the pooled shortcut rounds up like the strided convolution
    assert module(torch.randn(1, 16, 2, 7, 7)).shape == (1, 32, 2, 4, 4)


# Table 2 (SSv2, 174 classes, 16 x 224 x 224): G6 2.5M / 8.3 GFLOPs, G8 4.4M / 14.4 GFLOPs;
# Table 4 (Kinetics, 400 classes): G8 4.5M, G12 10.0M / 31.8 GFLOPs; 24 frames: G6 12.5, G8 21.7.
@pytest.mark.parametrize("name, classes, params, gflops", [
    ("SEVNet-G6-f16", 174, 2.5, 8.3), ("SEVNet-G8-f16", 174, 4.4, 14.4),
    ("SEVNet-G8-f16", 400, 4.5, 14.4), ("SEVNet-G12-f16", 400, 10.0, 31.8),
    ("SEVNet-G6-f24", 174, 2.5, 12.5), ("SEVNet-G8-f24", 174, 4.4, 21.7),
])
def test_params_and_flops_match_paper(name, classes, params, gflops):
    profile = profile_model(name, classes, 224)
    assert round(profile["params"] / 1e6, 1) == params
    assert round(profile["macs_conv"] / 1e9, 1) == gflops


def test_tp_and_imagenet_rejected():
    with pytest.raises(ModelError, match="temporal pooling"):
        build_model("SEVNet-G8-tp-f16", 10)
    with pytest.raises(ModelError, match="trained from scratch"):
        build_model("SEVNet-G8-f16", 10, pretrained="imagenet")
