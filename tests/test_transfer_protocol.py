"""Fine-tuning (paper 002 Table 4): the ``finetune`` protocol's values, and ``init_from`` giving a run
with another class count every weight but a new classifier, while other mismatches stay errors."""

import pytest
import torch
import yaml

from benchmark.engine.checkpoint import init_from_run
from benchmark.engine.protocol import protocol_defaults
from benchmark.engine.transfer import classifier_name, with_new_classifier
from benchmark.errors import ConfigError, ModelError
from benchmark.grid import experiment_from_dict
from benchmark.models import build_model


def test_finetune_protocol_is_supplement_d3():
    # "finetuned 45 epochs with cosine annealing learning rate schedule starting with 0.01, and
    # trained the models with a batch size of 48 with synchronized batch normalization"; the rest as
    # Table 12 (SGD 0.9, weight decay 5e-4, dropout 0.5); weights from init_from, not ImageNet.
    p = protocol_defaults(32, "ucf101", "finetune")
    assert (p["epochs"], p["schedule"], p["milestones"], p["lr"], p["batch_size"], p["sync_bn"]) == \
        (45, "cosine", [], 0.01, 48, True)
    assert (p["momentum"], p["weight_decay"], p["dropout"]) == (0.9, 0.0005, 0.5)
    assert (p["pretrained"], p["init_from_frames"]) == (None, None)
    assert protocol_defaults(32, "mini-kinetics", "finetune") == p  # any dataset, any frames
    assert protocol_defaults(32, "mini-kinetics")["sync_bn"] is False  # Table 12 unchanged
    with pytest.raises(ConfigError, match=r"protocol: invalid value 'transfer' \(valid values: paper, finetune\)"):
        protocol_defaults(32, "ucf101", "transfer")


def _fake_run(tmp_path, name, model_name, num_classes):
    """A run directory holding only what init_from reads: config.yaml and checkpoints/best.pt."""
    run = tmp_path / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"model": model_name, "num_classes": num_classes}))
    torch.manual_seed(1)
    source = build_model(model_name, num_classes, pretrained=None)
    torch.save({"model": source.state_dict()}, run / "checkpoints/best.pt")
    return run, source.state_dict()


def test_init_from_a_run_with_other_classes_loads_all_but_the_classifier(tmp_path, caplog):
    run, source = _fake_run(tmp_path, "k400", "TAM-ResNet18-f8", 400)
    torch.manual_seed(2)
    model = build_model("TAM-ResNet18-f8", 101, pretrained=None)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level("INFO", logger="benchmark.engine"):
        init_from_run(model, run)
    assert "new classifier for 101 classes (the run's had 400)" in caplog.text
    loaded = model.state_dict()
    assert classifier_name(model) == "head.fc"
    for key, value in loaded.items():
        if key.startswith("head.fc."):
            assert torch.equal(value, fresh[key]), key  # this run's own initialisation
        else:
            assert torch.equal(value, source[key]), key  # TAM and backbone weights from the run
    assert loaded["head.fc.weight"].shape == (101, 512)


def test_same_class_count_keeps_the_classifier_and_other_networks_stay_errors(tmp_path):
    run, source = _fake_run(tmp_path, "f8", "TAM-ResNet18-f8", 4)
    model = build_model("TAM-ResNet18-f16", 4, pretrained=None)  # progressive training: all weights
    init_from_run(model, run)
    assert all(torch.equal(v, source[k]) for k, v in model.state_dict().items())
    # Another module: named error, with the run's model (TAM's conv1 is the 2D conv plus its TAM).
    with pytest.raises(ModelError, match=r"\(a TAM-ResNet18-f8 run\): checkpoint does not match the model "
                                         r"\(missing in checkpoint: features.layer1.0.conv1.weight, .*"
                                         r"not in model: features.layer1.0.conv1.0.weight"):
        init_from_run(build_model("TSN-ResNet18-f8", 10, pretrained=None), run)
    # Another backbone: the classifier's input width differs too, so nothing is replaced silently.
    with pytest.raises(ModelError, match=r"checkpoint does not match the model \(missing in checkpoint: "):
        init_from_run(build_model("TAM-ResNet50-f8", 10, pretrained=None), run)


def test_with_new_classifier_only_for_a_class_count_change():
    model = build_model("TSN-ResNet18-f4", 5, pretrained=None)
    other = build_model("TSN-ResNet18-f4", 3, pretrained=None).state_dict()
    state, classes = with_new_classifier(model, other)
    assert classes == (3, 5)
    assert torch.equal(state["head.fc.weight"], model.state_dict()["head.fc.weight"])
    assert torch.equal(state["head.fc.bias"], model.state_dict()["head.fc.bias"])
    assert all(torch.equal(state[k], other[k]) for k in other if not k.startswith("head.fc."))
    assert with_new_classifier(model, build_model("TSN-ResNet18-f4", 5, pretrained=None).state_dict())[1] is None
    wider = build_model("TSN-ResNet50-f4", 3, pretrained=None).state_dict()  # 2048 features, not 512
    assert with_new_classifier(model, wider)[1] is None


@pytest.mark.parametrize("name", ["I3D-ResNet50-f8", "TAM-ResNet50-f8", "SlowFast8x8-ResNet50-f32",
                                  "S3D-InceptionV1-f8", "X3D-XS-f4"])
def test_the_classifier_is_the_layer_giving_the_logits(name):
    # Table 4's three networks and two other families: the last Linear is the one whose output is
    # the logits (a hook on it sees exactly the model's output).
    model = build_model(name, 7, pretrained=None).eval()
    layer = dict(model.named_modules())[classifier_name(model)]
    assert layer.out_features == 7
    seen = []
    layer.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        out = model(torch.randn(1, 3, int(name.rsplit("-f", 1)[1]), 32, 32))
    assert out.shape == (1, 7) and seen
    assert torch.allclose(seen[-1].reshape(1, -1, 7).mean(dim=1), out, atol=1e-5)


def test_a_relative_init_from_in_a_spec_is_taken_from_where_output_is(tmp_path):
    # A run of another experiment, e.g. paper_sota's: the job may start in another directory.
    spec = {"name": "t", "output": "out", "datasets": ["synthetic-temporal"],
            "axes": {"modules": ["TSN"], "backbones": ["ResNet18"], "frames": [8]}, "progressive": False,
            "run": {"init_from": "results/up/TSN-ResNet18-f8"},
            "overrides": [{"match": {"module": "TSN"}, "set": {"num_classes": 6}}]}
    (run,) = experiment_from_dict(spec, base=tmp_path).runs()
    assert run.config["init_from"] == str(tmp_path / "results/up/TSN-ResNet18-f8")
    assert run.run_dir == tmp_path / "out/synthetic-temporal/TSN-ResNet18-f8"
    spec["run"]["init_from"] = "/abs/run"
    assert experiment_from_dict(spec, base=tmp_path).runs()[0].config["init_from"] == "/abs/run"
