"""The per-frame 2D video models: shapes, hand-computed operators, names, options and weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.models import build_model, input_normalization, list_backbones, parse_model_name
from benchmark.models.heads import FrameAveragingHead
from benchmark.models.modules.tam import TemporalAggregation
from benchmark.models.modules.tsm import TemporalShift
from benchmark.models.temporal_pooling import TemporalMaxPool

MODULES_2D = ("TSN", "TAM", "TSM", "Conv", "NLN")
BACKBONES = ("InceptionV1", "ResNet18", "ResNet34", "ResNet50", "ResNet101")
SUPPORTED = [(m, b) for m in MODULES_2D for b in BACKBONES
             if not (m in ("TSM", "NLN") and b == "InceptionV1")]


def _cases():
    for module, backbone in SUPPORTED:
        for tp in (False, True):
            marks = [pytest.mark.slow] if backbone in ("ResNet50", "ResNet101") else []
            yield pytest.param(module, backbone, tp, marks=marks, id=f"{module}-{backbone}-{'tp' if tp else 'notp'}")


@pytest.mark.parametrize("module,backbone,tp", list(_cases()))
def test_forward_backward_tiny_clip(module, backbone, tp):
    torch.manual_seed(0)
    name = f"{module}-{backbone}{'-tp' if tp else ''}-f8"
    model = build_model(name, 7)
    clip = torch.randn(2, 3, 8, 32, 32)
    logits = model(clip)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert model.frames_at_head == (1 if tp else 8)


def test_other_clip_lengths_and_sizes():
    """A model works for clip lengths other than its name's (including tp with T < 8) and non-square frames."""
    model = build_model("TAM-ResNet18-tp-f8", 3).eval()
    for t in (1, 2, 3, 5):
        assert model(torch.randn(1, 3, t, 32, 48)).shape == (1, 3)
        assert model.frames_at_head == 1
    assert build_model("TSN-InceptionV1-f4", 3)(torch.randn(2, 3, 4, 40, 32)).shape == (2, 3)


def test_tam_hand_computed():
    tam = TemporalAggregation(2)
    tam.frames = 3
    with torch.no_grad():
        tam.weight.copy_(torch.tensor([[0.5, 1.0, 2.0], [2.0, -1.0, 0.25]]))
    clip0 = torch.tensor([[1.0, -1.0], [2.0, 4.0], [3.0, -2.0]])  # (T, C)
    clip1 = torch.tensor([[10.0, 0.0], [0.0, 0.0], [0.0, 8.0]])
    x = torch.stack([clip0, clip1]).reshape(6, 2, 1, 1)  # (B*T, C, 1, 1)
    y = tam(x).reshape(2, 3, 2)
    # channel 0: 0.5*x[t-1] + x[t] + 2*x[t+1]; channel 1: 2*x[t-1] - x[t] + 0.25*x[t+1]; zero outside the clip
    expected0 = torch.tensor([[0 + 1 + 4, 0 + 1 + 1], [0.5 + 2 + 6, -2 - 4 - 0.5], [1 + 3 + 0, 8 + 2 + 0]])
    expected0 = expected0.clamp(min=0)  # ReLU: (t=1, c=1) is -6.5 -> 0
    assert torch.equal(y[0], expected0)
    # second clip: t=0 must not see the first clip's last frame (zero padding per clip)
    expected1 = torch.tensor([[10 + 0, 0 + 0], [5 + 0, 0 + 2.0], [0.0, -8 + 0.0]]).clamp(min=0)
    assert torch.equal(y[1], expected1)
    assert sum(p.numel() for p in tam.parameters()) == 3 * 2


def test_tsm_hand_computed():
    tsm = TemporalShift(8)
    tsm.frames = 3
    values = torch.tensor([[100.0 * t + c + 1 for c in range(8)] for t in range(3)])  # (T, C)
    y = tsm(values.reshape(3, 8, 1, 1)).reshape(3, 8)
    expected = torch.tensor([
        [101.0, 0.0, 3, 4, 5, 6, 7, 8],           # ch0 <- t=1, ch1 <- t=-1 (zero)
        [201.0, 2.0, 103, 104, 105, 106, 107, 108],  # ch0 <- t=2, ch1 <- t=0
        [0.0, 102.0, 203, 204, 205, 206, 207, 208],  # ch0 <- t=3 (zero), ch1 <- t=1
    ])
    assert torch.equal(y, expected)


def test_temporal_max_pool_hand_computed():
    pool = TemporalMaxPool()
    pool.frames = 5
    x = torch.tensor([3.0, 1.0, 4.0, 1.0, 5.0]).reshape(5, 1, 1, 1)
    assert pool(x).flatten().tolist() == [3.0, 4.0, 5.0]  # windows {pad,3,1} {1,4,1} {1,5,pad}
    assert [pool.frames_after(t) for t in (1, 2, 3, 8, 64)] == [1, 1, 2, 4, 32]


def test_tam_on_residual_branch_only():
    """A TAM that copies frame t-1 changes only the residual branch; the shortcut sees the raw input."""
    model = build_model("TAM-ResNet18-f4", 5).eval()
    block = model.features.layer1[0]
    tam, conv1 = block.conv1[0], block.conv1[1]
    assert isinstance(tam, TemporalAggregation) and isinstance(conv1, nn.Conv2d)
    with torch.no_grad():
        tam.weight.zero_()
        tam.weight[:, 0] = 1.0
        for bn in (block.bn1, block.bn2):  # non-trivial BN so the branch is not zero
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.bias.uniform_(-0.5, 0.5)
    x = torch.rand(4, 64, 8, 8)  # one clip of 4 frames, non-negative like a post-ReLU input
    shifted = torch.cat([torch.zeros(1, 64, 8, 8), x[:3]])  # frame t gets frame t-1
    with torch.no_grad():
        branch = block.bn2(block.conv2(block.relu(block.bn1(conv1(shifted)))))
        expected = torch.relu(x + branch)
        assert torch.allclose(block(x), expected, atol=1e-6)


@pytest.mark.parametrize("module, options", [("TAM", {"tam_init": "identity"}), ("Conv", {})])
def test_identity_initialised_operator_starts_as_tsn(module, options, tmp_path):
    import torchvision

    torch.manual_seed(3)
    weights = tmp_path / "resnet18.pth"  # stands in for ImageNet weights: a 2D backbone loaded from a file
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    tsn = build_model("TSN-ResNet18-f4", 6, pretrained=str(weights)).eval()
    other = build_model(f"{module}-ResNet18-f4", 6, pretrained=str(weights), **options).eval()
    other.head.load_state_dict(tsn.head.state_dict())  # operators may draw random numbers before the head
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(tsn(clip), other(clip), atol=1e-5)


def test_non_local_positions_and_zero_init():
    from benchmark.models.modules.nln import NonLocalBlock

    model = build_model("NLN-ResNet50-f4", 4)
    found = [name for name, m in model.named_modules() if isinstance(m, NonLocalBlock)]
    assert found == ["features.layer2.1.1", "features.layer2.3.1", "features.layer3.1.1",
                     "features.layer3.3.1", "features.layer3.5.1"]
    block = model.get_submodule("features.layer2.1.1").eval()
    block.frames = 2
    x = torch.randn(4, 512, 4, 4)
    assert torch.equal(block(x), x)  # zero-initialised final BN: the block starts as the identity


def test_head_averages_frame_logits():
    head = FrameAveragingHead(4, 3, dropout=0.0)
    feats = torch.randn(2 * 5, 4, 3, 3)
    per_frame = head.fc(feats.mean(dim=(2, 3))).view(2, 5, 3)
    assert torch.allclose(head(feats, 2), per_frame.mean(1), atol=1e-6)
    as_5d = feats.view(2, 5, 4, 3, 3).transpose(1, 2)  # (B, C, T, H, W)
    assert torch.allclose(head(as_5d), per_frame.mean(1), atol=1e-6)


def test_unknown_names_list_valid_choices():
    with pytest.raises(ModelError, match="unknown module 'XYZ'.*TSN.*TAM|unknown module 'XYZ'.*TAM.*TSN"):
        build_model("XYZ-ResNet50-f8", 10)
    with pytest.raises(ModelError, match=r"unknown backbone 'ResNet99'.*ResNet50"):
        build_model("TAM-ResNet99-f8", 10)
    with pytest.raises(ModelError, match="does not support backbone InceptionV1.*ResNet50"):
        build_model("TSM-InceptionV1-f8", 10)
    with pytest.raises(ModelError, match="unknown build option.*dropuot.*valid options: dropout, inflate, pretrained"):
        build_model("TSN-ResNet18-f8", 10, dropuot=0.3)
    with pytest.raises(ModelError, match="inflate must be one of copy, divide"):
        build_model("TSN-ResNet18-f8", 10, inflate="mean")
    assert parse_model_name("tam-resnet50-TP-f16").name == "TAM-ResNet50-tp-f16"


def test_input_normalization_per_backbone():
    assert input_normalization("TSN-ResNet50-f8") == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    # torchvision's GoogLeNet weights expect pixels in [-1, 1]
    assert input_normalization("TAM-InceptionV1-f8") == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert set(BACKBONES) <= set(list_backbones())


def test_local_pretrained_file(tmp_path):
    import torchvision

    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    model = build_model("TAM-ResNet18-f8", 5, pretrained=str(path))
    assert torch.equal(model.features.layer2[1].conv2.weight, source.layer2[1].conv2.weight)
    assert torch.equal(model.features.conv1.weight, source.conv1.weight)

    broken = tmp_path / "broken.pth"
    state = source.state_dict()
    del state["layer3.0.bn1.running_var"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, broken)
    with pytest.raises(ModelError, match=r"missing: layer3\.0\.bn1\.running_var; unexpected: extra\.weight"):
        build_model("TSN-ResNet18-f8", 5, pretrained=str(broken))
    with pytest.raises(ModelError, match="does not exist"):
        build_model("TSN-ResNet18-f8", 5, pretrained=str(tmp_path / "nope.pth"))


def test_local_pretrained_googlenet_with_aux_heads(tmp_path):
    """Files saved from torchvision's GoogLeNet with auxiliary heads load (the aux weights are dropped)."""
    import torchvision

    source = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    path = tmp_path / "g.pth"
    torch.save(source.state_dict(), path)
    model = build_model("TSN-InceptionV1-f2", 5, pretrained=path)
    assert torch.equal(model.features.inception4c.branch2[1].conv.weight, source.inception4c.branch2[1].conv.weight)
