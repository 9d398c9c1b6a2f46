"""Fine-tuning (paper 002 Table 4): the ``finetune`` protocol's values, and ``init_from`` giving a run
with another class count every weight but a new classifier, while other mismatches stay errors."""

import pytest
import torch
import yaml

from benchmark.analysis.printed import load_printed
from benchmark.cli import main
from benchmark.data.synthetic import generate
from benchmark.engine import train
from benchmark.engine.checkpoint import init_from_run
from benchmark.engine.protocol import protocol_defaults
from benchmark.engine.run_config import load_run_config
from benchmark.engine.transfer import classifier_name, with_new_classifier
from benchmark.errors import ConfigError, ModelError
from benchmark.grid import experiment_from_dict, load_experiment
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
    run, source = _fake_run(tmp_path, "k400", "TAM-TinyResNet-f8", 400)
    torch.manual_seed(2)
    model = build_model("TAM-TinyResNet-f8", 101, pretrained=None)
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
    assert loaded["head.fc.weight"].shape == (101, 64)


def test_same_class_count_keeps_the_classifier_and_other_networks_stay_errors(tmp_path):
    run, source = _fake_run(tmp_path, "f8", "TAM-TinyResNet-f8", 4)
    model = build_model("TAM-TinyResNet-f16", 4, pretrained=None)  # progressive training: all weights
    init_from_run(model, run)
    assert all(torch.equal(v, source[k]) for k, v in model.state_dict().items())
    # Another module: named error, with the run's model (TAM's conv1 is the 2D conv plus its TAM).
    with pytest.raises(ModelError, match=r"\(a TAM-TinyResNet-f8 run\): checkpoint does not match the model "
                                         r"\(missing in checkpoint: features.layer1.0.conv1.weight, .*"
                                         r"not in model: features.layer1.0.conv1.0.weight"):
        init_from_run(build_model("TSN-TinyResNet-f8", 10, pretrained=None), run)
    # Another backbone: the classifier's input width differs too, so nothing is replaced silently.
    with pytest.raises(ModelError, match=r"checkpoint does not match the model \(missing in checkpoint: "):
        init_from_run(build_model("TAM-ResNet18-f8", 10, pretrained=None), run)


def test_with_new_classifier_only_for_a_class_count_change():
    model = build_model("TSN-TinyResNet-f4", 5, pretrained=None)
    other = build_model("TSN-TinyResNet-f4", 3, pretrained=None).state_dict()
    state, classes = with_new_classifier(model, other)
    assert classes == (3, 5)
    assert torch.equal(state["head.fc.weight"], model.state_dict()["head.fc.weight"])
    assert torch.equal(state["head.fc.bias"], model.state_dict()["head.fc.bias"])
    assert all(torch.equal(state[k], other[k]) for k in other if not k.startswith("head.fc."))
    assert with_new_classifier(model, build_model("TSN-TinyResNet-f4", 5, pretrained=None).state_dict())[1] is None
    wider = build_model("TSN-ResNet18-f4", 3, pretrained=None).state_dict()  # 512 features, not 64
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


# --------------------------------------------------------------------------- the protocol in runs
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate("temporal", out, num_train=8, num_val=4, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return out


def _cfg(data, **overrides):
    cfg = {"model": "TSN-TinyResNet-f4", "dataset": {"preset": "synthetic-temporal", "root": str(data)},
           "pretrained": None, "epochs": 1, "batch_size": 4, "workers": 0, "deterministic": True,
           "max_steps_per_epoch": 1, "eval": {"video_level": False}}
    cfg.update(overrides)
    return cfg


def test_finetune_run_from_a_run_with_other_classes(synthetic, tmp_path):
    train(_cfg(synthetic), tmp_path / "source")  # the "Kinetics" run: 4 classes
    tune = {"protocol": "finetune", "init_from": str(tmp_path / "source"), "num_classes": 6}
    full = load_run_config(_cfg(synthetic, **tune, epochs=None, batch_size=None, pretrained="auto"))
    assert (full.epochs, full.schedule.name, full.schedule.milestones, full.optim.lr, full.batch_size) == \
        (45, "cosine", [], 0.01, 48)
    assert (full.sync_bn, full.pretrained, full.num_classes) == (True, None, 6)
    assert load_run_config(_cfg(synthetic, **tune, sync_bn=False)).sync_bn is False  # explicit wins
    # One step with a vanishing learning rate: the backbone is the source run's, the classifier new.
    train(_cfg(synthetic, **tune, optim={"lr": 1e-12, "momentum": 0.0, "weight_decay": 0.0}), tmp_path / "target")
    source = torch.load(tmp_path / "source/checkpoints/best.pt", weights_only=True)["model"]
    tuned = torch.load(tmp_path / "target/checkpoints/last.pt", weights_only=True)["model"]
    names = [n for n, _ in build_model("TSN-TinyResNet-f4", 6, pretrained=None).named_parameters()]
    for name in names:
        if not name.startswith("head.fc."):
            assert torch.allclose(tuned[name], source[name], atol=1e-6), name
    assert tuned["head.fc.weight"].shape == (6, 64) and source["head.fc.weight"].shape == (4, 64)
    recorded = yaml.safe_load((tmp_path / "target/config.yaml").read_text())
    assert (recorded["protocol"], recorded["sync_bn"], recorded["schedule"]["name"]) == ("finetune", True, "cosine")
    with pytest.raises(ConfigError, match="protocol finetune needs init_from"):
        load_run_config(_cfg(synthetic, protocol="finetune"))


def test_paper_transfer_plans_table_4_from_the_paper_sota_kinetics_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = load_experiment("paper_transfer").runs()
    table4 = load_printed("table4")
    expected = {(m.replace("SlowFast-ResNet50-8x8", "SlowFast8x8-ResNet50"), t)
                for m, t in zip(table4["model"], table4["target"])}
    assert {(r.config["model"].removesuffix("-f32"), r.cell["dataset"]) for r in runs} == expected
    assert len(runs) == 12 and all(not r.depends_on for r in runs)
    # Each starts from its model's ImageNet-initialised Kinetics run of paper_sota (Table 2's).
    upstream = {r.config["model"]: str(r.run_dir) for r in load_experiment("paper_sota").runs()
                if r.cell["dataset"] == "kinetics400" and r.cell["pretrained"] == "auto"}
    classes = {"ucf101": 101, "hmdb51": 51, "jester": 27, "mini-ssv2": 87}
    for r in runs:
        c = r.config
        assert c["init_from"] == upstream[c["model"]] and c["init_from"].startswith(str(tmp_path))
        assert (c["protocol"], c["epochs"], c["schedule"]["name"], c["optim"]["lr"], c["batch_size"], c["sync_bn"]) \
            == ("finetune", 45, "cosine", 0.01, 48, True)
        assert c["pretrained"] is None and c["num_classes"] == classes[r.cell["dataset"]]
        assert (c["dataset"]["sampling"], c["dataset"]["dense_stride"]) == ("dense", 2)
    assert main(["plan", "paper_transfer", "--no-estimate"]) == 0
