"""Measured cost beyond FLOPs (paper 002, Table 8): training and inference throughput, latency, peak
memory and the largest batch that fits, for models measured side by side in one process.

FLOPs mislead (TAM adds 0.4 % MACs to TSN yet ran at a quarter of its speed in the paper), so a fair
comparison measures. A training step here is the engine's own (:func:`benchmark.engine.epoch.train_on`
on parts built by :func:`benchmark.engine.builders.build_step_parts` from the run config training
would resolve for the model: fused SGD at the protocol's rate, GradScaler, clipping, autocast,
channels-last, compile), so the speed beside an accuracy is the cost of the training that produced
it. ``--amp`` is the run config's ``amp``: ``fp16`` on the CPU runs float32, as training does, and
the record says ``off``.

Models are measured *interleaved* (repeat r of every model before repeat r+1 of any), so a noisy
machine slows all of them alike and their ratios hold. Warm-up steps are not timed. On CUDA, memory
is the allocator's peak during a training step; on the CPU it is the peak growth of the process's
resident memory during the step (activations and gradients beyond what the model and optimiser
state already hold), sampled by a thread after the heap's free pages are handed back: there is no
allocator to ask. Memory is measured in one more training step after the timed ones, so its
sampling costs no speed.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from benchmark.engine import epoch, host_allocator
from benchmark.engine.builders import StepParts, autocast, build_run_model, build_step_parts, determinism
from benchmark.engine.checkpoint import global_rng_restored
from benchmark.engine.distributed import DistInfo
from benchmark.engine.environment import environment
from benchmark.engine.meters import EpochMeter
from benchmark.engine.run_config import AMP_MODES, RunConfig, resolve
from benchmark.errors import ConfigError

log = logging.getLogger("benchmark.engine")

MODES = ("train", "infer", "both")
#: The environment record's fields every bench record carries (what the speeds were measured with).
ENVIRONMENT_FIELDS = ("torch", "temporal_kernels", "host_allocator")


@dataclass
class BenchSettings:
    device: str = "cpu"
    batch: int = 2
    size: int = 112
    mode: str = "both"
    amp: str = "off"  # the run config's amp: off | fp16 | bf16
    channels_last: bool = False
    compile: bool = False
    repeats: int = 5
    warmup: int = 2
    num_classes: int = 400
    max_batch: bool = False
    memory_budget_mb: float | None = None  # CPU --max-batch: what "fits" means
    batch_limit: int = 4096  # --max-batch never tries more

    def check(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"--amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"--device must be cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available here")
        for name in ("batch", "size", "repeats"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.max_batch and self.device == "cpu" and not self.memory_budget_mb:
            raise ConfigError("--max-batch on the CPU needs --memory-budget MB (what fitting means there)")


@dataclass
class ModelBench:
    """One model under test: what its training step uses, as training builds it, and the
    measurements so far."""

    name: str
    frames: int
    step: StepParts
    watch: epoch.FiniteWatch  # non-finite steps, noted on the device (read once, at the end)
    meter: EpochMeter = field(default_factory=EpochMeter)  # the step adds its loss and accuracy, as in training
    train_s: list[float] = field(default_factory=list)  # seconds per timed step
    infer_s: list[float] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    peak_bytes: int = 0


class PeakRSS:
    """Peak growth of this process's resident memory while the block runs (CPU memory figure)."""

    def __init__(self, interval_s: float = 0.001):
        self.interval_s = interval_s
        self.peak = 0

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def __enter__(self):
        # free heap pages handed back first: else earlier steps' freed memory serves this one unseen
        host_allocator.trim()
        self.base = self.rss()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss() - self.base)
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss() - self.base)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clips(bench: ModelBench, batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch on the device in the model's memory format, as the loader hands it to the step."""
    t = bench.step
    video = torch.randn(batch, 3, bench.frames, size, size, device=t.device)
    label = torch.randint(0, t.cfg.num_classes, (batch,), device=t.device)
    return t.model_format(video), label


def train_step(bench: ModelBench, batch: int, settings: BenchSettings) -> float:
    """Seconds of one engine training step (:func:`benchmark.engine.epoch.train_on`) on a random batch."""
    t = bench.step
    video, label = _clips(bench, batch, settings.size)
    t.train_model.train()
    _sync(t.device)
    start = time.perf_counter()
    epoch.train_on(t, video, label, bench.meter, "a bench step", watch=bench.watch)
    _sync(t.device)
    return time.perf_counter() - start


def infer_step(bench: ModelBench, batch: int, settings: BenchSettings) -> float:
    """Seconds of one forward pass in eval mode, under the run's autocast."""
    t = bench.step
    video, _ = _clips(bench, batch, settings.size)
    t.train_model.eval()
    _sync(t.device)
    start = time.perf_counter()
    with torch.no_grad(), autocast(t.cfg.amp, t.device):
        t.train_model(video)
    _sync(t.device)
    return time.perf_counter() - start


def peak_memory(step: Callable[[], float], device: str) -> tuple[float, int]:
    """(seconds, peak bytes) of one call of ``step``."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        seconds = step()
        return seconds, torch.cuda.max_memory_allocated() - base
    with PeakRSS() as watch:
        seconds = step()
    return seconds, watch.peak


def bench_config(name: str, settings: BenchSettings) -> RunConfig:
    """The run config training resolves for ``name`` (the protocol's optimiser, learning rate,
    dropout, clipping) at the bench's batch, AMP, memory format and compile setting; random weights
    (nothing to download) and a stand-in dataset of the bench's classes and frame size (no loader)."""
    size = settings.size
    dataset = {"name": "bench", "root": ".", "train_list": "-", "val_list": "-", "num_classes": settings.num_classes,
               "resize": size, "crop": size, "jitter_range": [size, size], "num_workers": 0}
    cfg = RunConfig(model=name, dataset=dataset, pretrained=None, batch_size=settings.batch, amp=settings.amp,
                    channels_last=settings.channels_last, compile=settings.compile, device=settings.device)
    return resolve(cfg, f"bench {name}")


def prepare(name: str, settings: BenchSettings) -> ModelBench:
    """``name`` on the device as the engine would train it (:func:`bench_config`)."""
    cfg = bench_config(name, settings)
    model = build_run_model(cfg, cfg.num_classes)
    parts = build_step_parts(cfg, model, DistInfo(), torch.device(settings.device))
    return ModelBench(cfg.model, cfg.frames, parts, epoch.FiniteWatch(parts))


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def fits(bench: ModelBench, batch: int, settings: BenchSettings) -> bool:
    """Whether a training step at ``batch`` runs (CUDA: without running out of memory; CPU: within
    the memory budget)."""
    try:
        _, peak = peak_memory(lambda: train_step(bench, batch, settings), settings.device)
    except (RuntimeError, MemoryError) as exc:
        if not _is_out_of_memory(exc):
            raise
        fitted = False
    else:
        fitted = settings.device == "cuda" or peak <= settings.memory_budget_mb * 2**20
    bench.step.optimizer.zero_grad(set_to_none=True)
    if settings.device == "cuda":
        torch.cuda.empty_cache()
    return fitted


def find_max_batch(bench: ModelBench, settings: BenchSettings, fit=fits) -> tuple[int, int | None]:
    """(largest batch that fits, smallest that does not — None if ``batch_limit`` still fits):
    doubling from 1, then bisection. Assumes memory grows with the batch."""
    if not fit(bench, 1, settings):
        return 0, 1
    good, bad = 1, None
    while bad is None:
        trial = good * 2
        if trial > settings.batch_limit:
            return good, None
        if fit(bench, trial, settings):
            good = trial
        else:
            bad = trial
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if fit(bench, middle, settings) else (good, middle)
    return good, bad


def _spread(seconds: list[float], batch: int) -> dict | None:
    if not seconds:
        return None
    rates = sorted(batch / s for s in seconds)
    return {"min": rates[0], "median": statistics.median(rates), "max": rates[-1]}


def _record(bench: ModelBench, settings: BenchSettings, env: dict, max_batch: tuple[int, int | None] | None) -> dict:
    train, infer = _spread(bench.train_s, settings.batch), _spread(bench.infer_s, settings.batch)
    record = {
        "model": bench.name, "batch": settings.batch, "frames": bench.frames, "size": settings.size,
        "train_clips_per_s": train["median"] if train else None,
        "infer_clips_per_s": infer["median"] if infer else None,
        "latency_ms": 1000 * statistics.median(bench.latency_s) if bench.latency_s else None,
        "peak_memory_mb": bench.peak_bytes / 2**20 if settings.mode in ("train", "both") else None,  # of a training step
        "device": settings.device, "amp": bench.step.amp or "off",  # the autocast that ran
        "channels_last": settings.channels_last, "compile": settings.compile, "repeats": settings.repeats,
        "spread": {"train_clips_per_s": train, "infer_clips_per_s": infer},
        **{key: env[key] for key in ENVIRONMENT_FIELDS},
    }
    if max_batch is not None:
        record["max_batch"], record["first_failing_batch"] = max_batch
        if settings.device == "cpu":
            record["memory_budget_mb"] = settings.memory_budget_mb
    return record


def _timed_round(benches: list[ModelBench], settings: BenchSettings, keep: bool) -> None:
    """One step of each kind for every model in turn (kept unless it is a warm-up round)."""
    for bench in benches:
        if settings.mode in ("train", "both"):
            seconds = train_step(bench, settings.batch, settings)
            if keep:
                bench.train_s.append(seconds)
        if settings.mode in ("infer", "both"):
            seconds = infer_step(bench, settings.batch, settings)
            latency = infer_step(bench, 1, settings)
            if keep:
                bench.infer_s.append(seconds)
                bench.latency_s.append(latency)


def _note_nonfinite(bench: ModelBench) -> None:
    """A non-finite step skips its update, as in training; the speeds stand, so it is only logged."""
    try:
        bench.watch.check()
    except epoch.RunFailed as exc:
        log.warning("%s: %s (random inputs; its optimiser step was skipped)", bench.name, exc)


def _measure(benches: list[ModelBench], settings: BenchSettings) -> dict[str, tuple[int, int | None]]:
    """Timed rounds, then memory, then the largest batches (returned by model)."""
    # Speed first, memory after: the CPU memory sampler (a polling thread) would slow the timed steps.
    for round_ in range(settings.warmup + settings.repeats):
        _timed_round(benches, settings, keep=round_ >= settings.warmup)
    if settings.mode in ("train", "both"):
        for bench in benches:
            bench.peak_bytes = peak_memory(lambda b=bench: train_step(b, settings.batch, settings), settings.device)[1]
    maxima = {}
    if settings.max_batch:
        for bench in benches:
            train_step(bench, 1, settings)  # one-time allocations (optimiser state) are not the batch's
            maxima[bench.name] = find_max_batch(bench, settings)
    return maxima


def run_bench(models: list[str], settings: BenchSettings) -> list[dict]:
    """Measure ``models`` side by side; one record per model (see the module docstring)."""
    settings.check()
    device = torch.device(settings.device)
    with global_rng_restored():  # the same random weights and clips every time, the caller's streams kept
        torch.manual_seed(0)
        benches = [prepare(name, settings) for name in models]
        with determinism(benches[0].step.cfg, device):  # cudnn autotuning as training runs it
            maxima = _measure(benches, settings)
    for bench in benches:
        _note_nonfinite(bench)
    env = environment(device, 1)
    return [_record(b, settings, env, maxima.get(b.name)) for b in benches]
