"""Published checkpoints (issue 21): files in the official codes' layouts import into stbench weights
files that load strictly, every tensor landing where the official code's name says; tampered files
give one line naming the key; the weights are evaluated (``stbench test --weights``), fine-tuned
(``init_from: FILE``) and fetched (a local HTTP server, never the network).

The official layouts are facts: ``tests/data/official_layouts.json`` holds the key names and shapes
of models built by IBM/action-recognition-pytorch and mit-han-lab/temporal-shift-module with random
weights. Files are written with a few numbers per tensor (an expanded per-output-channel vector), so
even ResNet-50 layouts take kilobytes on disk; every tensor (and every row of one) is distinct."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
import torch
from conftest import TINY

from benchmark.cli import main as cli
from benchmark.errors import ModelError
from benchmark.models import build_model
from benchmark.models.published import catalog
from benchmark.models.published.importer import import_checkpoint
from benchmark.models.published.weights_file import FORMAT, load_weights, serialize

LAYOUTS = json.loads((Path(__file__).parent / "data" / "official_layouts.json").read_text())
TAPS = {"prev": 0, "curr": 1, "next": 2}  # the official TAM's three convs; stbench's columns t-1, t, t+1


def official_file(path: Path, layout: dict, seed: int = 0, drop=(), extra=(), wrapper="module.") -> dict:
    """A checkpoint as the official train.py saves it (DataParallel names, optimizer state beside)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for i, (key, shape) in enumerate(layout.items()):
        if key in drop:
            continue
        if key.endswith("num_batches_tracked"):
            state[wrapper + key] = torch.tensor(i)
        elif not shape:
            state[wrapper + key] = torch.randn((), generator=gen)
        else:  # distinct per tensor and per row: any swap of tensors or rows shows
            rows = torch.randn(shape[0], generator=gen) + 10.0 * i
            state[wrapper + key] = rows.view(-1, *[1] * (len(shape) - 1)).expand(shape)
    for key in extra:
        state[wrapper + key] = torch.ones(3)
    torch.save({"state_dict": state, "epoch": 3, "arch": "resnet", "best_top1": 1.5,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}, path)
    return {k.removeprefix(wrapper): v for k, v in state.items()}


# --------------------------------------------------------------------------- where each tensor must land
def arp_place(key: str, file_keys: set[str], three_d: bool) -> tuple[str, int | None]:
    """The stbench key (and TAM column) of an ARP tensor, by the documented naming rules."""
    if key.startswith("fc."):
        return "head." + key, None
    tam = re.fullmatch(r"(.+)\.tam\.(prev|curr|next)_se\.fc1\.weight", key)
    if tam:  # a ResNet block's TAM: stbench wraps the block's conv1 as Sequential(TAM, conv1)
        return f"features.{tam[1]}.conv1.0.weight", TAPS[tam[2]]
    tam = re.fullmatch(r"tam(\w+?)\.(prev|curr|next)_se\.fc1\.weight", key)
    if tam:  # InceptionV1's tamX follows layer convX / inceptionX: Sequential(layer, TAM)
        layer = f"conv{tam[1]}" if tam[1].isdigit() else f"inception{tam[1]}"
        return f"features.{layer}.1.weight", TAPS[tam[2]]
    block = re.fullmatch(r"(layer\d\.\d+)\.conv1\.(.+)", key)
    if block and f"{block[1]}.tam.prev_se.fc1.weight" in file_keys:
        return f"features.{block[1]}.conv1.1.{block[2]}", None
    layer = key.split(".", 1)[0]
    suffix = layer[len("conv"):] if layer.startswith("conv") else layer[len("inception"):]
    if f"tam{suffix}.prev_se.fc1.weight" in file_keys:
        return f"features.{layer}.0.{key.split('.', 1)[1]}", None
    return (key if three_d else "features." + key), None


def tsm_place(key: str) -> tuple[str, int | None]:
    if key.startswith(("new_fc.", "base_model.fc.")):
        return "head.fc." + key.rsplit(".", 1)[1], None
    key = key.removeprefix("base_model.")
    return "features." + key.replace(".conv1.net.", ".conv1.1."), None


def check_placement(file_tensors: dict, imported: dict, place) -> None:
    """Every tensor of the file is in the imported state dict where ``place`` says, unchanged."""
    for key, value in file_tensors.items():
        target, column = place(key)
        got = imported[target] if column is None else imported[target][:, column]
        if key.endswith("num_batches_tracked"):
            assert int(got) == int(value), key
            continue
        torch.testing.assert_close(got, value.reshape(got.shape), rtol=0, atol=0, msg=f"{key} -> {target}")


# --------------------------------------------------------------------------- importing official layouts
@pytest.mark.parametrize("name", sorted(LAYOUTS["arp"]))
def test_arp_layouts_import_every_tensor_where_the_official_name_says(name, tmp_path):
    layout = LAYOUTS["arp"][name]
    tensors = official_file(tmp_path / "ckpt.pth.tar", layout)
    record = import_checkpoint("arp", tmp_path / "ckpt.pth.tar", name)
    assert record["num_classes"] == 10 and record["model_name"] == name
    three_d = name.split("-")[0] in ("I3D", "S3D")
    check_placement(tensors, record["model"], functools.partial(arp_place, file_keys=set(tensors), three_d=three_d))
    model = build_model(name, num_classes=10)
    model.load_state_dict(record["model"], strict=True)
    # the file's learned tensors, each used once: the model holds as many numbers as the file
    # (TAM's three (C,1,1,1) convs become one (C, 3) tensor)
    file_numbers = sum(v.numel() for k, v in tensors.items() if not k.endswith("num_batches_tracked"))
    model_numbers = sum(v.numel() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))
    assert file_numbers == model_numbers


@pytest.mark.parametrize("name", ["TSM-ResNet50-f8", "TSN-ResNet50-f8", "TSM-ResNet50-f8-nodropout"])
def test_tsm_layouts_import_every_tensor_where_the_official_name_says(name, tmp_path):
    tensors = official_file(tmp_path / "ckpt.pth", LAYOUTS["tsm"][name])
    model_name = name.removesuffix("-nodropout")
    record = import_checkpoint("tsm", tmp_path / "ckpt.pth", model_name)
    check_placement(tensors, record["model"], tsm_place)
    assert set(record["model"]) == set(build_model(model_name, num_classes=10).state_dict())


def test_the_placement_check_catches_swapped_taps_batchnorms_and_classifier_rows(tmp_path):
    """What an importer that swapped TAM's t-1 and t+1, two BatchNorms or two classifier rows would
    produce fails the placement check above."""
    name = "TAM-ResNet18-f8"
    tensors = official_file(tmp_path / "ckpt.pth.tar", LAYOUTS["arp"][name])
    good = import_checkpoint("arp", tmp_path / "ckpt.pth.tar", name)["model"]
    place = functools.partial(arp_place, file_keys=set(tensors), three_d=False)
    check_placement(tensors, good, place)
    taps = dict(good)
    taps["features.layer2.1.conv1.0.weight"] = good["features.layer2.1.conv1.0.weight"][:, [2, 1, 0]]
    norms = dict(good)
    norms["features.layer1.0.bn1.running_mean"], norms["features.layer1.0.bn2.running_mean"] = (
        good["features.layer1.0.bn2.running_mean"], good["features.layer1.0.bn1.running_mean"])
    rows = dict(good)
    rows["head.fc.weight"] = good["head.fc.weight"][[1, 0, *range(2, 10)]]
    for wrong in (taps, norms, rows):
        with pytest.raises(AssertionError):
            check_placement(tensors, wrong, place)


def test_weights_file_loads_with_weights_only_and_strictly(tmp_path):
    official_file(tmp_path / "ckpt.pth.tar", LAYOUTS["arp"]["TAM-ResNet18-f8"])
    out = tmp_path / "w.pt"
    out.write_bytes(serialize(import_checkpoint("arp", tmp_path / "ckpt.pth.tar", "TAM-ResNet18-f8")))
    raw = torch.load(out, weights_only=True)
    assert raw["format"] == FORMAT and raw["source"] == "arp" and raw["source_file"] == "ckpt.pth.tar"
    assert len(raw["source_sha256"]) == 64 and raw["input"]["channel_order"] == "RGB"
    assert raw["input"]["mean"] == [0.485, 0.456, 0.406] and raw["input"]["value_range"] == [0.0, 1.0]
    build_model(raw["model_name"], num_classes=raw["num_classes"]).load_state_dict(raw["model"], strict=True)
    assert load_weights(out)["num_classes"] == 10


def test_older_files_without_batchnorm_counters_import(tmp_path):
    layout = LAYOUTS["arp"]["TSN-ResNet18-tp-f8"]
    official_file(tmp_path / "old.pth", layout, drop=[k for k in layout if k.endswith("num_batches_tracked")])
    record = import_checkpoint("arp", tmp_path / "old.pth", "TSN-ResNet18-tp-f8")
    assert int(record["model"]["features.bn1.num_batches_tracked"]) == 0


# --------------------------------------------------------------------------- one line for each bad file
def _error(tmp_path, source, model, classes=None, **file_kwargs) -> str:
    name = file_kwargs.pop("layout")
    layout = LAYOUTS["arp"].get(name) or LAYOUTS["tsm"][name]
    official_file(tmp_path / "bad.pth", layout, **file_kwargs)
    with pytest.raises(ModelError) as info:
        import_checkpoint(source, tmp_path / "bad.pth", model, classes)
    message = str(info.value)
    assert "\n" not in message and "bad.pth" in message
    return message


def test_tampered_files_name_what_differs(tmp_path):
    tam = "TAM-ResNet18-f8"
    missing = _error(tmp_path, "arp", tam, layout=tam, drop=["layer3.1.bn2.running_var"])
    assert "features.layer3.1.bn2.running_var" in missing and "(1)" in missing
    extra = _error(tmp_path, "arp", tam, layout=tam, extra=["layer9.0.weight", "layer9.1.weight"])
    assert "layer9.0.weight" in extra and "no place in the model" in extra and "(2)" in extra
    classes = _error(tmp_path, "arp", tam, classes=400, layout=tam)
    assert "head.fc.weight" in classes and "(10, 512)" in classes and "(400, 512)" in classes
    assert "--classes 10" in classes
    other_source = _error(tmp_path, "tsm", "TSM-ResNet50-f8", layout="TSN-ResNet18-tp-f8")
    assert "not a tsm checkpoint" in other_source
    nonlocal_ = _error(tmp_path, "tsm", "TSM-ResNet50-f8", layout="TSM-ResNet50-f8-nl")
    assert "base_model.layer2.0.nl." in nonlocal_ and "non-local" in nonlocal_
    hosted = _error(tmp_path, "arp", "TSM-ResNet18-f8", layout=tam)
    assert "no TSM-ResNet18-f8" in hosted


def test_a_full_tam_conv_is_not_expressible(tmp_path):
    layout = dict(LAYOUTS["arp"]["TAM-ResNet18-f8"])
    layout["layer1.0.tam.prev_se.fc1.weight"] = [64, 64, 1, 1]
    official_file(tmp_path / "full.pth", layout)
    with pytest.raises(ModelError, match=r"layer1\.0\.tam\.prev_se\.fc1\.weight.*not depthwise"):
        import_checkpoint("arp", tmp_path / "full.pth", "TAM-ResNet18-f8")


def test_cli_import_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys):
    official_file(tmp_path / "c.pth", LAYOUTS["arp"]["TAM-ResNet18-f8"])
    out = tmp_path / "w.pt"
    for args in (["nosuch", str(tmp_path / "c.pth")], ["arp", str(tmp_path / "c.pth"), "--classes", "400"],
                 ["arp", str(tmp_path / "missing.pth")]):
        assert cli(["weights", "import", *args, "--model", "TAM-ResNet18-f8", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("stbench weights: error: ") and err.count("\n") == 1
        assert not out.exists()
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    assert cli(["weights", "import", "arp", str(tmp_path / "junk.pth"), "--model", "TAM-ResNet18-f8", "--out", str(out)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err and not out.exists()


def test_list_prints_every_released_checkpoint(capsys):
    assert cli(["weights", "list"]) == 0
    out = capsys.readouterr().out
    rows = catalog.published_checkpoints()
    assert len(rows) == 20 and all(r["name"] in out for r in rows)
    tam = catalog.find_checkpoint("arp-ssv2-tam-r101")
    assert (tam["model"], tam["top1"], tam["clips"], tam["crops"]) == ("TAM-ResNet101-f32", 65.32, 2, 3)
    assert "76.61" in out and "63.30" in out  # K400 I3D-ResNet50; SSv2 TSM-ResNet101


# --------------------------------------------------------------------------- using the weights
def tiny_arp_file(path: Path, model: str, classes: int, seed: int = 0) -> None:
    """A checkpoint of ``model`` (a TinyResNet) in ARP's layout, from stbench's own random init."""
    torch.manual_seed(seed)
    state = build_model(model, num_classes=classes).state_dict()
    out = {}
    for key, value in state.items():
        name = key.removeprefix("features.")
        if key.endswith(".conv1.0.weight") and value.dim() == 2:  # TAM's (C, 3) -> three (C,1,1,1) convs
            block = name.removesuffix(".conv1.0.weight")
            for tap, column in TAPS.items():
                out[f"module.{block}.tam.{tap}_se.fc1.weight"] = value[:, column].reshape(-1, 1, 1, 1).clone()
            continue
        name = name.replace(".conv1.1.", ".conv1.").replace("head.fc.", "fc.")
        out["module." + name] = value
    torch.save({"state_dict": out, "epoch": 1}, path)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from benchmark.data.synthetic import generate

    root = tmp_path_factory.mktemp("syn")
    generate("temporal", root, num_train=4, num_val=6, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return root


def test_test_weights_writes_a_run_collect_and_report_show(synthetic, tmp_path, capsys):
    model = f"TAM-{TINY}-f4"
    tiny_arp_file(tmp_path / "tiny.pth", model, classes=4)
    weights = tmp_path / "tiny.pt"
    assert cli(["weights", "import", "arp", str(tmp_path / "tiny.pth"), "--model", model, "--out", str(weights)]) == 0
    runs = tmp_path / "runs"
    args = ["test", "--weights", str(weights), "--dataset", "synthetic-temporal", "--clips", "2", "--crops", "1",
            "--out", str(runs / "t"), "--set", f"dataset.root={synthetic}", "--set", "device=cpu", "--workers", "0"]
    assert cli(args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads((runs / "t" / "result.json").read_text())
    assert result["kind"] == "test" and result["epochs"] == 0 and result["video_top1"] == printed["video_top1"]
    assert result["init_weights"]["source"] == "arp" and result["init_weights"]["source_file"] == "tiny.pth"
    assert result["config"]["eval"]["clips"] == 2 and result["init_weights"]["input"]["std"] == [0.229, 0.224, 0.225]
    assert cli(["collect", str(runs), "--out", str(tmp_path / "t.csv")]) == 0
    import pandas as pd

    row = pd.read_csv(tmp_path / "t.csv").iloc[0]
    assert (row["kind"], row["weights"], row["weights_sha256"]) == ("test", "arp:tiny.pth", result["init_weights"]["source_sha256"])
    assert cli(["report", str(runs), "--out", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "Published checkpoints evaluated here" in report and "arp:tiny.pth" in report
    assert cli(args) == 2 and "finished run already" in capsys.readouterr().err  # nothing overwritten


def test_fine_tuning_from_weights_with_another_class_count_trains(synthetic, tmp_path):
    from benchmark.engine import train

    model = f"TAM-{TINY}-f4"
    tiny_arp_file(tmp_path / "k7.pth", model, classes=7, seed=1)
    record = import_checkpoint("arp", tmp_path / "k7.pth", model)
    (tmp_path / "k7.pt").write_bytes(serialize(record))
    config = {"model": model, "dataset": {"preset": "synthetic-temporal", "root": str(synthetic)},
              "init_from": str(tmp_path / "k7.pt"), "epochs": 1, "batch_size": 2, "device": "cpu", "workers": 0,
              "eval": {"clips": 1, "crops": 1}}
    result = train(config, tmp_path / "ft")
    assert result["num_classes"] == 4 and result["init_weights"]["num_classes"] == 7
    last = torch.load(tmp_path / "ft" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert last["head.fc.weight"].shape == (4, 64)
    # every weight but the classifier started from the file: the TAM weights moved only by one epoch
    start = record["model"]["features.layer1.0.conv1.0.weight"]
    assert (last["features.layer1.0.conv1.0.weight"] - start).abs().max() < 0.05
    config["pretrained"], config["init_from"] = str(tmp_path / "k7.pt"), None  # pretrained: FILE, the same
    assert train(config, tmp_path / "ft2")["init_weights"]["source_file"] == "k7.pth"


# --------------------------------------------------------------------------- fetching
@contextlib.contextmanager
def file_server(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_downloads_checks_and_imports_from_a_local_server(tmp_path, monkeypatch, capsys):
    model = f"TAM-{TINY}-f4"
    served = tmp_path / "served"
    served.mkdir()
    tiny_arp_file(served / "K400-TINY.pth.tar", model, classes=4)
    from benchmark.models.published.weights_file import sha256_of

    row = {"name": "tiny", "source": "arp", "file": "K400-TINY.pth.tar", "url": "https://example.invalid/w/K400-TINY.pth.tar",
           "model": model, "dataset": "kinetics400", "num_classes": 4, "sampling": "dense", "clips": 10, "crops": 3,
           "crop_size": 256, "top1": 50.0, "top5": None, "sha256": sha256_of(served / "K400-TINY.pth.tar"), "note": ""}
    monkeypatch.setattr(catalog, "published_checkpoints", lambda: [row])
    with file_server(served) as url:
        monkeypatch.setenv("STBENCH_WEIGHTS_MIRROR", url)
        assert cli(["weights", "fetch", "tiny", "--dir", str(tmp_path / "w")]) == 0
    assert load_weights(tmp_path / "w" / "tiny.pt")["model_name"] == model
    assert "stbench test --weights" in capsys.readouterr().out
    row["sha256"] = "0" * 64
    (tmp_path / "w" / "K400-TINY.pth.tar").unlink()
    with file_server(served) as url:
        monkeypatch.setenv("STBENCH_WEIGHTS_MIRROR", url)
        assert cli(["weights", "fetch", "tiny", "--dir", str(tmp_path / "w")]) == 2
    assert "SHA-256" in capsys.readouterr().err and not (tmp_path / "w" / "K400-TINY.pth.tar").exists()


def test_fetch_offline_is_one_line_saying_how_to_import_a_local_file(tmp_path, monkeypatch, capsys):
    with file_server(tmp_path) as url:
        pass  # the port is closed again: a connection is refused, as on a node without network
    monkeypatch.setenv("STBENCH_WEIGHTS_MIRROR", url)
    assert cli(["weights", "fetch", "arp-k400-tam-r50", "--dir", str(tmp_path / "w"), "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "offline?" in err and "stbench weights import" in err
    assert not any((tmp_path / "w").glob("*"))


def test_the_sources_normalisation_is_used_unless_the_config_sets_one(synthetic, tmp_path):
    from benchmark.engine.builders import RunInputs
    from benchmark.engine.run_config import load_run_config

    model = f"TSN-{TINY}-f4"
    tiny_arp_file(tmp_path / "n.pth", model, classes=4)
    record = import_checkpoint("arp", tmp_path / "n.pth", model)
    record["input"] = {**record["input"], "mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6]}  # a source of its own
    (tmp_path / "n.pt").write_bytes(serialize(record))
    base = {"model": model, "dataset": {"preset": "synthetic-temporal", "root": str(synthetic)}}
    plain = RunInputs.of(load_run_config(base))
    assert plain.mean == (0.485, 0.456, 0.406)  # the backbone's ImageNet statistics
    started = RunInputs.of(load_run_config({**base, "init_from": str(tmp_path / "n.pt")}))
    assert (started.mean, started.std) == ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    own = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    chosen = RunInputs.of(load_run_config({**base, "init_from": str(tmp_path / "n.pt"), "normalization": own}))
    assert (chosen.mean, chosen.std) == ((0.5,) * 3, (0.25,) * 3)
    with pytest.raises(Exception, match=r"normalization\.std: must be positive"):
        load_run_config({**base, "normalization": {"mean": [0, 0, 0], "std": [1, 0, 1]}})
