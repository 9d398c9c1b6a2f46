"""Registry-level behaviour: names, plugins, and which models ImageNet weights can initialise."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from benchmark.engine.run_config import load_run_config
from benchmark.errors import ModelError
from benchmark.models import has_imagenet_weights, parse_model_name


def test_names_round_trip_case_insensitively():
    spec = parse_model_name("tam-resnet50-TP-f16")
    assert (spec.module, spec.backbone, spec.tp, spec.frames) == ("TAM", "ResNet50", True, 16)
    assert spec.name == "TAM-ResNet50-tp-f16"
    assert parse_model_name("bLVNet-TAM-ResNet50-f16").module == "bLVNet-TAM"
    assert parse_model_name("VoV3D-M-f16").is_architecture
    with pytest.raises(ModelError, match=r"unknown backbone 'ResNet51'.*backbones: InceptionV1, ResNet18"):
        parse_model_name("TAM-ResNet51-f8")
    with pytest.raises(ModelError, match=r"unknown module 'TAN'.*modules: .*TAM"):
        parse_model_name("TAN-ResNet50-f8")


def test_auto_init_uses_imagenet_only_where_torchvision_has_weights():
    assert has_imagenet_weights("TAM-ResNet18-f8") and has_imagenet_weights("I3D-InceptionV1-f8")
    assert not has_imagenet_weights("VoV3D-M-f16") and not has_imagenet_weights("bLVNet-TAM-ResNet50-f16")
    assert load_run_config({"model": "TSN-ResNet18-f8", "dataset": "synthetic-temporal"}).pretrained == "imagenet"
    assert load_run_config({"model": "VoV3D-M-f8", "dataset": "synthetic-temporal"}).pretrained is None
    cfg = load_run_config({"model": "TSN-ResNet18-f16", "dataset": "synthetic-temporal", "init_from": "runs/f8"})
    assert cfg.pretrained is None


def test_a_plugin_module_from_outside_the_package_is_found_everywhere(tmp_path):
    """STBENCH_PLUGINS: one file registering a module makes it buildable, profilable and listable."""
    (tmp_path / "my_shift.py").write_text(textwrap.dedent('''
        import torch
        from benchmark.models.registry import register_module
        from benchmark.models.temporal import FrameAware
        from benchmark.models.video2d import build_video2d

        class HalfShift(FrameAware):
            def __init__(self, channels):
                super().__init__()
                self.channels = channels

            def forward(self, x):
                clips = self.to_clips(x)
                half = self.channels // 2
                shifted = torch.cat([clips[:, :1, :half], clips[:, :-1, :half]], 1)
                keep = torch.ones(clips.shape[1], 1, 1, 1)  # a tensor made in forward, as users write
                keep[0] = 0
                out = torch.cat([shifted * keep, clips[:, :, half:]], 2)
                return out.reshape(x.shape)

        @register_module("HalfShift", description="test plugin")
        def build(spec, num_classes, **options):
            return build_video2d(spec, num_classes, operator=HalfShift, **options)
    '''))
    code = textwrap.dedent('''
        import json, torch
        from benchmark.models import build_model, list_modules
        from benchmark.models.profile import profile_model
        out = build_model("HalfShift-ResNet18-tp-f4", 3)(torch.randn(2, 3, 4, 32, 32))
        # profiled on the meta device although its forward makes a (CPU-default) tensor
        print(json.dumps({"modules": list_modules(), "shape": list(out.shape),
                          "profile": profile_model("HalfShift-ResNet18-f8", 87),
                          "tsn": profile_model("TSN-ResNet18-f8", 87)}))
    ''')
    env = {"STBENCH_PLUGINS": "my_shift", "PYTHONPATH": str(tmp_path)}
    import json
    import os

    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "HalfShift" in result["modules"] and result["shape"] == [2, 3]
    # A shift costs nothing and adds no parameters: the same figures as TSN.
    assert result["profile"]["params"] == result["tsn"]["params"]
    assert result["profile"]["macs_conv"] == result["tsn"]["macs_conv"]
