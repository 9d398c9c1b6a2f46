"""Where researchers keep results (issue 23): ``stbench export mlflow`` into a SQLite store read back
with MLflow's own client, the live ``mlflow`` logger (refusing a file store; against a local
``mlflow server``), and the ``wandb`` logger offline, its run file read back with W&B's protobuf
schema."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import TINY

from benchmark.cli import main as cli
from benchmark.engine import train

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'stbench[mlflow]')")
from mlflow.tracking import MlflowClient  # noqa: E402


def tiny_config(synthetic: Path, model: str, **extra) -> dict:
    return {"model": model, "dataset": {"preset": "synthetic-temporal", "root": str(synthetic)}, "pretrained": None,
            "epochs": 2, "batch_size": 2, "max_steps_per_epoch": 1, "device": "cpu", "workers": 0, "log_every": 1,
            "eval": {"clips": 1, "crops": 1}, **extra}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from benchmark.data.synthetic import generate

    root = tmp_path_factory.mktemp("syn")
    generate("temporal", root, num_train=4, num_val=4, size=32, frames_per_video=8, seed=0, formats=("frames",))
    return root


@pytest.fixture(scope="module")
def three_runs(synthetic, tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    for module in ("TSN", "TAM", "TSM"):
        train(tiny_config(synthetic, f"{module}-{TINY}-f4"), results / module)
    return results


def test_export_three_runs_to_a_fresh_sqlite_store_and_again(three_runs, capsys):
    assert cli(["export", "mlflow", str(three_runs)]) == 0
    assert "3 runs created, 0 updated" in capsys.readouterr().out
    client = MlflowClient(f"sqlite:///{three_runs / 'mlflow.db'}")  # the default store: in the results folder
    experiment = client.get_experiment_by_name(three_runs.name)
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["stbench.module"] for r in runs) == ["TAM", "TSM", "TSN"]
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.params["model"] == run.data.tags["stbench.model"]
        assert run.data.params["optim.lr"] and run.data.params["epochs"] == "2"  # the resolved config, flattened
        assert run.data.tags["stbench.val_videos"] == "4" and len(run.data.tags["stbench.protocol_fingerprint"]) == 16
        history = client.get_metric_history(run.info.run_id, "val_top1")
        assert [m.step for m in history] == [1, 2]
        assert run.data.metrics["final_params"] > 0 and "final_video_top1" in run.data.metrics
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"result.json", "config.yaml", "predictions.csv", "metrics.jsonl"} <= artifacts
        assert run.info.artifact_uri.startswith((three_runs / ".mlflow-artifacts").as_uri())  # beside the store
    assert cli(["export", "mlflow", str(three_runs)]) == 0
    assert "0 runs created, 3 updated" in capsys.readouterr().out
    again = client.search_runs([experiment.experiment_id])
    assert len(again) == 3
    assert all(len(client.get_metric_history(r.info.run_id, "val_top1")) == 2 for r in again)  # no duplicated epochs


def test_the_live_mlflow_logger_refuses_a_file_store(synthetic, tmp_path, monkeypatch, capsys):
    config = tmp_path / "run.yaml"
    import yaml

    config.write_text(yaml.safe_dump(tiny_config(synthetic, f"TSN-{TINY}-f4", loggers=["mlflow"])))
    for uri in (f"sqlite:///{tmp_path}/m.db", str(tmp_path / "mlruns"), None):
        if uri is None:
            monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        else:
            monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        assert cli(["train", str(config), "--run-dir", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "must not write one file" in err and "stbench export mlflow" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_live_mlflow_logger_writes_to_a_tracking_server(synthetic, tmp_path, monkeypatch):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                               "--default-artifact-root", str(tmp_path / "artifacts"), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.skip("mlflow server did not start here")
                time.sleep(0.5)
        else:
            pytest.skip("mlflow server did not answer within 120 s")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "live")
        train(tiny_config(synthetic, f"TAM-{TINY}-f4", loggers=["mlflow"]), tmp_path / "run")
        client = MlflowClient(url)
        (run,) = client.search_runs([client.get_experiment_by_name("live").experiment_id])
        assert run.info.status == "FINISHED" and run.data.tags["stbench.run_dir"] == str((tmp_path / "run").absolute())
        assert [m.step for m in client.get_metric_history(run.info.run_id, "epoch_val_top1")] == [1, 2]
        assert "final_top1" in run.data.metrics and run.data.params["model"] == f"TAM-{TINY}-f4"
    finally:
        server.terminate()
        server.wait(timeout=30)


# --------------------------------------------------------------------------- W&B offline
def wandb_records(path: Path):
    """The records of a W&B run file: a 7-byte header (":W&B", 0xBEE1, version), then LevelDB-log
    framing (32 KiB blocks; each piece a 7-byte header: CRC-32C, length, type full/first/middle/last)
    around protobuf ``Record`` messages (W&B's own schema)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<H", data[4:6])[0] == 0xBEE1
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        room = 32768 - pos % 32768
        if room < 7:
            pos += room
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        piece, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        pending += piece
        if kind in (1, 4):  # full, last
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


@pytest.mark.slow
def test_the_wandb_logger_offline_writes_a_run_wandb_can_sync(synthetic, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra is not installed (pip install 'stbench[wandb]')")
    from benchmark.engine.loggers.wandb import run_id_of

    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    run_dir = tmp_path / "run"
    result = train(tiny_config(synthetic, f"TSM-{TINY}-f4", loggers=["wandb"]), run_dir)
    (run_file,) = run_dir.glob(f"wandb/offline-run-*-{run_id_of(run_dir)}/run-{run_id_of(run_dir)}.wandb")
    history, summary, config, run_id = [], {}, {}, None
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run_id = record.run.run_id
            config.update({item.key: item.value_json for item in record.run.config.update})
        elif kind == "history":
            history.append({item.key or "/".join(item.nested_key): item.value_json for item in record.history.item})
        elif kind == "summary":
            summary.update({item.key or "/".join(item.nested_key): item.value_json for item in record.summary.update})
        elif kind == "config":
            config.update({item.key: item.value_json for item in record.config.update})
    assert run_id == run_id_of(run_dir)
    epochs = [h for h in history if "epoch/val_top1" in h]
    assert [int(h["epoch"]) for h in epochs] == [1, 2]
    assert any("step/loss" in h or "step/train_loss" in h for h in history)
    assert float(summary["final/top1"]) == pytest.approx(result["top1"])
    assert config["model"].strip('"') == f"TSM-{TINY}-f4"
    assert os.path.isdir(run_file.parent / "files")  # what `wandb sync` uploads from the login node
