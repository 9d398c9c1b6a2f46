"""mit-han-lab/temporal-shift-module: checkpoints its ``main.py`` saves (TSN and TSM, ResNet-50/101,
``blockres`` shift, ``shift_div`` 8).

Facts from its public code (docs/published_weights.md): a dict with ``state_dict`` under
``module.``; the torchvision backbone under ``base_model.`` (stbench: ``features.``); a shifted
block's conv1 is wrapped as ``conv1.net`` (stbench: ``conv1.1``); the classifier is ``new_fc``, or
``base_model.fc`` when trained without dropout. Non-local blocks (``…nl.*``) are a second temporal
module on top of TSM, which one stbench model name cannot carry.
"""

from __future__ import annotations

from benchmark.errors import ModelError
from benchmark.models.modules.tsm import TemporalShift
from benchmark.models.naming import parse_model_name
from benchmark.models.published.source import (
    CheckpointSource,
    Renamed,
    register_source,
    renamed_by_target,
    state_dict_of,
    wrapped_operators,
)

BACKBONES = ("ResNet50", "ResNet101")


def hosts(model_name: str) -> str | None:
    spec = parse_model_name(model_name)
    if spec.module in ("TSN", "TSM") and spec.backbone in BACKBONES and not spec.tp:
        return None
    return f"the TSM code has no {model_name} (it builds TSN and TSM on {' and '.join(BACKBONES)}, without temporal pooling)"


def rename(file_tensors, model, model_name: str, where: str) -> dict[str, Renamed]:
    nonlocal_keys = sorted(k for k in file_tensors if ".nl." in k)
    if nonlocal_keys:
        raise ModelError(f"{where}: {nonlocal_keys[0]} ({len(nonlocal_keys)} tensors): TSM with non-local blocks, "
                         "two temporal modules in one network, which one stbench model name cannot express")
    classifier = "new_fc." if any(k.startswith("new_fc.") for k in file_tensors) else "base_model.fc."
    wrapped = {layer + ".": "base_model." + operator.rsplit(".", 1)[0].removeprefix("features.") + ".net."
               for operator, layer in wrapped_operators(model, TemporalShift).items()}

    def source_key(key: str) -> str | None:
        for prefix, name in wrapped.items():
            if key.startswith(prefix):
                return name + key[len(prefix):]
        if key.startswith("head.fc."):
            return classifier + key[len("head.fc."):]
        if key.startswith("features."):
            return "base_model." + key[len("features."):]
        return None

    return renamed_by_target(model.state_dict(), file_tensors, source_key)


register_source(CheckpointSource(
    name="tsm",
    description="mit-han-lab/temporal-shift-module main.py checkpoints (TSN and TSM on ResNet-50/101)",
    tensors=lambda checkpoint, where: state_dict_of(checkpoint, where, ("state_dict",), ("module.",)),
    rename=rename,
    hosts=hosts,
))
