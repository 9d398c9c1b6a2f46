"""facebookresearch/pytorchvideo: the state dicts of its hub models (``slowfast_r50``, ``slowfast_r101``,
``slowfast_16x8_r101_50_50``, ``x3d_xs/s/m/l``, ``csn_r101``) and of any model its builders
``create_slowfast``, ``create_x3d`` and ``create_csn`` make with the hub's settings.

Facts from its public code (``pytorchvideo/models/{slowfast,x3d,csn,resnet,stem,head}.py``,
``models/hub/*.py``): the hub files hold the state dict under ``model_state`` (a bare state dict
loads too; PySlowFast's ``PTV*`` wrappers save the same keys under ``model.``). Every model is
``blocks.N`` in order: the stem ``blocks.0``, res2-res5 ``blocks.1``-``blocks.4`` (each
``res_blocks.B`` with ``branch2.{conv,norm}_{a,b,c}`` and, where the shape changes, the projection
``branch1_conv``/``branch1_norm``), then the head.

* SlowFast: each stage has ``multipathway_blocks.{0 (Slow), 1 (Fast)}`` and, after the stem and
  res2-res4, ``multipathway_fusion.{conv_fast_to_slow,norm}`` (stbench: ``laterals.i``); the fc is
  ``blocks.6.proj`` (``blocks.5`` pools each pathway). The hub's R50 has 7×1×1 lateral kernels, R101
  and the 16×8 R101_50_50 5×1×1 (the latter with temporal kernels in the first 6 res4 blocks only).
* X3D: the stem ``blocks.0.conv`` keeps its 1×3×3 spatial conv under ``conv_t`` and its 5×1×1
  depthwise conv under ``conv_xy`` (the names are swapped: matched by role, the shapes tell them
  apart); a block's BN after the channel-wise conv is ``norm_b.0`` and its SE ``norm_b.1.block.{0,2}``;
  the head is ``blocks.5.pool.{pre_conv,pre_norm,post_conv}`` and ``blocks.5.proj``. Its projection
  shortcut has a BN only where the width changes (``create_x3d_res_block``), so res2's first block
  (24 → 24 channels, spatial stride 2) has a bare 1×1×1 conv where stbench's X3D (and PySlowFast's)
  has conv + BN: that BN is filled as an identity (weight 1, bias 0, mean 0, variance 1 − eps), exact
  in eval mode; in training it normalises with batch statistics, which pytorchvideo's model does not.
* CSN (ir-CSN): ``create_csn`` with the hub's stem max pool; ``blocks.5.proj`` is the fc. There is no
  ip-CSN builder.

The slow frames, the head's pooling window and the normalisation (mean 0.45, std 0.225 on [0, 1] RGB,
as PySlowFast's defaults; the recorded crop, 224, is SlowFast's, CSN's and x3d_m's: x3d_xs/s use 160,
x3d_l 312) are inputs, not weights: stbench's SlowFast takes ``x[:, :, ::α]`` where
PySlowFast's loader takes ``linspace(0, T-1, T/α)`` frames (0, 4, 8, 13, ... for 32 frames), and
stbench pools globally where the official heads pool a fixed window (the training crop's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import torch

from benchmark.errors import ModelError
from benchmark.models.naming import parse_model_name
from benchmark.models.published.source import CheckpointSource, Renamed, register_source, state_dict_of

KINETICS_INPUT = {"mean": [0.45, 0.45, 0.45], "std": [0.225, 0.225, 0.225], "value_range": [0.0, 1.0],
                  "channel_order": "RGB", "crop_size": 224}
SLOWFAST = ("SlowFast4x16-ResNet50", "SlowFast8x8-ResNet50", "SlowFast16x8-ResNet50", "SlowFast8x8-ResNet101",
            "SlowFast16x8-ResNet101")
X3D = ("X3D-XS", "X3D-S", "X3D-M", "X3D-L", "X3D-XL")
CSN = ("CSN-ResNet101", "CSN-ResNet152")
IP_CSN = ("ipCSN-ResNet101", "ipCSN-ResNet152")
PATHWAYS = {"slow": 0, "fast": 1}
PATHWAY_LABELS = {"0": "Slow ", "1": "Fast ", "": ""}

Rules = list[tuple[str, Callable[[re.Match], str]]]


def family(model_name: str) -> str | None:
    """``slowfast``, ``x3d``, ``csn`` or ``ipcsn`` for the stbench architectures these sources fill."""
    module = parse_model_name(model_name).module
    for name, members in (("slowfast", SLOWFAST), ("x3d", X3D), ("csn", CSN), ("ipcsn", IP_CSN)):
        if module in members:
            return name
    return None


def by_rules(rules: Rules, prefix: str = "") -> Callable[[str], str | None]:
    """stbench key -> file key: the first rule whose pattern matches the whole key."""
    compiled = [(re.compile(pattern), make) for pattern, make in rules]

    def source_key(key: str) -> str | None:
        for pattern, make in compiled:
            match = pattern.fullmatch(key)
            if match:
                return prefix + make(match)
        return None

    return source_key


def _i(match: re.Match, group: str, plus: int = 0) -> int:
    return int(match[group]) + plus


_BRANCH = {"0": "conv_a", "1": "norm_a", "3": "conv_b", "4": "norm_b", "6": "conv_c", "7": "norm_c"}
_X3D_PARTS = {"expand.0": "conv_a", "expand.1": "norm_a", "channelwise": "conv_b", "bn": "norm_b.0",
              "se.reduce": "norm_b.1.block.0", "se.expand": "norm_b.1.block.2", "project.0": "conv_c",
              "project.1": "norm_c", "shortcut.0": "branch1_conv", "shortcut.1": "branch1_norm"}
_CSN_PARTS = {"conv1": "branch2.conv_a", "bn1": "branch2.norm_a", "conv2": "branch2.conv_b", "bn2": "branch2.norm_b",
              "conv3": "branch2.conv_c", "bn3": "branch2.norm_c", "downsample.0": "branch1_conv",
              "downsample.1": "branch1_norm"}

PTV_RULES: dict[str, Rules] = {
    "slowfast": [
        (r"(?P<w>slow|fast)_stem\.(?P<j>[01])\.(?P<p>\w+)",
         lambda m: f"blocks.0.multipathway_blocks.{PATHWAYS[m['w']]}.{('conv', 'norm')[int(m['j'])]}.{m['p']}"),
        (r"laterals\.(?P<i>\d)\.(?P<j>conv|bn)\.(?P<p>\w+)",
         lambda m: f"blocks.{m['i']}.multipathway_fusion.{'conv_fast_to_slow' if m['j'] == 'conv' else 'norm'}.{m['p']}"),
        (r"(?P<w>slow|fast)_stages\.(?P<s>\d)\.(?P<b>\d+)\.branch\.(?P<j>\d)\.(?P<p>\w+)",
         lambda m: f"blocks.{_i(m, 's', 1)}.multipathway_blocks.{PATHWAYS[m['w']]}.res_blocks.{m['b']}.branch2."
                   f"{_BRANCH[m['j']]}.{m['p']}"),
        (r"(?P<w>slow|fast)_stages\.(?P<s>\d)\.(?P<b>\d+)\.shortcut\.(?P<j>[01])\.(?P<p>\w+)",
         lambda m: f"blocks.{_i(m, 's', 1)}.multipathway_blocks.{PATHWAYS[m['w']]}.res_blocks.{m['b']}."
                   f"{('branch1_conv', 'branch1_norm')[int(m['j'])]}.{m['p']}"),
        (r"classifier\.fc\.(?P<p>\w+)", lambda m: f"blocks.6.proj.{m['p']}"),
    ],
    "x3d": [
        (r"stem\.(?P<j>[012])\.(?P<p>\w+)",
         lambda m: f"blocks.0.{('conv.conv_t', 'conv.conv_xy', 'norm')[int(m['j'])]}.{m['p']}"),
        (r"stages\.(?P<s>\d)\.(?P<b>\d+)\.(?P<part>" + "|".join(map(re.escape, _X3D_PARTS)) + r")\.(?P<p>\w+)",
         lambda m: f"blocks.{_i(m, 's', 1)}.res_blocks.{m['b']}."
                   f"{'' if m['part'].startswith('shortcut') else 'branch2.'}{_X3D_PARTS[m['part']]}.{m['p']}"),
        (r"conv5\.(?P<j>[01])\.(?P<p>\w+)", lambda m: f"blocks.5.pool.{('pre_conv', 'pre_norm')[int(m['j'])]}.{m['p']}"),
        (r"fc1\.(?P<p>\w+)", lambda m: f"blocks.5.pool.post_conv.{m['p']}"),
        (r"classifier\.fc\.(?P<p>\w+)", lambda m: f"blocks.5.proj.{m['p']}"),
    ],
    "csn": [
        (r"conv1\.(?P<p>\w+)", lambda m: f"blocks.0.conv.{m['p']}"),
        (r"bn1\.(?P<p>\w+)", lambda m: f"blocks.0.norm.{m['p']}"),
        (r"layer(?P<s>\d)\.(?P<b>\d+)\.(?P<part>" + "|".join(map(re.escape, _CSN_PARTS)) + r")\.(?P<p>\w+)",
         lambda m: f"blocks.{m['s']}.res_blocks.{m['b']}.{_CSN_PARTS[m['part']]}.{m['p']}"),
        (r"head\.fc\.(?P<p>\w+)", lambda m: f"blocks.5.proj.{m['p']}"),
    ],
}

FAMILY_NAMES = {"slowfast": "SlowFast", "x3d": "X3D", "csn": "ir-CSN", "ipcsn": "ip-CSN"}


def ptv_kind(file_tensors: Mapping[str, torch.Tensor], prefix: str = "") -> tuple[str, str]:
    """What model a pytorchvideo-layout file holds: (family or description, the key that shows it)."""
    keys = sorted(k[len(prefix):] for k in file_tensors if k.startswith(prefix))
    for pattern, kind in ((r"blocks\.\d+\.multipathway_", "slowfast"), (r"blocks\.0\.conv\.conv_[tx]|blocks\.\d+\.pool\.pre_conv", "x3d")):
        for key in keys:
            if re.match(pattern, key):
                return kind, prefix + key
    for key in keys:
        if re.fullmatch(r"blocks\.\d+\.res_blocks\.\d+\.branch2\.conv_b\.conv_t\.weight", key):
            return "an R(2+1)D network", prefix + key
    if any(k.startswith("blocks.0.") for k in keys):
        for key in keys:
            if re.fullmatch(r"blocks\.\d+\.res_blocks\.\d+\.branch2\.conv_b\.weight", key):
                channelwise = file_tensors[prefix + key].shape[1] == 1
                return ("csn" if channelwise else "a 3D ResNet with dense 3x3 convs (C2D, I3D or Slow)"), prefix + key
    return "a model of another family", prefix + (keys[0] if keys else "")


def check_family(kind: str, evidence: str, model_name: str, where: str) -> None:
    want = family(model_name)
    if kind != want:
        held = FAMILY_NAMES.get(kind, kind)
        raise ModelError(f"{where}: the file holds {held} ({evidence}), not the {FAMILY_NAMES.get(want, want)} "
                         f"of {model_name}")


def block_counts(keys, pattern: str) -> dict[tuple, int]:
    """(stage, pathway) -> number of blocks, from keys matching ``pattern`` (groups s, w, b)."""
    counts: dict[tuple, int] = {}
    for key in keys:
        match = re.match(pattern, key)
        if match:
            where = (int(match["s"]), match.groupdict().get("w") or "")
            counts[where] = max(counts.get(where, 0), int(match["b"]) + 1)
    return counts


def check_depth(file_counts: dict, model_counts: dict, model_name: str, where: str) -> None:
    """The same number of blocks in each stage (and pathway), or one line with both."""
    if file_counts == model_counts:
        return

    def show(counts):
        stages = sorted({s for s, _ in counts})
        return ", ".join(f"{PATHWAY_LABELS[w]}" + "/".join(str(counts.get((s, w), 0)) for s in stages)
                         for w in sorted({w for _, w in counts}))

    raise ModelError(f"{where}: a network of another depth: the file's stages have {show(file_counts)} blocks, "
                     f"stbench's {model_name} has {show(model_counts)}")


def model_block_counts(model_keys, fam: str) -> dict[tuple, int]:
    pattern = {"slowfast": r"(?P<w>slow|fast)_stages\.(?P<s>\d)\.(?P<b>\d+)\.",
               "x3d": r"stages\.(?P<s>\d)\.(?P<b>\d+)\.", "csn": r"layer(?P<s>\d)\.(?P<b>\d+)\."}[fam]
    counts = block_counts(model_keys, pattern)
    if fam == "slowfast":
        return {(s, str(PATHWAYS[w])): n for (s, w), n in counts.items()}
    if fam == "csn":
        return {(s - 1, w): n for (s, w), n in counts.items()}
    return counts


def check_temporal_kernels(renamed: Mapping[str, Renamed], target: Mapping[str, torch.Tensor], model_name: str,
                           where: str) -> None:
    """SlowFast: lateral kernels and the bottlenecks' temporal kernels are what tell the variants
    apart (R50 8x8 7x1x1 laterals, 4x16 5x1x1; R101 16x8 is R101_50_50): one line naming both."""
    for key, item in renamed.items():
        lateral = re.fullmatch(r"laterals\.\d\.conv\.weight", key)
        first_conv = re.fullmatch(r"(slow|fast)_stages\.\d\.\d+\.branch\.0\.weight", key)
        if not (lateral or first_conv) or item.value.dim() != 5 or key not in target:
            continue
        got, want = item.value.shape[2], target[key].shape[2]
        if got != want:
            what = "lateral connection" if lateral else "bottleneck's first conv"
            raise ModelError(f"{where}: {item.sources[0]}: the file's {what} has a {got}x1x1 temporal kernel, "
                             f"stbench's {model_name} has {want}x1x1 there ({key}): another SlowFast variant")


def identity_bn(target: Mapping[str, torch.Tensor], prefix: str, eps: float) -> dict[str, Renamed]:
    """A BatchNorm that is the identity in eval mode (from no file tensor)."""
    shape = target[prefix + "weight"].shape
    return {prefix + "weight": Renamed(torch.ones(shape), ()), prefix + "bias": Renamed(torch.zeros(shape), ()),
            prefix + "running_mean": Renamed(torch.zeros(shape), ()),
            prefix + "running_var": Renamed(torch.full(shape, 1.0 - eps), ())}


def rename_layout(file_tensors, model, model_name: str, where: str, prefix: str = "") -> dict[str, Renamed]:
    """pytorchvideo's layout (keys under ``prefix``) -> stbench's."""
    fam = family(model_name)
    kind, evidence = ptv_kind(file_tensors, prefix)
    check_family(kind, evidence, model_name, where)
    target = model.state_dict()
    file_pattern = {"slowfast": r"blocks\.(?P<s>\d)\.multipathway_blocks\.(?P<w>[01])\.res_blocks\.(?P<b>\d+)\.",
                    "x3d": r"blocks\.(?P<s>\d)\.res_blocks\.(?P<b>\d+)\.",
                    "csn": r"blocks\.(?P<s>\d)\.res_blocks\.(?P<b>\d+)\."}[fam]
    counts = block_counts([k[len(prefix):] for k in file_tensors if k.startswith(prefix)], file_pattern)
    check_depth({(s - 1, w): n for (s, w), n in counts.items()}, model_block_counts(target, fam), model_name, where)
    source_key = by_rules(PTV_RULES[fam], prefix)
    out: dict[str, Renamed] = {}
    for key in target:
        src = source_key(key)
        if src is not None and src in file_tensors:
            out[key] = Renamed(file_tensors[src], (src,))
    if fam == "x3d":  # res2's first shortcut: pytorchvideo has no BN where the width stays
        for name, module in model.named_modules():
            match = re.fullmatch(r"stages\.(\d)\.(\d+)\.shortcut", name)
            if not match:
                continue
            conv, bn = module[0], module[1]
            block = f"{prefix}blocks.{int(match[1]) + 1}.res_blocks.{match[2]}."
            if (conv.in_channels == conv.out_channels and block + "branch1_conv.weight" in file_tensors
                    and block + "branch1_norm.weight" not in file_tensors):
                out.update(identity_bn(target, name + ".1.", bn.eps))
    if fam == "slowfast":
        check_temporal_kernels(out, target, model_name, where)
    return out


def hosts(model_name: str) -> str | None:
    fam = family(model_name)
    if fam in ("slowfast", "x3d", "csn"):
        return None
    if fam == "ipcsn":
        return (f"pytorchvideo has no {model_name}: its create_csn builds ir-CSN only (no 1x1x1 conv before the "
                "channel-wise one)")
    return f"pytorchvideo has no {model_name} (stbench hosts its SlowFast, X3D and ir-CSN: SlowFast*, X3D-*, CSN-ResNet101/152)"


def rename(file_tensors, model, model_name: str, where: str) -> dict[str, Renamed]:
    prefix = "model." if file_tensors and all(k.startswith("model.") for k in file_tensors) else ""
    return rename_layout(file_tensors, model, model_name, where, prefix)


register_source(CheckpointSource(
    name="pytorchvideo",
    description="facebookresearch/pytorchvideo hub state dicts (SlowFast R50/R101, X3D-XS/S/M/L, ir-CSN R101)",
    tensors=lambda checkpoint, where: state_dict_of(checkpoint, where, ("model_state",), ("module.",)),
    rename=rename,
    input=dict(KINETICS_INPUT),
    hosts=hosts,
))
