"""IBM/action-recognition-pytorch (paper 002's official code): checkpoints its ``train.py`` saves.

Facts from its public code (docs/published_weights.md): a dict with ``state_dict`` (keys under
``module.`` when trained with DataParallel); 2D models keep torchvision's names at the top level,
stbench puts them under ``features.``; the classifier is ``fc``; each TAM is three depthwise 1×1
convs ``tam.{prev,curr,next}_se.fc1.weight`` of shape (C, 1, 1, 1), on a ResNet block as
``layerL.B.tam`` (before conv1) and on InceptionV1 as ``tamX`` after layer ``convX``/``inceptionX``;
the file stores them in creation order (prev, next, curr), so they are matched by name. 3D models
(I3D, S3D) have stbench's names.
"""

from __future__ import annotations

import re

import torch

from benchmark.errors import ModelError
from benchmark.models.modules.tam import TemporalAggregation
from benchmark.models.naming import parse_model_name
from benchmark.models.published.source import (
    CheckpointSource,
    Renamed,
    register_source,
    renamed_by_target,
    state_dict_of,
    wrapped_operators,
)
from benchmark.models.registry import BACKBONES as BACKBONE_ENTRIES

MODULES = ("TSN", "TAM", "I3D", "S3D")
BACKBONES = ("ResNet18", "ResNet34", "ResNet50", "ResNet101", "InceptionV1")
TAPS = ("prev", "curr", "next")  # stbench's column order: t−1, t, t+1


def hosts(model_name: str) -> str | None:
    """ARP builds its ResNets of any depth and InceptionV1; a backbone of the same family and layout
    (a plugin's ResNet) has the same key names."""
    spec = parse_model_name(model_name)
    family = BACKBONE_ENTRIES[spec.backbone].layout.family if spec.backbone else None
    if spec.module in MODULES and family in ("resnet", "inception"):
        return None
    return (f"the official code of paper 002 has no {model_name} (it builds {', '.join(MODULES)} on "
            f"{', '.join(BACKBONES)})")


def tam_prefix(layer: str) -> str:
    """Where the official code keeps the TAM stbench inserted at ``layer`` (file names, no ``features.``)."""
    if "." in layer:  # a ResNet block's conv1: the block's ``tam``
        return layer.rsplit(".", 1)[0] + ".tam"
    return "tam" + re.sub(r"^(conv|inception)", "", layer)  # conv1 -> tam1, inception3a -> tam3a


def _tam_weight(file_tensors, prefix: str, where: str) -> Renamed | None:
    names = [f"{prefix}.{tap}_se.fc1.weight" for tap in TAPS]
    if not all(n in file_tensors for n in names):
        return None
    taps = [file_tensors[n] for n in names]
    if any(t.dim() != 4 or t.shape[1:] != (1, 1, 1) for t in taps):
        raise ModelError(f"{where}: {names[0]} has shape {tuple(taps[0].shape)}: a TAM with full (not depthwise) "
                         "1x1 convolutions, which stbench's TAM (one weight per channel and offset) cannot express")
    return Renamed(torch.stack([t.reshape(-1) for t in taps], 1), tuple(names))


def _check_expressible(file_tensors, where: str) -> None:
    blended = sorted(k for k in file_tensors if ".blending_layers." in k or k.startswith("blending_layers."))
    if blended:
        raise ModelError(f"{where}: {blended[0]}: a TAM blending more than 3 frames (blending_layers), which stbench's "
                         "TAM (frames t-1, t, t+1) cannot express")


def rename(file_tensors, model, model_name: str, where: str) -> dict[str, Renamed]:
    _check_expressible(file_tensors, where)
    out: dict[str, Renamed] = {}
    wrapped: dict[str, str] = {}  # stbench path of a wrapped layer -> its file name
    for operator, layer in wrapped_operators(model, TemporalAggregation).items():
        name = operator.rsplit(".", 1)[0].removeprefix("features.")
        wrapped[layer + "."] = name + "."
        weight = _tam_weight(file_tensors, tam_prefix(name), where)
        if weight is not None:
            out[operator + ".weight"] = weight

    def source_key(key: str) -> str | None:
        for prefix, name in wrapped.items():
            if key.startswith(prefix):
                return name + key[len(prefix):]
        if key.startswith("head.fc."):
            return "fc." + key[len("head.fc."):]
        return key.removeprefix("features.")

    out.update(renamed_by_target([k for k in model.state_dict() if k not in out], file_tensors, source_key))
    return out


register_source(CheckpointSource(
    name="arp",
    description="IBM/action-recognition-pytorch train.py checkpoints (TSN, TAM, I3D, S3D on ResNet and InceptionV1)",
    tensors=lambda checkpoint, where: state_dict_of(checkpoint, where, ("state_dict",), ("module.",)),
    rename=rename,
    hosts=hosts,
))
