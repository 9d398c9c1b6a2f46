"""facebookresearch/SlowFast (PySlowFast): checkpoints its ``tools/run_net.py`` saves
(``slowfast/utils/checkpoint.py``) and its model zoo's ``.pyth`` files: SlowFast R50/R101, X3D, and
ir-CSN through its pytorchvideo wrapper. Caffe2 ``.pkl`` files are not torch files (the reader says so).

Facts from its public code (``slowfast/models/{video_model_builder,resnet_helper,stem_helper,
head_helper,ptv_model_builder}.py``): a dict with ``model_state`` (also ``epoch``, ``optimizer_state``,
``cfg``), keys under ``module.`` only in hand-saved DataParallel copies. The native builders name
stages ``s1`` (stem) to ``s5``, pathway ``p`` of a stage ``pathway{p}_stem`` / ``pathway{p}_res{b}``
(0 Slow, 1 Fast), a block ``branch2.{a,b,c}`` with ``{a,b,c}_bn`` and the projection shortcut
``branch1``/``branch1_bn`` (present whenever the width or the stride changes); the classifier is
``head.projection``.

* SlowFast: the lateral connection after stage ``s{i}`` is ``s{i}_fuse.{conv_f2s,bn}`` (stbench
  ``laterals.{i-1}``); kernels come from ``SLOWFAST.FUSION_KERNEL_SZ`` (5; 7 in the 8x8/16x8 R50
  configs), temporal kernels from ``RESNET.NUM_BLOCK_TEMP_KERNEL`` (the first 3/4/6/3 blocks in
  R101_50_50). Non-local blocks (``pathway{p}_nonlocal{b}``) have no counterpart in stbench.
* X3D: the stem is ``s1.pathway0_stem.{conv_xy (1×3×3), conv (5×1×1 depthwise), bn}``; a block's SE is
  ``branch2.se.{fc1,fc2}`` (every other block, from the first); the head is ``head.{conv_5,conv_5_bn,
  lin_5,projection}`` (``head.lin_5_bn`` only with ``X3D.BN_LIN5``, which stbench's X3D lacks).
  The layout is one to one with stbench's X3D, res2's projection BN included. Widths are
  ``round(DIM_C1 × WIDTH_FACTOR × 2^stage)`` to whole channels (``slowfast/models/utils.round_width``,
  divisor 1): equal to stbench's at the released XS/S/M/L (factor 2), but an XL built natively
  (2.9) is 35/35/70/139/278 wide where stbench's X3D-XL is 32/32/72/136/280 (multiples of 8, as
  pytorchvideo's ``create_x3d``, which PySlowFast's ``PTVX3D`` uses); PySlowFast released no XL.
* ir-CSN (``PTVCSN``) and the other ``PTV*`` models keep pytorchvideo's ``blocks.N`` layout under
  ``model.`` (its model zoo's files, loaded by pytorchvideo's hub, without it): renamed as the
  ``pytorchvideo`` source does (see there). PySlowFast builds no ip-CSN.

The preprocessing is PySlowFast's default (mean 0.45, std 0.225 on [0, 1] RGB); the crop is 224 for
SlowFast, CSN and X3D-M (X3D-XS/S train at 160, X3D-L at 312: ``DATA.TRAIN_CROP_SIZE``). In eval mode
the official heads apply softmax and average over the positions of a fixed pooling window; stbench's
heads give logits of a global pool, and its Slow pathway takes ``x[:, :, ::α]`` where PySlowFast's
loader takes ``linspace(0, T-1, T/α)`` frames.
"""

from __future__ import annotations

import re

from benchmark.errors import ModelError
from benchmark.models.published.source import CheckpointSource, Renamed, register_source, state_dict_of
from benchmark.models.published.sources.pytorchvideo import (
    KINETICS_INPUT,
    PATHWAYS,
    Rules,
    _i,
    block_counts,
    by_rules,
    check_depth,
    check_family,
    check_temporal_kernels,
    family,
    model_block_counts,
    rename_layout,
)

HOSTED = ("SlowFast*", "X3D-*", "CSN-ResNet101/152")
_BRANCH = {"0": "a", "1": "a_bn", "3": "b", "4": "b_bn", "6": "c", "7": "c_bn"}
_X3D_PARTS = {"expand.0": "branch2.a", "expand.1": "branch2.a_bn", "channelwise": "branch2.b", "bn": "branch2.b_bn",
              "se.reduce": "branch2.se.fc1", "se.expand": "branch2.se.fc2", "project.0": "branch2.c",
              "project.1": "branch2.c_bn", "shortcut.0": "branch1", "shortcut.1": "branch1_bn"}

RULES: dict[str, Rules] = {
    "slowfast": [
        (r"(?P<w>slow|fast)_stem\.(?P<j>[01])\.(?P<p>\w+)",
         lambda m: f"s1.pathway{PATHWAYS[m['w']]}_stem.{('conv', 'bn')[int(m['j'])]}.{m['p']}"),
        (r"laterals\.(?P<i>\d)\.(?P<j>conv|bn)\.(?P<p>\w+)",
         lambda m: f"s{_i(m, 'i', 1)}_fuse.{'conv_f2s' if m['j'] == 'conv' else 'bn'}.{m['p']}"),
        (r"(?P<w>slow|fast)_stages\.(?P<s>\d)\.(?P<b>\d+)\.branch\.(?P<j>\d)\.(?P<p>\w+)",
         lambda m: f"s{_i(m, 's', 2)}.pathway{PATHWAYS[m['w']]}_res{m['b']}.branch2.{_BRANCH[m['j']]}.{m['p']}"),
        (r"(?P<w>slow|fast)_stages\.(?P<s>\d)\.(?P<b>\d+)\.shortcut\.(?P<j>[01])\.(?P<p>\w+)",
         lambda m: f"s{_i(m, 's', 2)}.pathway{PATHWAYS[m['w']]}_res{m['b']}."
                   f"{('branch1', 'branch1_bn')[int(m['j'])]}.{m['p']}"),
        (r"classifier\.fc\.(?P<p>\w+)", lambda m: f"head.projection.{m['p']}"),
    ],
    "x3d": [
        (r"stem\.(?P<j>[012])\.(?P<p>\w+)", lambda m: f"s1.pathway0_stem.{('conv_xy', 'conv', 'bn')[int(m['j'])]}.{m['p']}"),
        (r"stages\.(?P<s>\d)\.(?P<b>\d+)\.(?P<part>" + "|".join(map(re.escape, _X3D_PARTS)) + r")\.(?P<p>\w+)",
         lambda m: f"s{_i(m, 's', 2)}.pathway0_res{m['b']}.{_X3D_PARTS[m['part']]}.{m['p']}"),
        (r"conv5\.(?P<j>[01])\.(?P<p>\w+)", lambda m: f"head.{('conv_5', 'conv_5_bn')[int(m['j'])]}.{m['p']}"),
        (r"fc1\.(?P<p>\w+)", lambda m: f"head.lin_5.{m['p']}"),
        (r"classifier\.fc\.(?P<p>\w+)", lambda m: f"head.projection.{m['p']}"),
    ],
}


def native_kind(file_tensors) -> tuple[str, str]:
    """What a native PySlowFast model the file holds: (family or description, the key that shows it)."""
    keys = sorted(file_tensors)
    for pattern, kind in ((r"s1\.pathway1_|s\d_fuse\.", "slowfast"), (r"s1\.pathway0_stem\.conv_xy\.|head\.(conv|lin)_5", "x3d"),
                          (r"s\d\.pathway0_", "a single-pathway ResNet (C2D, I3D or Slow)")):
        for key in keys:
            if re.match(pattern, key):
                return kind, key
    return "a model of another family (e.g. MViT)", keys[0]


def _check_expressible(file_tensors, where: str) -> None:
    nonlocal_keys = sorted(k for k in file_tensors if re.match(r"s\d\.pathway\d_nonlocal\d+\.", k))
    if nonlocal_keys:
        raise ModelError(f"{where}: {nonlocal_keys[0]} ({len(nonlocal_keys)} tensors): non-local blocks, which "
                         "stbench's SlowFast and X3D do not have")
    lin5_bn = sorted(k for k in file_tensors if k.startswith("head.lin_5_bn."))
    if lin5_bn:
        raise ModelError(f"{where}: {lin5_bn[0]}: an X3D head with a BN after lin_5 (X3D.BN_LIN5), which stbench's "
                         "X3D (lin_5, ReLU) does not have")


def rename(file_tensors, model, model_name: str, where: str) -> dict[str, Renamed]:
    for prefix in ("model.", ""):  # a PTV* model (or a pytorchvideo model zoo file): pytorchvideo's layout
        if any(k.startswith(prefix + "blocks.") for k in file_tensors):
            return rename_layout(file_tensors, model, model_name, where, prefix=prefix)
    _check_expressible(file_tensors, where)
    kind, evidence = native_kind(file_tensors)
    check_family(kind, evidence, model_name, where)
    fam = family(model_name)
    target = model.state_dict()
    counts = block_counts(file_tensors, r"s(?P<s>\d)\.pathway(?P<w>\d)_res(?P<b>\d+)\.")
    check_depth({(s - 2, w if fam == "slowfast" else ""): n for (s, w), n in counts.items()},
                model_block_counts(target, fam), model_name, where)
    source_key = by_rules(RULES[fam])
    out: dict[str, Renamed] = {}
    for key in target:
        src = source_key(key)
        if src is not None and src in file_tensors:
            out[key] = Renamed(file_tensors[src], (src,))
    if fam == "slowfast":
        check_temporal_kernels(out, target, model_name, where)
    if fam == "x3d":
        _check_x3d_widths(file_tensors, target, model_name, where)
    return out


def _check_x3d_widths(file_tensors, target, model_name: str, where: str) -> None:
    """Stem and stage widths: PySlowFast's native X3D rounds ``DIM_C1`` × ``WIDTH_FACTOR`` to whole
    channels, stbench's X3D (as pytorchvideo's ``create_x3d``) to multiples of 8; they agree at
    ``WIDTH_FACTOR`` 2 (XS-L) and differ for XL (2.9: 35/70/139/278 against 32/72/136/280)."""
    stem = "s1.pathway0_stem.conv_xy.weight"
    if stem not in file_tensors:
        return  # the assembly names what is missing
    stages = sorted({int(m[1]) for k in file_tensors if (m := re.match(r"s(\d)\.pathway0_res0\.branch2\.c\.weight", k))})
    got = [file_tensors[stem].shape[0]] + [file_tensors[f"s{s}.pathway0_res0.branch2.c.weight"].shape[0] for s in stages]
    want = [target["stem.0.weight"].shape[0]] + [target[f"stages.{s - 2}.0.project.0.weight"].shape[0]
                                                  for s in stages if f"stages.{s - 2}.0.project.0.weight" in target]
    if got != want:
        raise ModelError(f"{where}: {stem}: an X3D of stem/stage widths {'/'.join(map(str, got))}, stbench's "
                         f"{model_name} has {'/'.join(map(str, want))} (PySlowFast's native X3D rounds DIM_C1 x "
                         "WIDTH_FACTOR to whole channels, stbench's to multiples of 8 as pytorchvideo's create_x3d)")


def hosts(model_name: str) -> str | None:
    fam = family(model_name)
    if fam in ("slowfast", "x3d", "csn"):
        return None
    if fam == "ipcsn":
        return (f"PySlowFast has no {model_name}: it builds CSN only through pytorchvideo's create_csn (PTVCSN), "
                "which is ir-CSN")
    return f"PySlowFast has no {model_name} (stbench hosts its SlowFast, X3D and ir-CSN: {', '.join(HOSTED)})"


register_source(CheckpointSource(
    name="pyslowfast",
    description="facebookresearch/SlowFast checkpoints (SlowFast R50/R101, X3D-XS..XL, ir-CSN R101/R152 via PTVCSN)",
    tensors=lambda checkpoint, where: state_dict_of(checkpoint, where, ("model_state",), ("module.",)),
    rename=rename,
    input=dict(KINETICS_INPUT),
    hosts=hosts,
))
