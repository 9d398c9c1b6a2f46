"""TAM's initialisation and TSM's placement as in the official implementations."""

import math

import pytest
import torch
import torchvision
from torch import nn

from benchmark.engine.builders import build_run_model
from benchmark.engine.run_config import load_run_config
from benchmark.errors import ModelError
from benchmark.grid.spec import load_experiment
from benchmark.models import build_model
from benchmark.models.modules.tam import TemporalAggregation
from benchmark.models.modules.tsm import TemporalShift
from benchmark.package_data import find_yaml


def tams(model):
    return [m for m in model.modules() if isinstance(m, TemporalAggregation)]


def assert_fan_out_normal(model):
    """Each TAM's 3·C weights ~ N(0, 2/C) (kaiming_normal_, fan_out, of three (C, 1, 1, 1) convs)."""
    pooled = []
    for tam in tams(model):
        w = tam.weight.detach().flatten()
        sigma = math.sqrt(2.0 / tam.channels)
        # sample std of n normals: relative standard error 1/sqrt(2n); 5 of them bound it
        assert abs(w.std().item() / sigma - 1) < 5 / math.sqrt(2 * w.numel()), (tam.channels, w.std())
        pooled.append(w / sigma)
    z = torch.cat(pooled)
    assert abs(z.mean().item()) < 5 / math.sqrt(z.numel())
    assert abs((z ** 2).mean().item() - 1) < 5 * math.sqrt(2 / z.numel())


def test_official_resnet_init_is_fan_out_normal():
    torch.manual_seed(0)
    model = build_model("TAM-ResNet50-f8", 10)  # tam_init defaults to "official"
    assert len(tams(model)) == 16
    assert_fan_out_normal(model)


def test_official_resnet_init_is_kept_with_imagenet_weights(tmp_path):
    # The official code loads ImageNet weights with strict=False after its init: TAM keeps N(0, 2/C).
    torch.manual_seed(0)
    path = tmp_path / "r50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    model = build_model("TAM-ResNet50-f8", 10, pretrained=str(path), tam_init="official")
    assert_fan_out_normal(model)


def test_official_inception_init_is_pytorch_default_uniform():
    torch.manual_seed(0)
    w = torch.cat([t.weight.detach().flatten() for t in tams(build_model("TAM-InceptionV1-f8", 10))])
    assert w.abs().max() <= 1.0 and w.min() < -0.99 and w.max() > 0.99
    assert abs(w.std().item() - 1 / math.sqrt(3)) < 5 * 0.3 / math.sqrt(w.numel())  # U(-1,1): std 0.577


def test_identity_with_2d_weights_equals_tsn(tmp_path):
    torch.manual_seed(3)
    path = tmp_path / "r50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    tsn = build_model("TSN-ResNet50-f4", 6, pretrained=str(path)).eval()
    tam = build_model("TAM-ResNet50-f4", 6, pretrained=str(path), tam_init="identity").eval()
    assert all(torch.equal(t.weight[:, 1], torch.ones(t.channels)) and not t.weight[:, [0, 2]].any()
               for t in tams(tam))
    tam.head.load_state_dict(tsn.head.state_dict())
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(tsn(clip), tam(clip), atol=1e-5)


def test_uniform_reproduces_the_previous_from_scratch_init_bit_for_bit():
    """``uniform`` is what TAM drew from scratch before ``tam_init`` existed (the quickstart's init):
    the torchvision ResNet, then one U(-1, 1) (C, 3) draw per block, in block order."""
    torch.manual_seed(0)
    model = build_model("TAM-ResNet18-f8", 4, tam_init="uniform")
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    blocks = [b for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for b in layer]
    expected = [torch.empty(b.conv1.in_channels, 3).uniform_(-1.0, 1.0) for b in blocks]
    assert len(tams(model)) == len(expected)
    for tam, reference in zip(tams(model), expected):
        assert torch.equal(tam.weight.detach(), reference)
    assert torch.equal(model.features.conv1.weight, net.conv1.weight)


def test_quickstart_keeps_uniform_init():
    runs = load_experiment(find_yaml("quickstart", "experiments")).runs()
    options = {r.run_id: r.config["model_options"] for r in runs}
    assert all(options[k] == ({"tam_init": "uniform"} if "/TAM-" in k else {}) for k in options)


def test_tam_init_through_the_run_config_and_bad_values():
    cfg = load_run_config({"model": "TAM-ResNet18-f4", "dataset": "synthetic-temporal", "pretrained": None,
                           "model_options": {"tam_init": "identity"}})
    model = build_run_model(cfg, 3)
    assert all(torch.equal(t.weight[:, 1], torch.ones(t.channels)) for t in tams(model))
    with pytest.raises(ModelError, match="tam_init must be one of official, identity, uniform"):
        build_model("TAM-ResNet18-f4", 3, tam_init="kaiming")
    with pytest.raises(ModelError, match="unknown build option.*tam_init"):
        build_model("TSN-ResNet18-f4", 3, tam_init="identity")


@pytest.mark.parametrize("backbone, per_stage", [
    ("ResNet50", [3, 4, 6, 3]),  # every block
    ("ResNet101", [2, 2, 12, 2]),  # layer3 has 23 blocks: n_round = 2, every other block of every stage
    ("ResNet152", [2, 4, 18, 2]),
])
def test_tsm_shifts_every_other_block_in_deep_resnets(backbone, per_stage):
    model = build_model(f"TSM-{backbone}-f4", 3)
    for layer, count in zip(("layer1", "layer2", "layer3", "layer4"), per_stage):
        blocks = list(getattr(model.features, layer))
        shifted = [isinstance(b.conv1, nn.Sequential) and isinstance(b.conv1[0], TemporalShift) for b in blocks]
        assert sum(shifted) == count
        step = 1 if count == len(blocks) else 2
        assert shifted == [i % step == 0 for i in range(len(blocks))]
