"""bLVNet-TAM (Fan, Chen et al., "More Is Less", NeurIPS 2019) on bLResNet-50/101.

A clip of T frames is processed as T/2 pairs: in every pair the second frame goes through the deep
Big branch at half resolution and the first through the shallow Little branch (half the channels)
at full resolution; the branches are summed at the end of each stage (*local fusion*), a shared
residual block follows, and the fused map is given back to both frames of the pair. A TAM
(depthwise temporal aggregation over all frames, r = 3, followed by ReLU) precedes every
big-little stage, and every block of the last stage, which runs on the T/2 fused maps only.
Head: per-map average pool, dropout, fc, logits averaged over the T/2 maps (TSN consensus).

Structure and branch sizes follow the paper's Table 6 (alpha = 2, beta = 4) and the authors'
release: stage depths (3, 4, 6, 3) for bLResNet-50 and (4, 8, 18, 3) for bLResNet-101; the Big
branch has ``depth - 1`` blocks (first with stride 2, output upsampled by nearest neighbour), the
Little branch ``max(1, depth // 4 - 1)``; shortcuts downsample by 3x3 average pooling. Module
names mirror the release's checkpoints so that its bLResNet ImageNet weights can be loaded from a
local file. TAM weights start as the identity (TAM's ``tam_init: identity``) rather than the release's
random init, so an ImageNet-initialised model starts from its bLResNet features. The model name ``bLVNet-TAM-ResNet50-f16`` is the paper's "8x2" input (16 frames).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import ModelError
from benchmark.models.architectures._common import load_local_weights
from benchmark.models.heads import FrameAveragingHead
from benchmark.models.modules.tam import TemporalAggregation
from benchmark.models.options import check_dropout, check_options, reject_tp
from benchmark.models.registry import register_module
from benchmark.models.weight_init import msra_init

PAPER = "Fan, Chen et al., More Is Less: Big-Little Network and Depthwise Temporal Aggregation, NeurIPS 2019"
ALPHA, BETA = 2, 4  # Little branch width divisor, Little branch depth divisor
DEPTHS = {"ResNet50": (3, 4, 6, 3), "ResNet101": (4, 8, 18, 3)}
WIDTHS = (256, 512, 1024, 2048)


def temporal_aggregation(channels: int, frames: int) -> TemporalAggregation:
    """The suite's TAM operator (r = 3, ReLU after the sum, as in bLVNet) for clips of ``frames``."""
    tam = TemporalAggregation(channels)
    tam.frames = frames
    return tam


class Bottleneck(nn.Module):
    """ResNet bottleneck as bLNet builds it: ``out // 4`` inner width, stride on the 3x3, and a
    shortcut that average-pools (3x3, stride 2) and/or projects when the shape changes. With a TAM,
    the TAM runs on the residual path; like the release, a projected shortcut also sees the
    aggregated input while an identity shortcut keeps the raw one."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, last_relu: bool = True,
                 tam_frames: int | None = None):
        super().__init__()
        inner = out_channels // 4
        self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        shortcut = []
        if stride != 1:
            shortcut.append(nn.AvgPool2d(3, stride=2, padding=1))
        if in_channels != out_channels:
            shortcut += [nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.downsample = nn.Sequential(*shortcut) if shortcut else None
        self.tam = temporal_aggregation(in_channels, tam_frames) if tam_frames else None
        self.last_relu = last_relu

    def forward(self, x):
        identity = x
        if self.tam is not None:
            x = self.tam(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + (identity if self.downsample is None else self.downsample(x))
        return F.relu(out) if self.last_relu else out


def _blocks(in_channels, out_channels, count, stride=1, last_relu=True, tam_frames=None):
    layers = [Bottleneck(in_channels, out_channels, stride, last_relu if count == 1 else True, tam_frames)]
    for i in range(1, count):
        layers.append(Bottleneck(out_channels, out_channels, 1, last_relu if i == count - 1 else True, tam_frames))
    return nn.Sequential(*layers)


def split_pairs(x: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B*T, ...)`` -> (Little inputs = frames 0, 2, 4, ..., Big inputs = frames 1, 3, 5, ...)."""
    pairs = x.view(-1, frames // 2, 2, *x.shape[1:])
    return pairs[:, :, 0].reshape(-1, *x.shape[1:]), pairs[:, :, 1].reshape(-1, *x.shape[1:])


def share_with_pair(fused: torch.Tensor) -> torch.Tensor:
    """``(B*T/2, ...)`` fused maps -> ``(B*T, ...)``, each pair's map given to both of its frames."""
    return fused.unsqueeze(1).expand(-1, 2, *fused.shape[1:]).reshape(-1, *fused.shape[1:])


class BigLittleStage(nn.Module):
    """TAM over all frames, then Big (deep, stride 2, upsampled back) and Little (shallow, narrow)
    branches on the two frames of each pair, summed and refined by one shared residual block."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, stride: int, frames: int):
        super().__init__()
        self.frames = frames
        self.tam = temporal_aggregation(in_channels, frames)
        self.big = _blocks(in_channels, out_channels, depth - 1, stride=2, last_relu=False)
        self.little = _blocks(in_channels, out_channels // ALPHA, max(1, depth // BETA - 1))
        self.little_e = nn.Sequential(nn.Conv2d(out_channels // ALPHA, out_channels, 1, bias=False),
                                      nn.BatchNorm2d(out_channels))
        self.fusion = _blocks(out_channels, out_channels, 1, stride=stride)

    def forward(self, x):
        little, big = split_pairs(self.tam(x), self.frames)
        little = self.little_e(self.little(little))
        big = F.interpolate(self.big(big), size=little.shape[2:], mode="nearest")
        return share_with_pair(self.fusion(F.relu(big + little)))


class BLVNetTAM(nn.Module):
    def __init__(self, backbone: str, num_classes: int, frames: int, dropout: float = 0.5):
        super().__init__()
        if frames < 2 or frames % 2:
            raise ModelError(f"bLVNet-TAM-{backbone}-f{frames}: frames must be even (pairs of big/little "
                             f"frames; the paper's 8x2 is f16), got {frames}")
        depths = DEPTHS[backbone]
        self.frames = frames
        # stem: shared 7x7 conv, then a big-little "layer 0" with the same pair fusion
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.tam = temporal_aggregation(64, frames)
        self.b_conv0 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn_b0 = nn.BatchNorm2d(64)
        self.l_conv0 = nn.Conv2d(64, 64 // ALPHA, 3, padding=1, bias=False)
        self.bn_l0 = nn.BatchNorm2d(64 // ALPHA)
        self.l_conv1 = nn.Conv2d(64 // ALPHA, 64 // ALPHA, 3, stride=2, padding=1, bias=False)
        self.bn_l1 = nn.BatchNorm2d(64 // ALPHA)
        self.l_conv2 = nn.Conv2d(64 // ALPHA, 64, 1, bias=False)
        self.bn_l2 = nn.BatchNorm2d(64)
        self.bl_init = nn.Conv2d(64, 64, 1, bias=False)
        self.bn_bl_init = nn.BatchNorm2d(64)
        self.layer1 = BigLittleStage(64, WIDTHS[0], depths[0], 2, frames)
        self.layer2 = BigLittleStage(WIDTHS[0], WIDTHS[1], depths[1], 2, frames)
        self.layer3 = BigLittleStage(WIDTHS[1], WIDTHS[2], depths[2], 1, frames)
        # the last stage only needs one map per pair: both frames of a pair hold the same fused map
        self.layer4 = _blocks(WIDTHS[2], WIDTHS[3], depths[3], stride=2, tam_frames=frames // 2)
        self.head = FrameAveragingHead(WIDTHS[3], num_classes, dropout)
        self._init_weights()

    def _init_weights(self):
        msra_init(self, fc_std=0.001)  # the head's fc is the only (and last) linear layer
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)

    def stem(self, x):
        x = self.tam(F.relu(self.bn1(self.conv1(x))))
        little, big = split_pairs(x, self.frames)
        big = self.bn_b0(self.b_conv0(big))
        little = F.relu(self.bn_l0(self.l_conv0(little)))
        little = F.relu(self.bn_l1(self.l_conv1(little)))
        little = self.bn_l2(self.l_conv2(little))
        fused = F.relu(self.bn_bl_init(self.bl_init(F.relu(big + little))))
        return share_with_pair(fused)

    def forward(self, x):
        if x.dim() != 5 or x.shape[1] != 3 or x.shape[2] != self.frames:
            raise ModelError(f"bLVNet-TAM: expected input (B, 3, {self.frames}, H, W), got {tuple(x.shape)}")
        batch = x.shape[0]
        x = x.transpose(1, 2).reshape(batch * self.frames, 3, *x.shape[3:])
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        _, fused = split_pairs(x, self.frames)  # both frames of a pair hold the same map
        return self.head(self.layer4(fused), batch_size=batch)


def from_release(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a trained checkpoint of the authors' release (``baseline_model.*``, ``new_fc.*``, TAMs
    as three depthwise convs ``prev``/``curr``/``next``) to this module's keys; other files pass
    through unchanged. The release's ``prev`` conv weighs frame t-1 and ``next`` frame t+1, our TAM's
    columns 0 and 2."""
    if not any(k.startswith("baseline_model.") for k in state):
        return state
    out, tams = {}, {}
    for key, value in state.items():
        key = key.removeprefix("baseline_model.")
        if key.startswith(("new_fc.", "fc.")):
            out["head.fc." + key.split(".", 1)[1]] = value
        elif key.endswith(("tam.prev.weight", "tam.curr.weight", "tam.next.weight")):
            prefix, offset, _ = key.rsplit(".", 2)
            tams.setdefault(prefix, {})[offset] = value.reshape(-1)
        else:
            out[key] = value
    for prefix, w in tams.items():
        if set(w) != {"prev", "curr", "next"}:
            raise ModelError(f"release checkpoint: TAM {prefix} lacks some of prev/curr/next weights")
        out[prefix + ".weight"] = torch.stack([w["prev"], w["curr"], w["next"]], dim=1)
    return out


@register_module("bLVNet-TAM", backbones=tuple(DEPTHS), paper=PAPER, imagenet=False,
                 description="Big-Little video network with TAM on bLResNet-50/101 (frames = 2 x pairs)")
def build_blvnet_tam(spec, num_classes: int, **options):
    """Build bLVNet-TAM on bL``spec.backbone``. ``pretrained``: a local bLResNet ImageNet checkpoint
    from the authors' release (TAM and classifier weights then keep their init), a trained
    bLVNet-TAM checkpoint of that release, or a file saved from this model."""
    check_options(spec.name, options)
    reject_tp(spec, "frames are already halved by the big-little pairing")
    model = BLVNetTAM(spec.backbone, num_classes, spec.frames, check_dropout(spec.name, options.get("dropout", 0.5)))
    tam_keys = tuple(name for name, _ in model.named_parameters() if name.endswith("tam.weight"))

    def optional(state):  # an ImageNet bLResNet file has no TAMs: then, and only then, they may be absent
        return ("head.",) if any(k.endswith("tam.weight") for k in state) else tam_keys + ("head.",)

    load_local_weights(model, options.get("pretrained"), spec.name, optional=optional, ignore=("fc.",),
                       convert=from_release,
                       imagenet_hint="bLResNet ImageNet weights are not in torchvision; pass the local "
                                     "ImageNet-bL" + spec.backbone.replace("ResNet", "ResNet-") + "-a2-b4 checkpoint")
    return model
