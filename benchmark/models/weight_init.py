"""The one random initialisation of networks built from scratch (3D models, complete architectures)."""

from __future__ import annotations

from torch import nn


def msra_init(model: nn.Module, fc_std: float = 0.01) -> None:
    """He (fan-out) normal convs with zero bias, unit BN, ``N(0, fc_std)`` linear layers with zero bias.

    Visits ``model.modules()`` in order, so the same construction gives the same draws. ``fc_std``:
    0.001 for the official I3D/S3D models, 0.01 for the architectures' releases.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=fc_std)
            nn.init.zeros_(m.bias)
