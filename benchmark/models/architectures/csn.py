"""ir-CSN and ip-CSN on ResNet-101/152 (Tran et al., "Video Classification with Channel-Separated
Convolutional Networks", ICCV 2019), trained from scratch.

Interaction-reduced CSN (``CSN-ResNet101``): the 3D ResNet whose bottleneck 3×3×3 conv is
channel-wise (depthwise, groups = channels); the 1×1×1 convs keep all channel interactions.
Interaction-preserved CSN (``ipCSN-ResNet101``): a 1×1×1 conv and BN (no ReLU, as VMZ's
``IPConv3DDepthwise``) before that channel-wise conv. Paper 002's "CSN-ResNet101, 83 G" is the
cost of ip-CSN-101 (83.01 G at 256²; ir-CSN-101 costs 73.75 G). Built by the backbone's own 3D
ResNet builder (``layout.video3d``: 3×7×7 stem with stride (1, 2, 2) and a 1×3×3 max pool, the
torchvision stage table), with time strided by 2 in the first block of res3–res5 (the CSN paper's
layout, which is that builder's ``tp`` striding), so a 32-frame clip ends at 4 time steps. The
paper trains from scratch (CSN can't take ImageNet 2D weights: a depthwise kernel has no 2D
counterpart) with the head of the 3D ResNets: global pool, dropout, fc. The channel-wise convs are
He-initialised over their fan-in (see :func:`init_channel_wise`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from benchmark.models.architectures._common import load_local_weights
from benchmark.models.options import check_dropout, check_options, reject_tp
from benchmark.models.registry import BACKBONES, register_architecture
from benchmark.models.video3d_units import ConvUnit, Units3d

PAPER = "Tran et al., Video Classification with Channel-Separated Convolutional Networks, ICCV 2019"
BACKBONES_OF = {"CSN-ResNet101": "ResNet101", "CSN-ResNet152": "ResNet152"}
IP_BACKBONES_OF = {"ipCSN-ResNet101": "ResNet101", "ipCSN-ResNet152": "ResNet152"}


@dataclass(frozen=True)
class ChannelWise(ConvUnit):
    """k×k → k×k×k with one filter per channel (groups = channels); stride in time and space.
    ``preserve``: a 1×1×1 conv + BN first (ip-CSN), one part so that no ReLU comes between."""

    preserve: bool = False

    def parts(self, in_channels, out_channels, kernel_size, stride=(1, 1), *, groups=1, bn_eps=1e-5,
              temporal_bias=False):
        if in_channels != out_channels:
            raise ValueError(f"a channel-wise conv keeps the width, got {in_channels} -> {out_channels}")
        k = kernel_size
        conv = nn.Conv3d(in_channels, out_channels, k, (stride[0], stride[1], stride[1]), k // 2,
                         groups=in_channels, bias=False)
        if self.preserve:
            conv = nn.Sequential(nn.Conv3d(in_channels, in_channels, 1, bias=False),
                                 nn.BatchNorm3d(in_channels, eps=bn_eps), conv)
        return [("", conv, nn.BatchNorm3d(out_channels, eps=bn_eps))]


UNITS = Units3d(conv=ChannelWise())
IP_UNITS = Units3d(conv=ChannelWise(preserve=True))


def init_channel_wise(model: nn.Module) -> None:
    """He-initialise the channel-wise convs over their fan-in (27 inputs per output).

    The family's init (fan-out, C·27) starts them about C times too weak; BN then rescales the
    gradients by as much, and one SGD step at lr 0.01 made a fresh ResNet-101 CSN overflow in eval
    mode (running statistics still near their start). With fan-in every layer starts at unit gain.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv3d) and m.groups > 1 and m.groups == m.in_channels:
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")


def _builder(name: str, backbone: str, units: Units3d):
    def build(spec, num_classes: int, **options):
        check_options(spec.name, options)
        reject_tp(spec, "CSN always strides time by 2 in res3-res5")
        dropout = check_dropout(spec.name, options.get("dropout", 0.5))
        model = BACKBONES[backbone].layout.video3d(units, num_classes, tp=True, dropout=dropout)
        init_channel_wise(model)
        load_local_weights(model, options.get("pretrained"), spec.name,
                           imagenet_hint="CSN is trained from scratch; pass None or a local checkpoint "
                                         "saved from this model")
        return model

    build.__doc__ = f"Build {name} for ``spec.frames`` frames."
    return build


for _kind, _names, _units in (("ir", BACKBONES_OF, UNITS), ("ip", IP_BACKBONES_OF, IP_UNITS)):
    for _name, _backbone in _names.items():
        register_architecture(
            _name, paper=PAPER, mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225), default_frames=(8, 32),
            description=f"{_kind}-CSN on {_backbone}: " + ("1x1x1 + " if _kind == "ip" else "")
                        + "channel-wise 3x3x3 convs, time strided in res3-res5, from scratch",
        )(_builder(_name, _backbone, _units))
