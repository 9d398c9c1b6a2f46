"""The training loop's device traffic and its run-config options, on a tiny real run (CPU).

Host syncs are counted with a TorchFunctionMode: it sees every tensor method that brings a value
to the host (``item``, ``tolist``, ``__bool__``, ...), which on CUDA would wait for the device.
The loader's own work is not counted (with workers it runs in other processes).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch
import yaml
from torch.overrides import TorchFunctionMode

from benchmark.data.synthetic import generate
from benchmark.engine import RunFailed, train
from benchmark.engine.builders import RunInputs, build_training
from benchmark.engine.distributed import DistInfo
from benchmark.engine.epoch import FiniteWatch, set_epoch_lr, train_epoch, train_step
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_config import load_run_config, same_run
from benchmark.errors import ConfigError

HOST_READS = {"item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu"}


class HostReads(TorchFunctionMode):
    """Records ``("sync", name)`` for each host read, unless paused (the loader's turn)."""

    def __init__(self, events: list):
        super().__init__()
        self.events, self.paused = events, False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if not self.paused and name in HOST_READS:
            self.events.append(("sync", name))
        return func(*args, **(kwargs or {}))


class MarkedLoader:
    """The run's loader, marking each batch in the event list and producing it uncounted."""

    def __init__(self, loader, mode: HostReads):
        self.loader, self.mode = loader, mode

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def __iter__(self):
        it = iter(self.loader)
        while True:
            self.mode.paused = True
            try:
                batch = next(it)
            except StopIteration:
                return
            finally:
                self.mode.paused = False
            self.mode.events.append(("batch", None))
            yield batch


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate("temporal", out, num_train=16, num_val=4, size=32, frames_per_video=4, seed=0, formats=("frames",))
    return out


def config(data_dir: Path, **over) -> dict:
    return {"model": "TSN-TinyResNet-f2", "dataset": {"preset": "synthetic-temporal", "root": str(data_dir)},
            "pretrained": None, "epochs": 1, "batch_size": 2, "workers": 0, "device": "cpu",
            "eval": {"video_level": False}, **over}


def training(data_dir: Path, **over):
    cfg = load_run_config(config(data_dir, **over))
    return build_training(cfg, RunInputs.of(cfg), DistInfo(), torch.device("cpu"))


def steps_syncs(events: list) -> list[int]:
    """Host reads during each step (from one batch to the next), then after the last batch."""
    counts = []
    for kind, _ in events:
        if kind == "batch":
            counts.append(0)
        elif counts:
            counts[-1] += 1
    return counts


def test_no_host_sync_between_log_intervals(data_dir):
    t = training(data_dir, log_every=4)
    events: list = []
    mode = HostReads(events)
    t.loader = MarkedLoader(t.loader, mode)
    meter = EpochMeter()
    set_epoch_lr(t, 0)
    with mode:
        train_epoch(t, 0, 0, meter, lambda: False, lambda *a: None)
    per_step = steps_syncs(events)
    assert len(per_step) == t.steps == 8
    for step, n in enumerate(per_step, start=1):
        if step % 4:
            assert n == 0, f"step {step}: {n} host reads between log intervals"
        else:  # the counter sees the reads it should: the finite check and the meter at each log step
            assert n >= 1, f"step {step}: the log interval read nothing"
    assert meter.clips == 16 and math.isfinite(meter.loss)


def test_the_old_per_step_reads_would_be_counted(data_dir):
    """The counter is not blind: the meter read the old loop did every step shows up."""
    events: list = []
    with HostReads(events):
        m = EpochMeter()
        m.add_batch(torch.tensor(1.0), torch.eye(2), torch.tensor([0, 1]), 0)
        assert events == []
        _ = m.loss
    assert events == [("sync", "tolist")]


def test_device_sums_equal_host_float_sums_read_at_any_moment():
    """The device keeps the running float64 total in batch order: the sums equal the old host
    accumulation (``loss.item() * n`` in Python floats), bit for bit, whenever they are read."""
    rng = random.Random(0)
    meter, loss_sum, correct, clips = EpochMeter(), 0.0, 0.0, 0.0
    for step in range(200):
        n = rng.randint(1, 5)
        loss = torch.tensor(rng.uniform(0, 7), dtype=torch.float32)
        logits, label = torch.randn(n, 3), torch.randint(0, 3, (n,))
        meter.add_batch(loss, logits, label, 0)
        loss_sum += loss.item() * n
        correct += (logits.argmax(-1) == label).sum().item()
        clips += n
        if rng.random() < 0.1 or step == 99:  # a read (log interval, checkpoint) at random moments
            assert meter.as_list()[:3] == [loss_sum, correct, clips]
        if step == 99:  # a resumed epoch: the saved floats, then the rest on a fresh meter
            meter = EpochMeter.from_list(meter.saved())
    assert meter.as_list()[:3] == [loss_sum, correct, clips]


def test_fused_sgd_steps_like_the_default_sgd(data_dir):
    t = training(data_dir, dropout=0.0)
    batch = next(iter(t.loader))
    reference = training(data_dir, dropout=0.0)  # same seed: same weights
    ref_opt = torch.optim.SGD(reference.model.parameters(), lr=t.lr0, momentum=t.cfg.optim.momentum,
                              weight_decay=t.cfg.optim.weight_decay)
    for g in (*t.optimizer.param_groups, *ref_opt.param_groups):
        g["lr"] = 0.1
    for _ in range(2):
        train_step(t, batch, EpochMeter(), "a step")
        ref_opt.zero_grad()
        logits = reference.model(reference.loader.model_input(batch["video"], "cpu"))
        torch.nn.functional.cross_entropy(logits, batch["label"]).backward()
        ref_opt.step()
    for (name, a), b in zip(t.model.state_dict().items(), reference.model.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), name  # float32 rounding of the fused kernel
    assert any(not torch.equal(a, b) for a, b in zip(t.model.state_dict().values(), training(data_dir).model.state_dict().values()))


def test_a_non_finite_step_is_skipped_on_the_device_and_fails_at_the_check(data_dir):
    t = training(data_dir)
    set_epoch_lr(t, 0)
    batch = next(iter(t.loader))
    watch, meter = FiniteWatch(t), EpochMeter()
    train_step(t, batch, meter, "epoch 1, batch 1", watch=watch)  # a good step: it moves the weights
    before = {k: v.clone() for k, v in t.model.named_parameters()}
    buffers = [t.optimizer.state[p]["momentum_buffer"].clone() for p in t.model.parameters()]
    fc = [m for m in t.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    hook = fc.register_forward_hook(lambda m, i, out: out * float("inf"))  # logits inf: the loss is nan
    train_step(t, batch, meter, "epoch 1, batch 2", watch=watch)
    hook.remove()
    for k, v in t.model.named_parameters():
        assert torch.equal(v, before[k]), f"{k} changed by a non-finite step"
    for p, b in zip(t.model.parameters(), buffers):
        assert torch.equal(t.optimizer.state[p]["momentum_buffer"], b)
    train_step(t, batch, meter, "epoch 1, batch 3", watch=watch)
    with pytest.raises(RunFailed, match=r"non-finite training loss \(nan\) at epoch 1, batch 2$"):
        watch.check()


@pytest.mark.slow
def test_a_non_finite_run_names_epoch_and_batch(data_dir, tmp_path):
    with pytest.raises(RunFailed, match=r"non-finite training loss \(\w+\) at epoch 1, batch [2-8]"):
        train(config(data_dir, optim={"lr": 1e30}, log_every=20), tmp_path / "nan")


def test_amp_values_resolve_and_old_records_stay_the_same_run(data_dir):
    for given, resolved in ((True, "fp16"), (False, "off"), ("off", "off"), ("fp16", "fp16"), ("bf16", "bf16")):
        assert load_run_config(config(data_dir, amp=given)).amp == resolved
    assert load_run_config(yaml.safe_load(yaml.safe_dump(config(data_dir)) + "amp: off\n")).amp == "off"
    with pytest.raises(ConfigError, match="amp: invalid value 'fp32' .*off, fp16, bf16"):
        load_run_config(config(data_dir, amp="fp32"))
    with pytest.raises(ConfigError, match="channels_last: expected true or false"):
        load_run_config(config(data_dir, channels_last="yes"))
    from benchmark.engine.run_config import config_to_dict

    current = config_to_dict(load_run_config(config(data_dir)))
    old = {k: v for k, v in current.items() if k not in ("channels_last", "compile")}
    assert same_run({**old, "amp": True}, current)  # a run recorded before the modes resumes
    assert not same_run({**old, "amp": False}, current)


def test_bf16_autocast_on_cpu_and_no_scaler(data_dir):
    t = training(data_dir, amp="bf16")
    assert t.amp == "bf16" and not t.scaler.is_enabled()
    seen = []
    conv = next(m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    train_step(t, next(iter(t.loader)), EpochMeter(), "a step")
    assert seen == [torch.bfloat16]
    assert training(data_dir, amp="fp16").amp is None  # fp16 is a CUDA mode: float32 on the CPU


def test_channels_last_weights_and_clips(data_dir):
    t = training(data_dir, channels_last=True, dropout=0.0)
    conv = next(m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not t.clips_last_3d
    plain = training(data_dir, dropout=0.0)
    batch = next(iter(t.loader))
    train_step(t, batch, EpochMeter(), "a step")
    train_step(plain, batch, EpochMeter(), "a step")
    for (name, a), b in zip(t.model.state_dict().items(), plain.model.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), name  # the same step up to the summation order
    t3 = training(data_dir, model="I3D-TinyResNet-f2", channels_last=True)
    conv3 = next(m for m in t3.model.modules() if isinstance(m, torch.nn.Conv3d))
    assert conv3.weight.is_contiguous(memory_format=torch.channels_last_3d) and t3.clips_last_3d
    clips = t3.loader.model_input(batch["video"], "cpu")
    video = t3.model_format(clips)
    assert video.is_contiguous(memory_format=torch.channels_last_3d) and torch.equal(video, clips)
    train_step(t3, batch, EpochMeter(), "a step")


@pytest.mark.slow
def test_options_are_recorded_in_the_result(data_dir, tmp_path):
    result = train(config(data_dir, amp="bf16", channels_last=True, max_steps_per_epoch=2), tmp_path / "run")
    assert (result["config"]["amp"], result["config"]["channels_last"], result["config"]["compile"]) == \
        ("bf16", True, False)
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert recorded["amp"] == "bf16" and recorded["channels_last"] is True


def test_compile_wraps_the_stepped_module_not_the_checkpointed_one(data_dir):
    """Compiling on the CPU takes about a minute (measured: 60 s, then 0.13 s a step), so this test
    builds only: the steps run the compiled module, checkpoints keep the bare model's names."""
    t = training(data_dir, compile=True)
    assert isinstance(t.train_model, torch._dynamo.eval_frame.OptimizedModule)
    assert t.train_model._orig_mod is t.model
    assert not any("_orig_mod" in k for k in t.model.state_dict())
    plain = training(data_dir)
    assert plain.train_model is plain.model
