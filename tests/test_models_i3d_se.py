"""I3D-SE: squeeze-excitation on every residual branch of an I3D-ResNet, inflated from 2D weights."""

import pytest
import torch
import torchvision
from tiny_run import train_one_step

from benchmark.errors import ModelError
from benchmark.models import build_model, has_imagenet_weights, parse_model_name
from benchmark.models.profile import profile_model
from benchmark.models.squeeze_excite import SqueezeExcite3d

R50_BLOCK_OUT = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3


def test_a_module_on_residual_backbones_with_imagenet_weights():
    spec = parse_model_name("I3D-SE-ResNet50-f32")
    assert (spec.module, spec.backbone, spec.frames) == ("I3D-SE", "ResNet50", 32)
    assert has_imagenet_weights("I3D-SE-ResNet50-f32")
    with pytest.raises(ModelError, match="does not support backbone InceptionV1"):
        parse_model_name("I3D-SE-InceptionV1-f32")


def test_se_on_every_block_adds_exactly_its_weights():
    # SE with reduction 16 on a C-channel branch: C*C/16 + C/16 (reduce) + C/16*C + C (expand).
    model = build_model("I3D-SE-ResNet50-f8", 10)
    blocks = [b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer]
    assert all(isinstance(b.branch_end, SqueezeExcite3d) for b in blocks)
    i3d, se = (profile_model(f"{m}-ResNet50-f32", 400, 224) for m in ("I3D", "I3D-SE"))
    assert se["params"] - i3d["params"] == sum(2 * c * c // 16 + c // 16 + c for c in R50_BLOCK_OUT)
    assert se["macs_conv"] - i3d["macs_conv"] == sum(2 * c * c // 16 for c in R50_BLOCK_OUT)


def test_se_rescales_the_residual_branch_before_the_sum():
    torch.manual_seed(0)
    model = build_model("I3D-SE-ResNet18-f4", 3).eval()
    block = model.layer1[0]
    x = torch.randn(1, 64, 4, 8, 8)
    with torch.no_grad():
        branch = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
        s = torch.sigmoid(block.branch_end.expand(torch.relu(block.branch_end.reduce(branch.mean((2, 3, 4), True)))))
        assert torch.allclose(block(x), torch.relu(branch * s + x), atol=1e-6)


def test_inflated_like_i3d_and_equal_to_it_when_se_passes_everything(tmp_path):
    """From the same 2D file, every inflated weight equals I3D's; with each SE's gate forced to 1
    (expand weights 0, bias 30: sigmoid = 1 - 1e-13) the network computes I3D exactly."""
    torch.manual_seed(1)
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    i3d = build_model("I3D-ResNet18-f4", 3, pretrained=str(path)).eval()
    se = build_model("I3D-SE-ResNet18-f4", 3, pretrained=str(path)).eval()
    se_state = se.state_dict()
    for key, value in i3d.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(se_state[key], value), key
    se.head.load_state_dict(i3d.head.state_dict())
    with torch.no_grad():
        for m in se.modules():
            if isinstance(m, SqueezeExcite3d):
                m.expand.weight.zero_()
                m.expand.bias.fill_(30.0)
        clip = torch.randn(2, 3, 4, 32, 32)
        assert torch.allclose(se(clip), i3d(clip), atol=1e-5)


@pytest.mark.slow
def test_one_engine_step(tmp_path):
    train_one_step("I3D-SE-ResNet50-f4", tmp_path)
