"""The profiler's two MAC conventions, declared operator costs, and the ``stbench profile`` CLI."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from conftest import TINY
from torch import nn

from benchmark.errors import ModelError
from benchmark.models import profile_model
from benchmark.models.profile import count_conv_macs


def test_per_frame_macs_of_the_official_backbones():
    """The official implementation's per-frame figures (conv only, classifier excluded)."""
    assert profile_model("TSN-ResNet50-f1", 400)["macs_conv"] == 4_087_136_256
    assert profile_model("TSN-InceptionV1-f1", 400)["macs_conv"] == 1_497_352_192


def test_params_include_the_classifier_and_macs_all_adds_it():
    r50 = profile_model("TSN-ResNet50-f2", 87)
    assert r50["params"] == 23_508_032 + 2048 * 87 + 87  # torchvision ResNet-50 without its fc, + our fc
    # FlopCounterMode sees the convs plus the classifier applied to each of the 2 frames
    assert r50["macs_all"] - r50["macs_conv"] == 2 * 2048 * 87


def test_tam_declares_three_depthwise_convs():
    """3·C·H·W per TAM per frame, summed over ResNet-50's 16 block inputs at 224×224."""
    block_inputs = ([(64, 56), (256, 56), (256, 56)] + [(256, 56)] + [(512, 28)] * 3
                    + [(512, 28)] + [(1024, 14)] * 5 + [(1024, 14)] + [(2048, 7)] * 2)
    per_frame = sum(3 * c * s * s for c, s in block_inputs)
    tam, tsn = profile_model("TAM-ResNet50-f4", 87), profile_model("TSN-ResNet50-f4", 87)
    assert tam["macs_conv"] - tsn["macs_conv"] == 4 * per_frame
    assert tam["params"] - tsn["params"] == sum(3 * c for c, _ in block_inputs)


def _conv(out_channels, size, in_channels, kernel):
    return out_channels * size * size * in_channels * kernel * kernel


def test_temporal_pooling_halves_frames_three_times():
    """ResNet-18 by hand; with tp, layer2 sees T/2 frames, layer3 T/4 and layer4 T/8."""
    stem = _conv(64, 112, 3, 7) + 4 * _conv(64, 56, 64, 3)  # conv1, layer1

    def stage(c, size):  # strided 3x3, three 3x3, 1x1 downsample
        return _conv(c, size, c // 2, 3) + 3 * _conv(c, size, c, 3) + _conv(c, size, c // 2, 1)

    layer2, layer3, layer4 = stage(128, 28), stage(256, 14), stage(512, 7)
    assert profile_model("TSN-ResNet18-f1", 10)["macs_conv"] == stem + layer2 + layer3 + layer4 == 1_813_561_344
    assert profile_model("TSN-ResNet18-tp-f8", 10)["macs_conv"] == 8 * stem + 4 * layer2 + 2 * layer3 + layer4
    # odd and short clips: ceil(T/2) frames after each pool
    assert profile_model("TSN-ResNet18-tp-f3", 10)["macs_conv"] == 3 * stem + 2 * layer2 + layer3 + layer4


def test_a_new_operator_declares_its_own_cost():
    """The profiler asks ``conv_macs`` and does not look inside the declaring module."""

    class Declared(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.inner(x)

        def conv_macs(self, inputs, output):
            return 7 * output.shape[0]

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), Declared(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 5))
    macs = count_conv_macs(model, torch.zeros(2, 3, 8, 8))
    assert macs == 2 * 4 * 8 * 8 * (3 * 9) + 7 * 2 + 2 * 5 * 256


def test_profile_size_and_input_validation():
    with pytest.raises(ModelError, match="unknown backbone 'ResNet5'"):
        profile_model("TSN-ResNet5-f8", 10)
    with pytest.raises(ModelError, match="at least 32"):
        profile_model("TSN-ResNet18-f8", 10, size=16)
    # every feature map is twice as wide at 448 (224 halves to 7 exactly; 112 would round 3.5 up)
    large = profile_model("TSN-ResNet18-f1", 10, size=448)["macs_conv"]
    assert large == 4 * profile_model("TSN-ResNet18-f1", 10)["macs_conv"]


def _cli(argv):
    from benchmark.cli import models

    parser = argparse.ArgumentParser()
    models.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_profile_json_and_table(capsys):
    assert _cli(["profile", "tam-resnet50-f8", "--classes", "87", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"model": "TAM-ResNet50-f8", "classes": 87, "size": 224,
                    **profile_model("TAM-ResNet50-f8", 87)}
    assert data["params"] == 23_725_655 and data["macs_conv"] == 32_831_963_136
    assert _cli(["profile", "TSN-InceptionV1-f8", "--classes", "200", "--size", "112"]) == 0
    table = capsys.readouterr().out
    expected = profile_model("TSN-InceptionV1-f8", 200, size=112)
    assert f"{expected['params']:,}" in table and f"{expected['macs_conv']:,}" in table
    assert "TSN-InceptionV1-f8" in table
    with pytest.raises(ModelError, match="unknown module 'TXM'.*TSN"):
        _cli(["profile", "TXM-ResNet50-f8", "--classes", "5"])


def test_rectangular_frames_count_their_area(capsys):
    # 448 = 2 x 224 and every stride divides it: each layer's output area doubles exactly.
    square = profile_model("TSN-ResNet18-f2", 10, 224)["macs_conv"]
    assert profile_model("TSN-ResNet18-f2", 10, (224, 448))["macs_conv"] == 2 * square
    assert profile_model("TSN-ResNet18-f2", 10, (224, 224))["macs_conv"] == square
    assert _cli(["profile", "TSN-ResNet18-f2", "--classes", "10", "--size", "224x448", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["size"] == [224, 448] and data["macs_conv"] == 2 * square
    with pytest.raises(ModelError, match="at least 32 pixels"):
        profile_model("TSN-ResNet18-f2", 10, (16, 224))
    with pytest.raises(SystemExit):
        _cli(["profile", "TSN-ResNet18-f2", "--classes", "10", "--size", "224x"])
    assert "HEIGHTxWIDTH" in capsys.readouterr().err


def test_cli_models_lists_everything(capsys):
    assert _cli(["models", "--format", "json"]) == 0
    cat = json.loads(capsys.readouterr().out)
    modules = {m["name"]: m for m in cat["modules"]}
    assert {"TSN", "TAM", "TSM", "Conv", "NLN"} <= set(modules)
    # the shipped ResNets, then the test-only TinyResNet (a plugin backbone: tests/conftest.py)
    assert modules["TSM"]["backbones"] == ["ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", TINY]
    assert {"InceptionV1", "ResNet18", "ResNet34", "ResNet50", "ResNet101"} <= {b["name"] for b in cat["backbones"]}
    assert _cli(["models"]) == 0
    text = capsys.readouterr().out
    assert "TAM" in text and "InceptionV1" in text and "Architectures" in text
