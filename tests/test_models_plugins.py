"""Extension points used end to end from one file outside the package (``STBENCH_PLUGINS``): a new
3D module (a channel-separated unit), a new 2D module (a depthwise temporal conv) and a new backbone
(torchvision's ResNeXt-50 32x4d). Each runs in a fresh interpreter, as a user's plugin would."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

# One SGD step on a random batch: the loss is finite and the weights move.
TRAIN_ONE_STEP = '''
def train_one_step(name):
    import torch
    from benchmark.models import build_model
    torch.manual_seed(0)
    model = build_model(name, 3)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    clip, labels = torch.randn(2, 3, 4, 32, 32), torch.tensor([0, 2])
    loss = torch.nn.functional.cross_entropy(model(clip), labels)
    loss.backward()
    optimizer.step()
    moved = sum(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))
    return {"loss": float(loss), "moved": moved, "params": len(before)}
'''


def run_with_plugin(tmp_path, module: str, source: str, code: str) -> dict:
    """Write ``source`` as ``module``.py, run ``code`` with it as the only plugin, return its JSON."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    env = {**os.environ, "STBENCH_PLUGINS": module, "PYTHONPATH": str(tmp_path)}
    program = TRAIN_ONE_STEP + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


CSN_PLUGIN = '''
    from torch import nn
    from benchmark.models.registry import register_module
    from benchmark.models.video3d_build import build_video3d
    from benchmark.models.video3d_units import ConvUnit, Units3d

    class ChannelSeparated(ConvUnit):
        """ip-CSN: 1x1x1 channel mixing, then a depthwise 3x3x3 carrying the strides."""

        def parts(self, in_channels, out_channels, kernel_size, stride=(1, 1), *, groups=1, bn_eps=1e-5,
                  temporal_bias=False):
            k = kernel_size
            mix = nn.Conv3d(in_channels, out_channels, 1, bias=False)
            depthwise = nn.Conv3d(out_channels, out_channels, k, (stride[0], stride[1], stride[1]), k // 2,
                                  groups=out_channels, bias=False)
            return [("", mix, nn.BatchNorm3d(out_channels, eps=bn_eps)),
                    ("_dw", depthwise, nn.BatchNorm3d(out_channels, eps=bn_eps))]

    @register_module("CSN", requires=("video3d", "residual"), imagenet=False,
                     description="channel-separated 3x3x3 (test plugin)")
    def build(spec, num_classes, **options):
        return build_video3d(spec, num_classes, Units3d(conv=ChannelSeparated()), **options)
'''


def resnet18_units(size: int):
    """(in, out, input side, output side) of the 16 3x3 convs of a ResNet-18 at ``size`` pixels
    (stem and max pool divide by 4; layer2-4 halve the side in their first conv, rounding up)."""
    units, side = [], size // 4
    for stage, width in enumerate((64, 128, 256, 512)):
        for block in range(2):
            first = block == 0
            in_ch = (64 if stage == 0 else width // 2) if first else width
            out_side = (side + 1) // 2 if first and stage > 0 else side
            units += [(in_ch, width, side, out_side), (width, width, out_side, out_side)]
            side = out_side
    return units


def test_a_3d_module_plugin_is_listed_profiled_and_trains(tmp_path):
    result = run_with_plugin(tmp_path, "csn_plugin", CSN_PLUGIN, '''
        import json
        from benchmark.models import list_modules, parse_model_name
        from benchmark.models.profile import profile_model
        from benchmark.models.registry import supported_backbones
        try:
            parse_model_name("CSN-InceptionV1-f8")
            refused = ""
        except Exception as exc:
            refused = str(exc)
        print(json.dumps({"modules": list_modules(), "on": supported_backbones("CSN"), "refused": refused,
                          "csn": profile_model("CSN-ResNet18-f8", 10, 112),
                          "i3d": profile_model("I3D-ResNet18-f8", 10, 112),
                          "step": train_one_step("CSN-ResNet18-f4")}))
    ''')
    assert "CSN" in result["modules"]
    assert result["on"] == ["ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152"]  # residual + 3D layouts
    assert "does not support backbone InceptionV1" in result["refused"]
    units = resnet18_units(112)
    # I3D: a 3x3x3 conv (27 in out weights); CSN: 1x1x1 (in out) + depthwise 3x3x3 (27 out) + one more BN.
    delta_params = sum(i * o + 27 * o + 2 * o - 27 * i * o for i, o, _, _ in units)
    frames = 8  # no temporal stride without -tp
    delta_macs = sum(frames * (s_in ** 2 * o * i + s_out ** 2 * o * 27 - s_out ** 2 * o * i * 27)
                     for i, o, s_in, s_out in units)
    assert result["csn"]["params"] - result["i3d"]["params"] == delta_params
    assert result["csn"]["macs_conv"] - result["i3d"]["macs_conv"] == delta_macs
    step = result["step"]
    assert math.isfinite(step["loss"]) and step["loss"] > 0
    assert step["moved"] > 0.9 * step["params"]


TDW_PLUGIN = '''
    from torch import nn
    from benchmark.models.registry import register_module
    from benchmark.models.temporal import FrameAware
    from benchmark.models.video2d import build_video2d

    class DepthwiseTemporalConv(FrameAware):
        """A depthwise 3x1x1 conv over time, no bias: 3 C parameters, 3 MACs per output value."""

        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0), groups=channels, bias=False)

        def forward(self, x):
            clips = self.to_clips(x).transpose(1, 2)
            return self.conv(clips).transpose(1, 2).reshape(x.shape)

    @register_module("TDW", description="depthwise temporal conv at the backbone's operator points (test plugin)")
    def build(spec, num_classes, **options):
        return build_video2d(spec, num_classes, operator=DepthwiseTemporalConv, **options)
'''


def test_a_2d_module_plugin_is_listed_profiled_and_trains(tmp_path):
    result = run_with_plugin(tmp_path, "tdw_plugin", TDW_PLUGIN, '''
        import json
        from benchmark.models import list_modules
        from benchmark.models.profile import profile_model
        from benchmark.models.registry import supported_backbones
        print(json.dumps({"modules": list_modules(), "on": supported_backbones("TDW"),
                          "tdw": profile_model("TDW-ResNet18-f8", 10, 112),
                          "tsn": profile_model("TSN-ResNet18-f8", 10, 112),
                          "step": train_one_step("TDW-ResNet18-tp-f4"),
                          "step_inception": train_one_step("TDW-InceptionV1-f4")}))
    ''')
    assert "TDW" in result["modules"] and "InceptionV1" in result["on"]
    # One operator on the input of each of the 8 residual branches: (channels, side) at 112 pixels.
    points = [(64, 28), (64, 28), (64, 28), (128, 14), (128, 14), (256, 7), (256, 7), (512, 4)]
    assert result["tdw"]["params"] - result["tsn"]["params"] == sum(3 * c for c, _ in points)
    assert result["tdw"]["macs_conv"] - result["tsn"]["macs_conv"] == sum(3 * c * s * s * 8 for c, s in points)
    for step in (result["step"], result["step_inception"]):
        assert math.isfinite(step["loss"]) and step["loss"] > 0
        assert step["moved"] > 0.9 * step["params"]


RESNEXT_PLUGIN = '''
    from benchmark.models.backbones.resnet import IMAGENET_MEAN, IMAGENET_STD, resnet_layout
    from benchmark.models.registry import register_backbone
    from benchmark.models.weights import load_backbone_weights

    @register_backbone("ResNeXt50", layout=resnet_layout("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4),
                       mean=IMAGENET_MEAN, std=IMAGENET_STD, description="ResNeXt-50 32x4d (test plugin)")
    def build(pretrained=None):
        from torchvision import models as tvm  # here, not at the top: launch/status load this file for its name only

        return load_backbone_weights(tvm.resnext50_32x4d(weights=None), pretrained,
                                     imagenet=tvm.ResNeXt50_32X4D_Weights.IMAGENET1K_V1)
'''


def test_a_backbone_plugin_builds_with_tsn_tam_and_i3d(tmp_path):
    weights = tmp_path / "resnext50.pth"
    result = run_with_plugin(tmp_path, "resnext_plugin", RESNEXT_PLUGIN, f'''
        import json, torch
        from torchvision import models as tvm
        from benchmark.models import build_model, list_backbones
        from benchmark.models.registry import supported_backbones
        torch.manual_seed(0)
        net2d = tvm.resnext50_32x4d(weights=None)
        torch.save(net2d.state_dict(), {str(weights)!r})
        out, params = {{}}, {{}}
        for module in ("TSN", "TAM", "I3D"):
            model = build_model(f"{{module}}-ResNeXt50-f4", 3)
            out[module] = list(model(torch.randn(1, 3, 4, 32, 32)).shape)
            params[module] = sum(p.numel() for p in model.parameters())
        inflated = build_model("I3D-ResNeXt50-f4", 3, pretrained={str(weights)!r})
        w2d = net2d.state_dict()["layer2.0.conv2.weight"]
        w3d = inflated.state_dict()["layer2.0.conv2.weight"]
        same = all(torch.equal(w3d[:, :, t], w2d) for t in range(w3d.shape[2]))
        convs3 = sum(m.weight.numel() for m in net2d.modules()
                     if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
        print(json.dumps({{"backbones": list_backbones(), "tsm": "ResNeXt50" in supported_backbones("TSM"),
                          "out": out, "params": params, "tv": sum(p.numel() for p in net2d.parameters()),
                          "convs3": convs3, "stem": net2d.conv1.weight.numel(), "inflated_ok": same}}))
    ''')
    assert "ResNeXt50" in result["backbones"] and result["tsm"]
    assert all(shape == [1, 3] for shape in result["out"].values())
    fc_change = 2049 * 3 - 2049 * 1000  # the 1000-class ImageNet fc becomes a 3-class one
    assert result["params"]["TSN"] == result["tv"] + fc_change
    # I3D: every 3x3 grouped conv becomes 3x3x3 and the 7x7 stem 3x7x7 (3 times the weights).
    assert result["params"]["I3D"] == result["tv"] + fc_change + 2 * result["convs3"] + 2 * result["stem"]
    # TAM adds 3 weights per channel on the input of each of the 16 residual branches.
    inputs = [64, 256, 256] + [256, 512, 512, 512] + [512] + [1024] * 5 + [1024, 2048, 2048]
    assert result["params"]["TAM"] - result["params"]["TSN"] == 3 * sum(inputs)
    assert result["inflated_ok"]  # ResNeXt's torchvision names and grouped shapes inflate by name
