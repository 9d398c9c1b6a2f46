"""SlowFast: which frames each pathway sees, the lateral fusion, and the published cost figures."""

import pytest
import torch
from tiny_run import train_one_step

from benchmark.errors import ModelError
from benchmark.models import build_model, input_normalization, parse_model_name
from benchmark.models.architectures.slowfast import Lateral
from benchmark.models.profile import profile_model

NAMES = ["SlowFast4x16-ResNet50-f32", "SlowFast8x8-ResNet50-f32", "SlowFast8x8-ResNet101-f32",
         "SlowFast16x8-ResNet101-f64"]


def test_registered_with_pyslowfast_statistics():
    for name in NAMES:
        spec = parse_model_name(name.lower())
        assert spec.is_architecture and spec.name == name
        assert input_normalization(name) == ((0.45,) * 3, (0.225,) * 3)


@pytest.mark.parametrize("name, alpha", [("SlowFast8x8-ResNet50-f32", 4), ("SlowFast4x16-ResNet50-f32", 8)])
def test_slow_pathway_sees_every_alpha_th_frame(name, alpha):
    """Frame t of the clip is the constant t: the stems' inputs say which frames each pathway got."""
    model = build_model(name, 3).eval()
    seen = {}
    for key in ("slow_stem", "fast_stem"):
        getattr(model, key).register_forward_pre_hook(
            lambda mod, args, key=key: seen.__setitem__(key, args[0][0, :, :, 0, 0]))
    clip = torch.arange(32.0).view(1, 1, 32, 1, 1).expand(1, 3, 32, 32, 32).contiguous()
    with torch.no_grad():
        model(clip)
    assert seen["fast_stem"].tolist() == [list(range(32))] * 3
    assert seen["slow_stem"].tolist() == [list(range(0, 32, alpha))] * 3


def test_lateral_connection_maps_fast_onto_slow_time_steps():
    # 32 Fast frames, alpha 4, kernel 7: 8 output steps (the Slow pathway's), 2x the channels.
    lateral = Lateral(8, alpha=4, k=7)
    out = lateral(torch.randn(1, 8, 32, 5, 5))
    assert out.shape == (1, 16, 8, 5, 5)
    assert lateral.conv.kernel_size == (7, 1, 1) and lateral.conv.stride == (4, 1, 1)


def test_frames_must_be_a_multiple_of_alpha_and_tp_is_refused():
    with pytest.raises(ModelError, match="multiple of alpha = 8"):
        build_model("SlowFast4x16-ResNet50-f12", 3)
    with pytest.raises(ModelError, match="does not support temporal pooling"):
        build_model("SlowFast8x8-ResNet50-tp-f32", 3)
    with pytest.raises(ModelError, match="trained from scratch"):
        build_model("SlowFast8x8-ResNet50-f32", 3, pretrained="imagenet")


# Paper 002 Table 2 (GFLOPs, multiply-adds, one 256x256 clip: the reference model zoo's convention),
# SlowFast's own Table 2 for R50-4x16 (36.1), and the zoo's 34.57M parameters of R50-8x8 (400 classes).
@pytest.mark.parametrize("name, printed", [
    ("SlowFast8x8-ResNet50-f32", 65.7), ("SlowFast4x16-ResNet50-f32", 36.1), ("SlowFast8x8-ResNet101-f32", 125.9), ("SlowFast16x8-ResNet101-f64", 213),
])
def test_gflops_match_paper_table_2(name, printed):
    gmacs = profile_model(name, 400, 256)["macs_conv"] / 1e9
    digits = 0 if isinstance(printed, int) else 1
    assert round(gmacs, digits) == printed


def test_params_match_model_zoo():
    assert round(profile_model("SlowFast8x8-ResNet50-f32", 400, 64)["params"] / 1e6, 2) == 34.57


def test_r50_16x8_figure_is_not_reproduced():
    # Table 2 prints 124.5 G for SlowFast-R50-16x8 (its SSv2 row, Kinetics-pretrained). The 16x8 R50
    # built like the 8x8 one (whose 65.7 G matches) costs exactly twice as much, 131.42 G at 256²
    # (the lateral kernel 5 instead of 7 would save 0.8 G; a 224² crop gives 100.6 G). The row's
    # configuration is not stated: not reproduced, the computed value is asserted.
    gmacs = profile_model("SlowFast16x8-ResNet50-f64", 174, 256)["macs_conv"] / 1e9
    assert gmacs == pytest.approx(131.416, abs=1e-3)
    assert gmacs == pytest.approx(2 * profile_model("SlowFast8x8-ResNet50-f32", 174, 256)["macs_conv"] / 1e9)


@pytest.mark.slow
def test_forward_backward_and_one_engine_step(tmp_path):
    torch.manual_seed(0)
    model = build_model("SlowFast8x8-ResNet50-f8", 5)
    out = model(torch.randn(2, 3, 8, 32, 32))
    assert out.shape == (2, 5)
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.laterals[0].conv.weight.grad.abs().sum() > 0  # the Fast pathway feeds the Slow one
    train_one_step("SlowFast4x16-ResNet50-f8", tmp_path)
