"""The ``pyslowfast`` and ``pytorchvideo`` checkpoint sources (SlowFast, X3D, ir-CSN).

Always: files in the official key layouts recorded in ``tests/data/official_layouts_sota.json``
(measured by building the official models; random values drawn here) are imported, and every
tensor must land where the renaming rule documented in the sources puts it; that rule is written a
second time below, from file key to stbench key, independently of the sources' code. A pair of
tensors placed crosswise is caught by the importer (different shapes) or by that placement check
(equal shapes); tampered files and other variants give one-line errors naming the key.

Where pytorchvideo is installed (it is not a dependency of stbench): its hub models, with random
weights and BatchNorm statistics, give the logits of the imported stbench model.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.errors import ModelError
from benchmark.models import build_model
from benchmark.models.published.importer import import_checkpoint
from benchmark.models.published.source import SOURCES

FIXTURE = json.loads((Path(__file__).parent / "data" / "official_layouts_sota.json").read_text())
LAYOUTS = {(entry["source"], entry["official"]): entry for entry in FIXTURE["layouts"]}
CLASSES = 10  # the fixture's classifier size
PF_SLOWFAST, PF_X3D = ("pyslowfast", "SlowFast SLOWFAST_8x8_R50"), ("pyslowfast", "X3D X3D_XS")
PTV_SLOWFAST, PTV_X3D, PTV_CSN = ("pytorchvideo", "slowfast_r50"), ("pytorchvideo", "x3d_xs"), ("pytorchvideo", "csn_r101")

# --- the renaming rules, file key -> stbench key (prefix patterns; the parameter name is kept) ----------
PATH = {"0": "slow", "1": "fast"}
STEP = {"a": 0, "a_bn": 1, "b": 3, "b_bn": 4, "c": 6, "c_bn": 7,
        "conv_a": 0, "norm_a": 1, "conv_b": 3, "norm_b": 4, "conv_c": 6, "norm_c": 7}
X3D_PART = {"a": "expand.0", "a_bn": "expand.1", "b": "channelwise", "b_bn": "bn", "se.fc1": "se.reduce",
            "se.fc2": "se.expand", "c": "project.0", "c_bn": "project.1",
            "conv_a": "expand.0", "norm_a": "expand.1", "conv_b": "channelwise", "norm_b.0": "bn",
            "norm_b.1.block.0": "se.reduce", "norm_b.1.block.2": "se.expand", "conv_c": "project.0",
            "norm_c": "project.1"}
CSN_PART = {"conv_a": "conv1", "norm_a": "bn1", "conv_b": "conv2", "norm_b": "bn2", "conv_c": "conv3", "norm_c": "bn3"}

RULES = {
    PF_SLOWFAST: [
        (r"s1\.pathway(\d)_stem\.conv\.", lambda m: f"{PATH[m[1]]}_stem.0."),
        (r"s1\.pathway(\d)_stem\.bn\.", lambda m: f"{PATH[m[1]]}_stem.1."),
        (r"s(\d)_fuse\.conv_f2s\.", lambda m: f"laterals.{int(m[1]) - 1}.conv."),
        (r"s(\d)_fuse\.bn\.", lambda m: f"laterals.{int(m[1]) - 1}.bn."),
        (r"s(\d)\.pathway(\d)_res(\d+)\.branch2\.(\w+)\.",
         lambda m: f"{PATH[m[2]]}_stages.{int(m[1]) - 2}.{m[3]}.branch.{STEP[m[4]]}."),
        (r"s(\d)\.pathway(\d)_res(\d+)\.branch1\.", lambda m: f"{PATH[m[2]]}_stages.{int(m[1]) - 2}.{m[3]}.shortcut.0."),
        (r"s(\d)\.pathway(\d)_res(\d+)\.branch1_bn\.", lambda m: f"{PATH[m[2]]}_stages.{int(m[1]) - 2}.{m[3]}.shortcut.1."),
        (r"head\.projection\.", lambda m: "classifier.fc."),
    ],
    PF_X3D: [
        (r"s1\.pathway0_stem\.conv_xy\.", lambda m: "stem.0."),  # 1x3x3 spatial
        (r"s1\.pathway0_stem\.conv\.", lambda m: "stem.1."),  # 5x1x1 depthwise
        (r"s1\.pathway0_stem\.bn\.", lambda m: "stem.2."),
        (r"s(\d)\.pathway0_res(\d+)\.branch2\.(se\.fc\d|\w+)\.",
         lambda m: f"stages.{int(m[1]) - 2}.{m[2]}.{X3D_PART[m[3]]}."),
        (r"s(\d)\.pathway0_res(\d+)\.branch1\.", lambda m: f"stages.{int(m[1]) - 2}.{m[2]}.shortcut.0."),
        (r"s(\d)\.pathway0_res(\d+)\.branch1_bn\.", lambda m: f"stages.{int(m[1]) - 2}.{m[2]}.shortcut.1."),
        (r"head\.conv_5\.", lambda m: "conv5.0."),
        (r"head\.conv_5_bn\.", lambda m: "conv5.1."),
        (r"head\.lin_5\.", lambda m: "fc1."),
        (r"head\.projection\.", lambda m: "classifier.fc."),
    ],
    PTV_SLOWFAST: [
        (r"blocks\.0\.multipathway_blocks\.(\d)\.conv\.", lambda m: f"{PATH[m[1]]}_stem.0."),
        (r"blocks\.0\.multipathway_blocks\.(\d)\.norm\.", lambda m: f"{PATH[m[1]]}_stem.1."),
        (r"blocks\.(\d)\.multipathway_fusion\.conv_fast_to_slow\.", lambda m: f"laterals.{m[1]}.conv."),
        (r"blocks\.(\d)\.multipathway_fusion\.norm\.", lambda m: f"laterals.{m[1]}.bn."),
        (r"blocks\.(\d)\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.branch2\.(\w+)\.",
         lambda m: f"{PATH[m[2]]}_stages.{int(m[1]) - 1}.{m[3]}.branch.{STEP[m[4]]}."),
        (r"blocks\.(\d)\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.branch1_conv\.",
         lambda m: f"{PATH[m[2]]}_stages.{int(m[1]) - 1}.{m[3]}.shortcut.0."),
        (r"blocks\.(\d)\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.branch1_norm\.",
         lambda m: f"{PATH[m[2]]}_stages.{int(m[1]) - 1}.{m[3]}.shortcut.1."),
        (r"blocks\.6\.proj\.", lambda m: "classifier.fc."),
    ],
    PTV_X3D: [
        (r"blocks\.0\.conv\.conv_t\.", lambda m: "stem.0."),  # pytorchvideo's name for the 1x3x3 conv
        (r"blocks\.0\.conv\.conv_xy\.", lambda m: "stem.1."),  # and for the 5x1x1 depthwise one
        (r"blocks\.0\.norm\.", lambda m: "stem.2."),
        (r"blocks\.(\d)\.res_blocks\.(\d+)\.branch2\.(norm_b\.1\.block\.\d|norm_b\.0|\w+)\.",
         lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.{X3D_PART[m[3]]}."),
        (r"blocks\.(\d)\.res_blocks\.(\d+)\.branch1_conv\.", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.shortcut.0."),
        (r"blocks\.(\d)\.res_blocks\.(\d+)\.branch1_norm\.", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.shortcut.1."),
        (r"blocks\.5\.pool\.pre_conv\.", lambda m: "conv5.0."),
        (r"blocks\.5\.pool\.pre_norm\.", lambda m: "conv5.1."),
        (r"blocks\.5\.pool\.post_conv\.", lambda m: "fc1."),
        (r"blocks\.5\.proj\.", lambda m: "classifier.fc."),
    ],
    PTV_CSN: [
        (r"blocks\.0\.conv\.", lambda m: "conv1."),
        (r"blocks\.0\.norm\.", lambda m: "bn1."),
        (r"blocks\.(\d)\.res_blocks\.(\d+)\.branch2\.(\w+)\.", lambda m: f"layer{m[1]}.{m[2]}.{CSN_PART[m[3]]}."),
        (r"blocks\.(\d)\.res_blocks\.(\d+)\.branch1_conv\.", lambda m: f"layer{m[1]}.{m[2]}.downsample.0."),
        (r"blocks\.(\d)\.res_blocks\.(\d+)\.branch1_norm\.", lambda m: f"layer{m[1]}.{m[2]}.downsample.1."),
        (r"blocks\.5\.proj\.", lambda m: "head.fc."),
    ],
}
# pytorchvideo's X3D has no BN on res2's first (24 -> 24) shortcut: the importer adds an identity BN there.
IDENTITY_BN = {PTV_X3D: "stages.0.0.shortcut.1."}


def stbench_key(layout: tuple, file_key: str) -> str:
    for pattern, make in RULES[layout]:
        match = re.match(pattern, file_key)
        if match:
            return make(match) + file_key[match.end():]
    raise AssertionError(f"the test's rule has no place for {file_key}")


# --- files in the official layouts -----------------------------------------------------------------------
_TENSORS: dict[tuple, dict[str, torch.Tensor]] = {}


def official_tensors(layout: tuple) -> dict[str, torch.Tensor]:
    """The layout's keys and shapes with distinct random values (drawn once per layout)."""
    if layout not in _TENSORS:
        g = torch.Generator().manual_seed(len(_TENSORS))
        _TENSORS[layout] = {key: torch.tensor(7) if key.endswith("num_batches_tracked") else torch.randn(shape, generator=g)
                            for key, shape in LAYOUTS[layout]["keys"]}
    return dict(_TENSORS[layout])


def write(path: Path, tensors: dict, wrap: str = "model_state", prefix: str = "") -> Path:
    state = {prefix + key: value for key, value in tensors.items()}
    torch.save({wrap: state, "epoch": 10, "cfg": "MODEL:\n  NUM_CLASSES: 10\n"} if wrap else state, path)
    return path


def imported(tmp_path: Path, layout: tuple, tensors: dict | None = None, model: str | None = None,
             source: str | None = None, num_classes: int | None = CLASSES, **write_options) -> dict:
    path = write(tmp_path / "official.pyth", official_tensors(layout) if tensors is None else tensors, **write_options)
    try:
        return import_checkpoint(source or layout[0], path, model or LAYOUTS[layout]["model"], num_classes=num_classes)
    finally:
        path.unlink()


def check_placement(layout: tuple, record: dict, tensors: dict) -> None:
    """Each file tensor is the model tensor the rule names; nothing else is filled (but an identity BN)."""
    state = record["model"]
    placed = set()
    for key, value in tensors.items():
        target = stbench_key(layout, key)
        assert target in state, f"{key} -> {target}: no such model tensor"
        assert torch.equal(state[target], value.to(state[target].dtype)), f"{key} is not at {target}"
        placed.add(target)
    rest = {k for k in state if k not in placed and not k.endswith("num_batches_tracked")}
    identity = IDENTITY_BN.get(layout)
    assert rest == ({identity + p for p in ("weight", "bias", "running_mean", "running_var")} if identity else set())
    if identity:
        assert torch.equal(state[identity + "weight"], torch.ones_like(state[identity + "weight"]))
        assert not state[identity + "bias"].any() and not state[identity + "running_mean"].any()
        assert torch.allclose(state[identity + "running_var"] + 1e-5, torch.ones(()), rtol=0, atol=1e-7)


ALL = [PF_SLOWFAST, PF_X3D, PTV_SLOWFAST, PTV_X3D, PTV_CSN]
LABEL = [f"{source}:{official.split()[-1]}" for source, official in ALL]


@pytest.mark.parametrize("layout", ALL, ids=LABEL)
def test_each_tensor_lands_where_the_rule_puts_it(tmp_path, layout):
    record = imported(tmp_path, layout)
    assert record["source"] == layout[0] and record["num_classes"] == CLASSES
    assert record["input"]["mean"] == [0.45] * 3 and record["input"]["std"] == [0.225] * 3
    check_placement(layout, record, official_tensors(layout))
    model = build_model(LAYOUTS[layout]["model"], num_classes=CLASSES)
    model.load_state_dict(record["model"], strict=True)


def test_the_fixture_is_the_documented_layout():
    """The recorded layouts have the sizes the sources' docstrings state (the rule covers every key)."""
    for layout in ALL:
        keys = [k for k, _ in LAYOUTS[layout]["keys"]]
        assert all(stbench_key(layout, k) for k in keys)
    shapes = {layout: dict(LAYOUTS[layout]["keys"]) for layout in ALL}
    assert shapes[PF_SLOWFAST]["s1_fuse.conv_f2s.weight"] == [16, 8, 7, 1, 1]  # R50 8x8: 7x1x1 laterals
    assert shapes[PTV_SLOWFAST]["blocks.0.multipathway_fusion.conv_fast_to_slow.weight"] == [16, 8, 7, 1, 1]
    assert shapes[PTV_X3D]["blocks.0.conv.conv_t.weight"] == [24, 3, 1, 3, 3]  # named conv_t, spatial
    assert shapes[PF_X3D]["s1.pathway0_stem.conv_xy.weight"] == [24, 3, 1, 3, 3]
    assert "s2.pathway0_res0.branch1_bn.weight" in shapes[PF_X3D]
    assert "blocks.1.res_blocks.0.branch1_norm.weight" not in shapes[PTV_X3D]
    assert shapes[PTV_CSN]["blocks.2.res_blocks.0.branch2.conv_b.weight"] == [128, 1, 3, 3, 3]  # channel-wise


# --- crosswise tensors -------------------------------------------------------------------------------------
SWAPS = [  # (layout, key, key, caught by)
    (PF_SLOWFAST, "s2.pathway0_res1.branch2.a_bn.running_mean", "s2.pathway0_res2.branch2.a_bn.running_mean", "placement"),
    (PF_SLOWFAST, "s2.pathway1_res1.branch2.b.weight", "s2.pathway1_res2.branch2.b.weight", "placement"),
    (PF_SLOWFAST, "s1_fuse.conv_f2s.weight", "s2_fuse.conv_f2s.weight", "importer"),  # lateral connections
    (PF_SLOWFAST, "s2.pathway0_res0.branch2.a_bn.running_mean", "s2.pathway1_res0.branch2.a_bn.running_mean",
     "importer"),  # Slow vs Fast pathway
    (PF_X3D, "s3.pathway0_res0.branch2.se.fc1.bias", "s3.pathway0_res2.branch2.se.fc1.bias", "placement"),
    (PTV_X3D, "blocks.0.conv.conv_t.weight", "blocks.0.conv.conv_xy.weight", "importer"),
    (PTV_X3D, "blocks.2.res_blocks.1.branch2.norm_b.0.running_var", "blocks.2.res_blocks.2.branch2.norm_b.0.running_var",
     "placement"),
    (PTV_SLOWFAST, "blocks.1.multipathway_fusion.norm.running_mean", "blocks.1.multipathway_blocks.0.res_blocks.0."
     "branch2.norm_a.running_mean", "placement"),  # lateral BN vs res2's first BN: both 64 wide
    (PTV_CSN, "blocks.3.res_blocks.5.branch2.conv_b.weight", "blocks.3.res_blocks.6.branch2.conv_b.weight", "placement"),
]


@pytest.mark.parametrize("layout, first, second, caught_by", SWAPS, ids=[f"{s[1]}<->{s[2]}" for s in SWAPS])
def test_a_crosswise_pair_is_caught(tmp_path, layout, first, second, caught_by):
    intended = official_tensors(layout)
    swapped = dict(intended)
    swapped[first], swapped[second] = intended[second], intended[first]
    if caught_by == "importer":
        with pytest.raises(ModelError, match="shape mismatch|temporal kernel"):
            imported(tmp_path, layout, swapped)
        return
    assert intended[first].shape == intended[second].shape
    record = imported(tmp_path, layout, swapped)  # same shapes: the file alone cannot tell
    with pytest.raises(AssertionError, match="is not at"):
        check_placement(layout, record, intended)


def test_an_importer_that_places_a_pair_crosswise_fails_the_placement_check(tmp_path, monkeypatch):
    source = SOURCES["pyslowfast"]
    rename = source.rename

    def crosswise(tensors, model, name, where):
        out = rename(tensors, model, name, where)
        a, b = "slow_stages.1.0.branch.1.running_mean", "slow_stages.1.1.branch.1.running_mean"
        out[a], out[b] = out[b], out[a]
        return out

    monkeypatch.setattr(source, "rename", crosswise)
    record = imported(tmp_path, PF_SLOWFAST)
    with pytest.raises(AssertionError, match="s3.pathway0_res0.branch2.a_bn.running_mean is not at"):
        check_placement(PF_SLOWFAST, record, official_tensors(PF_SLOWFAST))


# --- tampered files ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ALL, ids=LABEL)
def test_tampered_files_name_the_key(tmp_path, layout):
    tensors = official_tensors(layout)
    keys = [k for k in tensors if k.endswith("running_var")]
    dropped = keys[len(keys) // 2]
    missing = {k: v for k, v in tensors.items() if k != dropped}
    with pytest.raises(ModelError, match=re.escape(stbench_key(layout, dropped))):
        imported(tmp_path, layout, missing)

    extra_key = dropped.replace("running_var", "extra_scale")
    with pytest.raises(ModelError, match=f"no place in the model: {re.escape(extra_key)}"):
        imported(tmp_path, layout, dict(tensors, **{extra_key: torch.ones(3)}))

    classifier = next(k for k in tensors if stbench_key(layout, k).endswith("fc.weight"))
    with pytest.raises(ModelError, match=rf"{re.escape(stbench_key(layout, classifier))} \(from "
                                         rf"{re.escape(classifier)}\): file \({CLASSES}, "):
        imported(tmp_path, layout, num_classes=CLASSES + 3)
    assert "--classes" in str(pytest.raises(ModelError, imported, tmp_path, layout, num_classes=CLASSES + 3).value)
    # without a class count, the file's classifier (head.fc or classifier.fc) sizes the model
    assert imported(tmp_path, layout, num_classes=None)["num_classes"] == CLASSES


def test_non_local_blocks_and_a_bn_after_lin5_are_named(tmp_path):
    with pytest.raises(ModelError, match=r"s3\.pathway0_nonlocal1\.conv_theta\.weight .*non-local"):
        imported(tmp_path, PF_SLOWFAST, dict(official_tensors(PF_SLOWFAST), **{
            "s3.pathway0_nonlocal1.conv_theta.weight": torch.ones(256, 512, 1, 1, 1)}))
    with pytest.raises(ModelError, match=r"head\.lin_5_bn\.weight: an X3D head with a BN after lin_5"):
        imported(tmp_path, PF_X3D, dict(official_tensors(PF_X3D), **{"head.lin_5_bn.weight": torch.ones(2048)}))


# --- other variants, families and wrappers -----------------------------------------------------------------
@pytest.mark.parametrize("layout, model, message", [
    (PF_SLOWFAST, "SlowFast4x16-ResNet50-f32", r"s1_fuse\.conv_f2s\.weight: the file's lateral connection has a "
                                               r"7x1x1 temporal kernel, stbench's SlowFast4x16-ResNet50-f32 has 5x1x1"),
    (PTV_SLOWFAST, "SlowFast8x8-ResNet101-f32", r"another depth: the file's stages have Slow 3/4/6/3, Fast 3/4/6/3 "
                                                r"blocks, stbench's SlowFast8x8-ResNet101-f32 has Slow 3/4/23/3"),
    (PF_X3D, "X3D-L-f16", r"the file's stages have 3/5/11/7 blocks, stbench's X3D-L-f16 has 5/10/25/15"),
    (PTV_X3D, "X3D-XL-f16", r"the file's stages have 3/5/11/7 blocks, stbench's X3D-XL-f16 has 5/10/25/15"),
    (PTV_CSN, "CSN-ResNet152-f32", r"3/4/23/3 blocks, stbench's CSN-ResNet152-f32 has 3/8/36/3"),
    (PTV_X3D, "SlowFast8x8-ResNet50-f32", r"the file holds X3D \(blocks\.0\.conv\.conv_t\.weight\), not the SlowFast"),
    (PF_SLOWFAST, "X3D-XS-f4", r"the file holds SlowFast \(s1\.pathway1_stem\.\w+\.\w+\), not the X3D"),
    (PTV_CSN, "X3D-M-f16", r"the file holds ir-CSN"),
])
def test_another_variant_is_one_line_naming_what_differs(tmp_path, layout, model, message):
    with pytest.raises(ModelError, match=message):
        imported(tmp_path, layout, model=model)


@pytest.mark.parametrize("source", ["pyslowfast", "pytorchvideo"])
def test_ip_csn_and_other_models_are_not_hosted(tmp_path, source):
    assert "ir-CSN" in SOURCES[source].hosts("ipCSN-ResNet101-f32")
    assert SOURCES[source].hosts("TSM-ResNet50-f8")
    assert SOURCES[source].hosts("X3D-XL-f16") is None and SOURCES[source].hosts("CSN-ResNet152-f32") is None
    with pytest.raises(ModelError, match=f"{source}: .*no ipCSN-ResNet101-f32"):
        imported(tmp_path, PTV_CSN, model="ipCSN-ResNet101-f32", source=source)


@pytest.mark.parametrize("layout, source, write_options", [
    (PF_X3D, "pyslowfast", {"prefix": "module."}),  # a DataParallel copy
    (PTV_X3D, "pyslowfast", {"prefix": "model."}),  # PySlowFast's PTVX3D wrapper
    (PTV_CSN, "pyslowfast", {"prefix": "module.model."}),  # PTVCSN under DataParallel
    (PTV_X3D, "pyslowfast", {}),  # pytorchvideo's model zoo file, read by PySlowFast's source
    (PTV_X3D, "pytorchvideo", {"wrap": None}),  # a bare state dict
    (PTV_X3D, "pytorchvideo", {"prefix": "model."}),
])
def test_wrappers(tmp_path, layout, source, write_options):
    record = imported(tmp_path, layout, source=source, **write_options)
    check_placement(layout, record, official_tensors(layout))


# --- pytorchvideo's own models: the logits ---------------------------------------------------------------
def pytorchvideo_hub():
    try:
        import pytorchvideo.models.hub as hub
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision.transforms.functional_tensor":
            pytest.skip(f"pytorchvideo is not installed ({exc}); it is not a dependency of stbench")
        import torchvision.transforms.functional as functional  # removed module its release imports
        sys.modules["torchvision.transforms.functional_tensor"] = functional
        import pytorchvideo.models.hub as hub
    return hub


def randomized(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
            elif isinstance(m, (nn.Conv3d, nn.Linear)):
                m.weight.normal_(0, (2.0 / m.weight[0].numel()) ** 0.5, generator=g)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1, generator=g)
    return model.eval()


@pytest.mark.parametrize("hub_name, model_name, frames", [
    ("slowfast_r50", "SlowFast8x8-ResNet50-f32", 32), ("x3d_m", "X3D-M-f16", 16), ("csn_r101", "CSN-ResNet101-f8", 8),
])
def test_pytorchvideo_hub_models_give_the_same_logits(tmp_path, hub_name, model_name, frames):
    hub = pytorchvideo_hub()
    official = getattr(hub, hub_name)(model_num_class=7, **({"head_activation": None} if hub_name == "x3d_m" else {}))
    # The heads pool a window fixed for the training crop; this 64-pixel clip's maps are pooled whole.
    head = official.blocks[-1]
    if hub_name == "slowfast_r50":
        official.blocks[5].pool = nn.ModuleList([nn.AdaptiveAvgPool3d(1), nn.AdaptiveAvgPool3d(1)])
    elif hub_name == "x3d_m":
        head.pool.pool = nn.AdaptiveAvgPool3d(1)
    else:
        head.pool = nn.AdaptiveAvgPool3d(1)
    randomized(official)
    path = tmp_path / f"{hub_name}.pyth"
    torch.save({"model_state": official.state_dict()}, path)
    record = import_checkpoint("pytorchvideo", path, model_name, num_classes=7)
    ours = build_model(model_name, num_classes=7)
    ours.load_state_dict(record["model"], strict=True)
    ours.eval()
    clip = torch.randn(1, 3, frames, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = official([clip[:, :, ::4], clip] if hub_name.startswith("slowfast") else clip).reshape(1, -1)
        got = ours(clip)
    assert want.abs().max() > 0.1
    assert (got - want).abs().max() <= 1e-4 * want.abs().max()
