"""I3D/S3D models: shapes, forward/backward, 2D→3D inflation (both conventions), local-file init."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from benchmark.errors import ModelError
from benchmark.models import BACKBONES, build_model, load_plugins
from benchmark.models.inflate import inflate_into, inflate_weight

BACKBONE_NAMES = ("InceptionV1", "ResNet18", "ResNet34", "ResNet50", "ResNet101")


def _randomised_2d(backbone: str, seed: int = 0) -> nn.Module:
    """A random 2D torchvision backbone in eval mode with non-trivial BN statistics and affines."""
    load_plugins()
    torch.manual_seed(seed)
    net = BACKBONES[backbone].builder()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0.0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0.0, 0.2)
    return net.eval()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """Local 2D weight files (never downloaded): backbone name -> (path, the 2D model)."""
    folder = tmp_path_factory.mktemp("weights")
    files = {}
    for backbone in ("ResNet18", "InceptionV1"):
        net = _randomised_2d(backbone)
        path = folder / f"{backbone}.pth"
        torch.save(net.state_dict(), path)
        files[backbone] = (path, net)
    return files


# --- shapes and training step -------------------------------------------------------------------

@pytest.mark.parametrize("tp", [False, True], ids=["plain", "tp"])
@pytest.mark.parametrize("backbone", [
    pytest.param(b, marks=pytest.mark.slow) if b in ("ResNet50", "ResNet101") else b for b in BACKBONE_NAMES])
@pytest.mark.parametrize("module", ["I3D", "S3D"])
def test_forward_backward_tiny_clip(module, backbone, tp):
    torch.manual_seed(0)
    name = f"{module}-{backbone}{'-tp' if tp else ''}-f8"
    model = build_model(name, 7).train()
    clip = torch.randn(2, 3, 8, 32, 32)
    steps = model.features(clip).shape[2]
    # tp halves T three times (8 → 1); S3D-InceptionV1's unpadded pool before 5a takes one more.
    assert steps == (1 if tp else 7 if (module, backbone) == ("S3D", "InceptionV1") else 8)
    logits = model(clip)
    assert logits.shape == (2, 7)
    logits.square().sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad


@pytest.mark.parametrize("name, steps", [
    ("I3D-InceptionV1-f16", 16), ("I3D-InceptionV1-tp-f16", 2), ("S3D-InceptionV1-f16", 15),
    ("S3D-InceptionV1-tp-f16", 2), ("I3D-ResNet50-f16", 16), ("I3D-ResNet50-tp-f16", 2),
    ("S3D-ResNet101-tp-f16", 2), ("S3D-ResNet18-f16", 16),
])
def test_feature_shapes_at_224(name, steps):
    with torch.device("meta"):
        model = build_model(name, 10)
        features = model.features(torch.empty(1, 3, 16, 224, 224))
    assert features.shape[2:] == (steps, 7, 7)


def test_s3d_inception_runs_on_clips_shorter_than_its_last_pool():
    """T=4 with tp reaches 5a with one step and 16×16 frames with 1×1 maps: the kernel-2 pool shrinks."""
    model = build_model("S3D-InceptionV1-tp-f4", 3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 4, 16, 16)).shape == (1, 3)


# --- inflation ------------------------------------------------------------------------------------

def test_inflate_weight_conventions():
    w = torch.randn(4, 3, 5, 5)
    copied, divided = inflate_weight(w, 3, "copy"), inflate_weight(w, 3, "divide")
    assert copied.shape == divided.shape == (4, 3, 3, 5, 5)
    for t in range(3):
        assert torch.equal(copied[:, :, t], w)
    assert_close(divided.sum(dim=2), w)
    with pytest.raises(ModelError, match="copy, divide"):
        inflate_weight(w, 3, "sum")


def test_inflated_conv_on_identical_frames_by_hand():
    """With zero temporal padding and a 3-tap kernel: interior frames see 3 copies of the frame, the
    two end frames only 2. So divide → conv2d inside and 2/3·conv2d at the ends; copy → 3× / 2×."""
    torch.manual_seed(0)
    w, frame = torch.randn(6, 4, 3, 3, dtype=torch.float64), torch.randn(1, 4, 9, 9, dtype=torch.float64)
    clip = frame.unsqueeze(2).expand(-1, -1, 5, -1, -1)
    per_frame = F.conv2d(frame, w, padding=1)
    for mode, inner, end in (("divide", 1.0, 2 / 3), ("copy", 3.0, 2.0)):
        out = F.conv3d(clip, inflate_weight(w, 3, mode), padding=1)
        for t in (1, 2, 3):
            assert_close(out[:, :, t], inner * per_frame)
        for t in (0, 4):
            assert_close(out[:, :, t], end * per_frame)


@pytest.mark.slow
def test_i3d_resnet18_divide_reproduces_tsn_at_frames_the_padding_cannot_reach(weights_file):
    """I3D-ResNet18 inflated with "divide" from a 2D model vs that model as TSN, on identical frames.

    The official design pads time with zeros, so the clip ends see a 2/3 kernel (above) and the
    error spreads one frame per 3-tap layer: stem + 16 block convs = temporal radius 17. Exactly
    equal is therefore the time step at distance ≥ 17 from both ends: with T = 35 the centre step.
    Its logits equal the TSN model's (whose frames are all identical); the end steps and the
    clip-level output (which averages them in) do not. (Steps between may or may not differ: the
    error at the frontier travels one path of edge taps, which a ReLU can switch off.)
    """
    path, net2d = weights_file["ResNet18"]
    tsn = build_model("TSN-ResNet18-f35", 10, pretrained=str(path)).eval().double()
    # Inflate in float64: "divide" stores W/3, and 3·fl32(W/3) ≠ W in float32 would blur the
    # equality at the 1e-7 level; in float64 it is exact up to rounding (~1e-16).
    i3d = build_model("I3D-ResNet18-f35", 10).eval().double()
    inflate_into(i3d, net2d.double().state_dict(), "divide")
    i3d.head.load_state_dict(tsn.head.state_dict())
    torch.manual_seed(1)
    clip = torch.randn(2, 3, 1, 16, 16, dtype=torch.float64).expand(-1, -1, 35, -1, -1)
    with torch.no_grad():
        expected = tsn(clip)
        per_step = i3d.head.fc(i3d.features(clip).mean(dim=(3, 4)).transpose(1, 2))  # (B, T, classes)
        clip_logits = i3d(clip)
    assert_close(per_step[:, 17], expected, rtol=1e-9, atol=1e-12)
    scale = expected.abs().max()
    for border in (0, 34):  # where the zero padding cuts a kernel tap: visibly different
        assert (per_step[:, border] - expected).abs().max() > 1e-6 * scale
    assert (clip_logits - expected).abs().max() > 1e-6 * scale


@pytest.mark.parametrize("frames", [1, 8])
def test_i3d_resnet18_divide_with_replicate_padding_equals_its_2d_model_on_a_static_clip(weights_file, frames):
    """The acceptance property, whole-model: with time padded by repetition (the official zero
    padding breaks it at the clip ends, see above), "divide"-inflated I3D-ResNet18 on a clip of
    identical frames gives exactly its 2D source's (TSN's) output; "copy" gives something else."""
    from benchmark.models.video3d import replicate_temporal_padding

    path, net2d = weights_file["ResNet18"]
    tsn = build_model(f"TSN-ResNet18-f{frames}", 10, pretrained=str(path)).eval()
    torch.manual_seed(2)
    clip = torch.randn(2, 3, 1, 32, 32).expand(-1, -1, frames, -1, -1)
    outputs = {}
    for mode in ("divide", "copy"):
        i3d = replicate_temporal_padding(build_model(f"I3D-ResNet18-f{frames}", 10, pretrained=str(path),
                                                     inflate=mode)).eval()
        i3d.head.load_state_dict(tsn.head.state_dict())
        with torch.no_grad():
            outputs[mode] = i3d(clip)
    with torch.no_grad():
        expected = tsn(clip)
    assert_close(outputs["divide"], expected, rtol=1e-4, atol=1e-5)
    assert (outputs["copy"] - expected).abs().max() > 1e-3 * expected.abs().max()


def test_i3d_inceptionv1_divide_reproduces_each_2d_unit(weights_file):
    """I3D-InceptionV1 inflated with "divide": every inflated unit (stem convs and the 9 inception
    blocks) computes its 2D unit at the time steps the zero padding cannot reach.

    The whole network is NOT equal to 2D GoogLeNet, by design of the official I3D: its pools pad
    spatially ((1,3,3)/(1,2,2) padding 1; 3×3×3 padding 1 before 3a/4a/5a) where GoogLeNet uses
    ceil-mode 3×3 pools and a 2×2 pool before 5a — same map sizes, shifted windows. So the exact
    property is asserted per unit, on identical frames, at the centre of a 2r+1 clip.
    """
    path, net2d = weights_file["InceptionV1"]
    i3d = build_model("I3D-InceptionV1-f8", 10, pretrained=str(path), inflate="divide").eval()
    inflate_into(i3d.double(), net2d.double().state_dict(), "divide")  # float64: see the ResNet test
    units = [("conv1", 3, 3), ("conv2", 64, 0), ("conv3", 64, 1)]
    units += [(name, getattr(net2d, name).branch1.conv.in_channels, 1)
              for name in ("inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                           "inception4d", "inception4e", "inception5a", "inception5b")]
    torch.manual_seed(2)
    for name, channels, radius in units:
        frame = torch.randn(1, channels, 5, 5, dtype=torch.float64)
        clip = frame.unsqueeze(2).expand(-1, -1, 2 * radius + 1, -1, -1)
        with torch.no_grad():
            got = getattr(i3d, name)(clip)[:, :, radius]
            want = getattr(net2d, name)(frame)
        assert_close(got, want, rtol=1e-9, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}")


# --- initialisation from a local 2D file ---------------------------------------------------------

def test_local_file_is_loaded_then_inflated_by_copy(weights_file):
    path, net2d = weights_file["ResNet18"]
    model = build_model("I3D-ResNet18-f8", 10, pretrained=str(path))  # official default: copy
    state3d, state2d = model.state_dict(), net2d.state_dict()
    for key, time_size in (("conv1.weight", 3), ("layer1.0.conv1.weight", 3), ("layer4.1.conv2.weight", 3),
                           ("layer2.0.downsample.0.weight", 1)):
        assert state3d[key].shape[2] == time_size
        for t in range(time_size):
            assert torch.equal(state3d[key][:, :, t], state2d[key]), key
    for key in ("bn1.running_var", "layer3.1.bn2.weight", "layer2.0.downsample.1.running_mean"):
        assert torch.equal(state3d[key], state2d[key]), key


@pytest.mark.parametrize("backbone", ["ResNet18", "InceptionV1"])
def test_s3d_gets_the_spatial_half_and_keeps_its_temporal_convs(weights_file, backbone):
    path, net2d = weights_file[backbone]
    model = build_model(f"S3D-{backbone}-f8", 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = inflate_into(model, net2d.state_dict(), "divide")
    temporal = {k for k in before if "_t." in k or k.startswith("head.")}
    assert set(report.new) == temporal and temporal
    assert report.unused == []
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in temporal)
    spatial = "layer1.0.conv1.weight" if backbone == "ResNet18" else "inception4a.branch2.1.conv.weight"
    assert after[spatial].shape[2] == 1
    assert torch.equal(after[spatial][:, :, 0], net2d.state_dict()[spatial])  # 1×k×k: no division


# --- errors ---------------------------------------------------------------------------------------

def test_bad_options_and_weights_are_rejected_clearly(tmp_path):
    with pytest.raises(ModelError, match="inflate must be one of copy, divide"):
        build_model("I3D-ResNet18-f8", 10, inflate="sum")
    with pytest.raises(ModelError, match=r"unknown build option\(s\) temporal.*valid options: dropout, inflate, pretrained"):
        build_model("S3D-ResNet18-f8", 10, temporal=3)
    wrong = tmp_path / "resnet34.pth"
    torch.save(BACKBONES["ResNet34"].builder().state_dict(), wrong)
    with pytest.raises(ModelError, match="resnet34.pth"):
        build_model("I3D-ResNet18-f8", 10, pretrained=str(wrong))
    model = build_model("I3D-ResNet18-f8", 10)
    with pytest.raises(ModelError, match="'conv1.weight' of shape"):
        inflate_into(model, {"conv1.weight": torch.zeros(64, 3, 5, 5)}, "copy")
