"""The test-only backbone ``TinyResNet``: torchvision's ``BasicBlock``, one block per stage, widths
8-16-32-64 (about 50 thousand parameters), laid out as a torchvision ResNet so every module that
works on ResNet-18 (TSN, TAM, TSM, Conv, NLN, I3D, S3D, ...) builds on it.

Tests whose subject is not the network's size (engine, resume, signals, DDP, launch, claims, loggers,
status, collect, report) use it. ``tests/conftest.py`` names this file in ``STBENCH_PLUGINS`` and puts
its folder on ``PYTHONPATH``, so child processes (submitit, torchrun, SLURM jobs) see it too.

Tests whose subject is a moment of a run (a signal mid-epoch, a kill while it trains) set
``STBENCH_TINY_DELAY_S``: each forward pass of the 2D network then first sleeps that long, so the
moment lasts without using the CPU (a sleep changes nothing the run computes).
"""

from __future__ import annotations

import os
import time

from torch import nn

from benchmark.errors import ModelError
from benchmark.models import register_backbone
from benchmark.models.backbones.resnet import IMAGENET_MEAN, IMAGENET_STD, resnet_layout

NAME = "TinyResNet"
WIDTHS = (8, 16, 32, 64)
DELAY_VARIABLE = "STBENCH_TINY_DELAY_S"


def _delay(module, args) -> None:
    """A forward pre-hook on the stem (the video models call the backbone's children, not its
    ``forward``): sleeps ``STBENCH_TINY_DELAY_S`` seconds when set."""
    delay = float(os.environ.get(DELAY_VARIABLE) or 0)
    if delay > 0:
        time.sleep(delay)


class TinyResNet(nn.Module):
    """torchvision's ``ResNet`` with ``BasicBlock`` × [1, 1, 1, 1] at widths 8-64 (torchvision's own
    class fixes the widths at 64-512): the same child names, so ``resnet_layout`` reads it."""

    def __init__(self, num_classes: int = 1000) -> None:
        # imported here, as the built-in backbones do: a login-node command (launch, status) loads
        # this file for the backbone's name only, and need not import torchvision for it
        from torchvision.models.resnet import BasicBlock

        super().__init__()
        self.conv1 = nn.Conv2d(3, WIDTHS[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = WIDTHS[0]
        for stage, width in enumerate(WIDTHS, start=1):
            stride = 1 if stage == 1 else 2
            downsample = None
            if stride != 1 or inplanes != width:
                downsample = nn.Sequential(nn.Conv2d(inplanes, width, 1, stride, bias=False), nn.BatchNorm2d(width))
            setattr(self, f"layer{stage}", nn.Sequential(BasicBlock(inplanes, width, stride, downsample)))
            inplanes = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


@register_backbone(NAME, layout=resnet_layout("basic", (1, 1, 1, 1), widths=WIDTHS), mean=IMAGENET_MEAN,
                   std=IMAGENET_STD, description="test-only ResNet (BasicBlock [1,1,1,1], widths 8-64)")
def build_tiny_resnet(pretrained=None):
    if pretrained:
        raise ModelError(f"{NAME} has no pretrained weights (a test backbone); use pretrained: null")
    net = TinyResNet()
    net.conv1.register_forward_pre_hook(_delay)
    return net
