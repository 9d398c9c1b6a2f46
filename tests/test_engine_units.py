"""Engine pieces with independent truths: Table 12, hand-computed accuracies, schemas, checkpoints."""

from __future__ import annotations

import math
import os

import pytest
import torch

from benchmark.engine import protocol_defaults
from benchmark.engine.accuracy import accuracy, aggregate_views, merge_shards, topk_correct
from benchmark.engine.atomic_io import write_json_atomic
from benchmark.engine.checkpoint import get_rng_state, load_checkpoint, save_checkpoint, set_rng_state
from benchmark.engine.metrics_jsonl import read_metrics, truncate_metrics
from benchmark.engine.protocol import default_milestones, effective_lr
from benchmark.engine.run_config import load_run_config
from benchmark.engine.run_layout import write_state
from benchmark.engine.run_reader import run_state
from benchmark.engine.schedule import lr_at
from benchmark.engine.schema import SchemaError, validate_metrics_line, validate_result
from benchmark.errors import ConfigError

# --------------------------------------------------------------------------- protocol (Table 12)


@pytest.mark.parametrize(
    "frames,dataset,epochs,schedule,milestones,pretrained,init",
    [
        (8, "mini-ssv2", 75, "cosine", [], "imagenet", None),
        (8, "mini-kinetics", 100, "cosine", [], "imagenet", None),
        (16, "mini-ssv2", 35, "multistep", [10, 20, 30], None, 8),
        (32, "mini-mit", 35, "multistep", [10, 20, 30], None, 16),
        (64, "mini-kinetics", 45, "multistep", [15, 30, 40], None, 32),
    ],
)
def test_protocol_defaults_follow_table_12(frames, dataset, epochs, schedule, milestones, pretrained, init):
    p = protocol_defaults(frames, dataset)
    assert (p["epochs"], p["schedule"], p["milestones"]) == (epochs, schedule, milestones)
    assert (p["lr"], p["momentum"], p["weight_decay"]) == (0.01, 0.9, 0.0005)
    assert (p["pretrained"], p["init_from_frames"]) == (pretrained, init)


def test_milestones_for_other_lengths_keep_proportions():
    assert default_milestones(35) == [10, 20, 30] and default_milestones(45) == [15, 30, 40]
    assert default_milestones(7) == [2, 4, 6]


def test_schedules_by_hand():
    # Cosine over 4 epochs: 1, (1+cos(pi/4))/2, 1/2, (1+cos(3pi/4))/2.
    got = [lr_at(e, base_lr=0.01, epochs=4, name="cosine") for e in range(4)]
    want = [0.01, 0.01 * (1 + math.sqrt(0.5)) / 2, 0.005, 0.01 * (1 - math.sqrt(0.5)) / 2]
    assert got == pytest.approx(want)
    # Multi-step (35 epochs): x0.1 from 0-based epochs 10, 20, 30 (torch MultiStepLR semantics).
    lrs = [lr_at(e, base_lr=0.01, epochs=35, name="multistep", milestones=[10, 20, 30]) for e in range(35)]
    assert lrs[9] == pytest.approx(0.01) and lrs[10] == pytest.approx(1e-3)
    assert lrs[20] == pytest.approx(1e-4) and lrs[34] == pytest.approx(1e-5)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [10, 20, 30], 0.1)
    for e in range(35):
        assert opt.param_groups[0]["lr"] == pytest.approx(lrs[e])
        opt.step()
        sched.step()


def test_lr_scaling_rule():
    assert effective_lr(0.01, 36, "none") == 0.01
    assert effective_lr(0.01, 36, "linear") == pytest.approx(0.005)
    assert effective_lr(0.01, 144, "linear", reference_batch_size=72) == pytest.approx(0.02)


# --------------------------------------------------------------------------- RunConfig


def test_run_config_resolves_protocol_and_rejects_typos():
    cfg = load_run_config({"model": "TSN-ResNet18-f16", "dataset": "mini-kinetics"})
    assert cfg.dataset["name"] == "mini-kinetics" and cfg.dataset["num_classes"] == 200  # recorded in full
    assert (cfg.eval.clips, cfg.eval.crops) == (10, 3)  # the dataset's test views
    assert (cfg.epochs, cfg.schedule.name, cfg.schedule.milestones) == (45, "multistep", [15, 30, 40])
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.dropout) == (0.01, 0.9, 5e-4, 0.5)
    assert cfg.pretrained == "imagenet"  # "auto" without init_from
    cfg = load_run_config({"model": "TSN-ResNet18-f16", "dataset": "synthetic-temporal", "init_from": "runs/f8"})
    assert cfg.pretrained is None
    with pytest.raises(ConfigError, match=r"optim: unknown key 'lrr'; did you mean 'lr'\?.*valid keys"):
        load_run_config({"model": "TSN-ResNet18-f8", "dataset": "synthetic-temporal", "optim": {"lrr": 0.1}})
    with pytest.raises(ConfigError, match="unknown key 'epoch'.*valid keys: .*epochs"):
        load_run_config({"model": "TSN-ResNet18-f8", "dataset": "synthetic-temporal", "epoch": 3})
    with pytest.raises(ConfigError, match="milestones: 40 is outside"):
        load_run_config({"model": "TSN-ResNet18-f8", "dataset": "synthetic-temporal", "epochs": 35,
                         "schedule": {"name": "multistep", "milestones": [10, 40]}})
    with pytest.raises(ConfigError, match="dataset.*unknown key 'nm_classes'"):
        load_run_config({"model": "TSN-ResNet18-f8", "dataset": {"preset": "mini-ssv2", "nm_classes": 3}})
    with pytest.raises(ConfigError, match="model"):
        load_run_config({"model": "NoSuch-ResNet18-f8", "dataset": "synthetic-temporal"})


# --------------------------------------------------------------------------- accuracy maths


def test_video_level_aggregation_by_hand():
    # 2 videos, 2 clips x 2 crops = 4 views, 3 classes.
    logits = torch.tensor([
        [[4.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]],  # mean: [1, .75, 0]
        [[0.0, 0.0, 1.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.5]],  # mean: [0, .75, .625]
    ])
    avg = aggregate_views(logits, "logits")
    assert torch.allclose(avg, torch.tensor([[1.0, 0.75, 0.0], [0.0, 0.75, 0.625]]))
    # Softmax averaging changes video 0's decision: 3 views vote class 1 with p=e/(e+2).
    p = aggregate_views(logits, "softmax")
    e = math.e
    p_view = [e**4 / (e**4 + 2), 1 / (e + 2)]  # class-0 prob of view 0 and of views 1-3
    assert p[0, 0].item() == pytest.approx((p_view[0] + 3 * p_view[1]) / 4)
    assert avg[0].argmax() == 0 and p[0].argmax() == 1
    labels = torch.tensor([1, 1])
    assert topk_correct(avg, labels, 1).tolist() == [False, True]
    assert topk_correct(p, labels, 1).tolist() == [True, False]  # softmax: video 1's class 2 wins 3 views
    assert topk_correct(avg, labels, 2).tolist() == [True, True]
    assert accuracy(avg, labels, 1) == 50.0 and accuracy(p, labels, 1) == 50.0 and accuracy(avg, labels, 5) == 100.0


def test_merge_shards_drops_padding_repeats():
    # A DistributedSampler over 5 samples on 2 ranks pads rank 1 with sample 0.
    r0 = {"index": [0, 2, 4], "label": [0, 1, 0], "scores": [[1, 0], [0, 1], [1, 0]]}
    r1 = {"index": [1, 3, 0], "label": [1, 1, 0], "scores": [[0, 1], [1, 0], [1, 0]]}
    merged = merge_shards([r0, r1])
    assert merged["index"].tolist() == [0, 1, 2, 3, 4]
    assert merged["label"].tolist() == [0, 1, 1, 1, 0]
    assert merged["scores"].argmax(1).tolist() == [0, 1, 1, 0, 0]


# --------------------------------------------------------------------------- run directory records


def _result():
    return {
        "schema_version": 1, "run_id": "r", "model": "TSN-ResNet18-f8", "module": "TSN", "backbone": "ResNet18",
        "tp": False, "frames": 8, "dataset": "mini-ssv2", "num_classes": 87, "seed": 0, "top1": 50.0,
        "top5": 80.0, "video_top1": None, "video_top5": None, "params": 1, "macs_conv": 2, "macs_all": 3,
        "epochs": 2, "best_epoch": 2, "wall_time_s": 1.5, "samples_skipped": 0, "throughput_clips_s": 3.0,
        "code_version": {"package": "0.1.0", "git_commit": None, "git_dirty": None},
        "environment": {"python": "3.11", "torch": "2", "torchvision": None, "av": None, "platform": "x",
                        "hostname": "h", "device": "cpu", "cuda": None, "world_size": 1},
        "config": {},
    }


def test_result_schema_rejects_bad_records():
    validate_result(_result())
    for change, pattern in [
        ({"top1": "50"}, "'top1' must be"),
        ({"top1": 150.0}, "percentage"),
        ({"tp": 0}, "'tp' must be bool"),
        ({"epochs": True}, "'epochs' must be int"),
        ({"extra": 1}, "unknown key"),
    ]:
        with pytest.raises(SchemaError, match=pattern):
            validate_result({**_result(), **change})
    bad = _result()
    del bad["environment"]["hostname"]
    with pytest.raises(SchemaError, match="environment: missing key.*hostname"):
        validate_result(bad)
    with pytest.raises(SchemaError, match="missing key.*train_loss"):
        validate_metrics_line({"epoch": 1})


def test_run_state_from_files(tmp_path):
    assert run_state(tmp_path)["state"] == "pending"
    write_state(tmp_path, "failed", reason="non-finite loss", epoch=3)
    assert run_state(tmp_path) == {"state": "failed", "reason": "non-finite loss", "epoch": 3}
    (tmp_path / "state.json").write_text('{"state": "runn')  # torn write by a foreign tool
    assert run_state(tmp_path)["state"] == "pending"
    write_json_atomic(tmp_path / "result.json", _result())
    assert run_state(tmp_path)["state"] == "done"


def test_metrics_truncation_and_torn_lines(tmp_path):
    lines = [f'{{"epoch": {e}}}\n' for e in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("".join(lines) + '{"epoch": 4, "lr')
    assert [m["epoch"] for m in read_metrics(tmp_path)] == [1, 2, 3]
    truncate_metrics(tmp_path, 2)
    assert [m["epoch"] for m in read_metrics(tmp_path)] == [1, 2]


def test_checkpoint_roundtrip_weights_only_with_rng(tmp_path):
    torch.manual_seed(5)
    state = get_rng_state()
    expected = torch.rand(3)
    save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.ones(2)}, "rng": [state]})
    ckpt = torch.load(tmp_path / "c.pt", weights_only=True)
    torch.manual_seed(99)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"][0])
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(ckpt["model"]["w"], torch.ones(2))
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temporary file


def test_slurm_tasks_become_torch_distributed_environment(monkeypatch):
    from benchmark.engine.distributed import ddp_env_from_slurm

    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE"):
        # setenv first: monkeypatch then restores the original (absent) value after the test,
        # so the exported variables do not leak into later tests.
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    # Task 3 of 4 on the second of two nodes, as srun / a submitit job with 4 tasks sets it.
    slurm = {"SLURM_JOB_ID": "1234", "SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_LOCALID": "1",
             "SLURM_NODEID": "1", "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "gpu[07-08]"}
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    ddp_env_from_slurm()
    got = {k: os.environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR")}
    assert got == {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "gpu07"}
    assert os.environ["MASTER_PORT"] == str(20000 + 1234)


def test_slurm_environment_does_not_leak():
    # Runs after the test above (file order): a leaked RANK/WORLD_SIZE would make later runs try DDP.
    assert "RANK" not in os.environ and "WORLD_SIZE" not in os.environ


def test_one_liveness_check_names_a_process_by_host_pid_and_start():
    import socket
    import subprocess
    import sys

    from benchmark.engine.liveness import process_alive, process_start

    host, me = socket.gethostname(), os.getpid()
    assert process_alive(host, me) and process_alive(host, me, process_start(me))
    assert process_alive(host, me, "not-my-start-time") is False  # a reused PID is another process
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert process_alive(host, int(done.stdout)) is False
    for pid in (None, "123", True, 0, -1):
        assert process_alive(host, pid) is None  # not a process id: cannot tell
    assert process_alive(host + "-elsewhere", me) is None


def test_an_exclusive_create_has_one_winner_and_leaves_no_temporary(tmp_path):
    from benchmark.engine.atomic_io import create_exclusive

    path = tmp_path / "claim.json"
    assert create_exclusive(path, b"first", temp_suffix=".new")
    assert not create_exclusive(path, b"second", temp_suffix=".new")
    assert path.read_bytes() == b"first" and sorted(p.name for p in tmp_path.iterdir()) == ["claim.json"]
