"""bLVNet-TAM: big/little branch shapes, local vs global fusion, training step, paper figures."""

import pytest
import torch

from benchmark.errors import ModelError
from benchmark.models import build_model, list_modules, parse_model_name
from benchmark.models.architectures._common import load_local_weights
from benchmark.models.architectures.blvnet_tam import share_with_pair, split_pairs
from benchmark.models.profile import profile_model


@pytest.fixture(scope="module")
def blvnet():
    """One 4-frame (2 pairs) bLVNet-TAM-50 shared by the tests: building 25M parameters takes time."""
    torch.manual_seed(0)
    return build_model("bLVNet-TAM-ResNet50-f4", 5).eval()


def test_name_is_module_on_backbone():
    assert "bLVNet-TAM" in list_modules()
    spec = parse_model_name("bLVNet-TAM-ResNet101-f32")
    assert (spec.module, spec.backbone, spec.frames) == ("bLVNet-TAM", "ResNet101", 32)
    with pytest.raises(ModelError, match="does not support backbone ResNet18"):
        parse_model_name("bLVNet-TAM-ResNet18-f16")


def test_pairs_split_and_share():
    x = torch.arange(2 * 6).float().view(12, 1, 1, 1)  # 2 clips of 6 frames
    little, big = split_pairs(x, 6)
    assert little.flatten().tolist() == [0, 2, 4, 6, 8, 10]
    assert big.flatten().tolist() == [1, 3, 5, 7, 9, 11]
    assert share_with_pair(big).flatten().tolist() == [1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11]


def test_branch_shapes_and_merging(blvnet):
    seen = {}
    hooks = [blvnet.get_submodule(name).register_forward_hook(
        lambda m, i, o, name=name: seen.__setitem__(name, (i[0].shape, o.shape)))
        for name in ("layer1.big", "layer1.little", "layer1.little_e", "layer1", "layer4")]
    with torch.no_grad():
        blvnet(torch.randn(2, 3, 4, 64, 64))
    for hook in hooks:
        hook.remove()
    # 2 clips x 2 pairs: each branch sees one frame per pair at the 16x16 stem resolution
    assert seen["layer1.big"] == ((4, 64, 16, 16), (4, 256, 8, 8))  # deep branch at half resolution
    assert seen["layer1.little"] == ((4, 64, 16, 16), (4, 128, 16, 16))  # narrow branch at full
    assert seen["layer1.little_e"][1] == (4, 256, 16, 16)  # widened to match before the sum
    assert seen["layer1"][1] == (8, 256, 8, 8)  # fused map given back to both frames of each pair
    assert seen["layer4"][0] == (4, 1024, 4, 4)  # last stage: one map per pair, not per frame
    assert seen["layer4"][1] == (4, 2048, 2, 2)


def test_local_fusion_within_pairs_global_fusion_through_tam():
    torch.manual_seed(0)
    model = build_model("bLVNet-TAM-ResNet50-f4", 5).eval()  # own copy: the test edits a TAM
    features = {}
    model.layer4.register_forward_hook(lambda m, i, o: features.__setitem__("pairs", o.detach()))
    clip = torch.randn(1, 3, 4, 32, 32)
    changed = clip.clone()
    changed[:, :, 3] += 1.0  # the big frame of the second pair

    def pair_features(x):
        with torch.no_grad():
            model(x)
        return features["pairs"]

    base, after = pair_features(clip), pair_features(changed)
    # TAMs start as the identity, so only the two frames of a pair interact (local fusion)
    torch.testing.assert_close(after[0], base[0])
    assert not torch.allclose(after[1], base[1])
    # once a TAM weighs the neighbouring frame, the first pair sees the second (global fusion)
    with torch.no_grad():
        model.layer1.tam.weight[:, 2] = 0.5
    base, after = pair_features(clip), pair_features(changed)
    assert not torch.allclose(after[0], base[0])


@pytest.mark.slow
def test_forward_backward_tiny_clip(blvnet):
    blvnet.train()
    logits = blvnet(torch.randn(2, 3, 4, 32, 32))
    assert logits.shape == (2, 5)
    logits.logsumexp(1).sum().backward()
    blvnet.eval()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in blvnet.parameters())
    assert blvnet.conv1.weight.grad.abs().sum() > 0


# Paper Tables 1/2 (174 classes, 224 x 224): bLResNet-50 8x2: 25.0M / 23.8 GFLOPs, 16x2: 47.7;
# bLResNet-101: 40.2M, 8x2 32.1, 32x2 128.6 GFLOPs. Table 3 (Kinetics, 256 crop): 8x2 31.1.
@pytest.mark.parametrize("name, classes, size, params, gflops", [
    ("bLVNet-TAM-ResNet50-f16", 174, 224, 25.0, 23.8),
    ("bLVNet-TAM-ResNet50-f32", 174, 224, 25.0, 47.7),
    ("bLVNet-TAM-ResNet101-f16", 174, 224, 40.2, 32.1),
    ("bLVNet-TAM-ResNet101-f64", 174, 224, 40.2, 128.6),
    ("bLVNet-TAM-ResNet50-f16", 400, 256, None, 31.1),
])
def test_params_and_flops_match_paper(name, classes, size, params, gflops):
    profile = profile_model(name, classes, size)
    if params is not None:
        assert round(profile["params"] / 1e6, 1) == params
    assert round(profile["macs_conv"] / 1e9, 1) == gflops


def test_invalid_requests():
    with pytest.raises(ModelError, match="frames must be even"):
        build_model("bLVNet-TAM-ResNet50-f5", 10)
    with pytest.raises(ModelError, match="temporal pooling"):
        build_model("bLVNet-TAM-ResNet50-tp-f16", 10)
    with pytest.raises(ModelError, match="not in torchvision"):
        build_model("bLVNet-TAM-ResNet50-f4", 10, pretrained="imagenet")


def test_loads_imagenet_blresnet_checkpoint_without_tam(blvnet, tmp_path):
    # An ImageNet bLResNet checkpoint has no TAMs and a 1000-class 'fc': those keep their init.
    state = {k: v.clone() for k, v in blvnet.state_dict().items() if "tam." not in k and not k.startswith("head.")}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "blresnet50.pth")
    model = build_model("bLVNet-TAM-ResNet50-f4", 10, pretrained=str(tmp_path / "blresnet50.pth"))
    torch.testing.assert_close(model.layer2.big[0].conv2.weight, blvnet.layer2.big[0].conv2.weight)
    assert model.head.fc.out_features == 10
    del state["layer3.fusion.0.conv1.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ModelError, match="missing: layer3.fusion.0.conv1.weight"):
        tams = tuple(k for k in model.state_dict() if "tam." in k)
        load_local_weights(model, tmp_path / "broken.pth", "bLVNet", imagenet_hint="",
                           optional=tams + ("head.",), ignore=("fc.",))


def test_loads_trained_release_checkpoint(blvnet, tmp_path):
    # The authors' release names the model 'baseline_model', the classifier 'new_fc' and keeps each
    # TAM as three depthwise 1x1 convs 'prev'/'curr'/'next' of shape (C, 1, 1, 1), where out_t
    # adds prev(x)_{t-1}: a release TAM with prev = 1, curr = next = 0 delays the clip by one frame.
    release = {}
    for key, value in blvnet.state_dict().items():
        if key.startswith("head.fc."):
            release["new_fc." + key.removeprefix("head.fc.")] = value
        elif key.endswith("tam.weight"):
            prefix = "baseline_model." + key.removesuffix("weight")
            for column, offset in enumerate(("prev", "curr", "next")):
                release[prefix + offset + ".weight"] = value[:, column].reshape(-1, 1, 1, 1).clone()
        else:
            release["baseline_model." + key] = value
    for offset, fill in (("prev", 1.0), ("curr", 0.0), ("next", 0.0)):
        release[f"baseline_model.tam.{offset}.weight"].fill_(fill)
    torch.save(release, tmp_path / "release.pth")
    model = build_model("bLVNet-TAM-ResNet50-f4", 5, pretrained=str(tmp_path / "release.pth")).eval()
    maps = torch.randn(4, 64, 3, 3)  # one clip of 4 frames at the stem TAM's width
    delayed = torch.cat([torch.zeros(1, 64, 3, 3), maps[:3].relu()])
    torch.testing.assert_close(model.tam(maps), delayed)
    torch.testing.assert_close(model.layer2.tam.weight, blvnet.layer2.tam.weight)
    torch.testing.assert_close(model.head.fc.weight, blvnet.head.fc.weight)
    # a release file missing one TAM is an error, not a silent identity TAM
    del release["baseline_model.layer3.tam.next.weight"]
    torch.save(release, tmp_path / "broken_release.pth")
    with pytest.raises(ModelError, match="layer3.tam lacks"):
        build_model("bLVNet-TAM-ResNet50-f4", 5, pretrained=str(tmp_path / "broken_release.pth"))
