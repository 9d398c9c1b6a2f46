"""Training and evaluation of one run, writing its run directory (docs/run-directory.md).

The parts: ``builders`` (device, model, optimiser, loaders: shared with ``evaluate``), ``epoch``
(one epoch's loop and step), ``evaluation``, ``checkpoint_policy`` (what is saved when, resume),
``meters`` / ``train_state`` (named running sums and carried state), ``records`` (what is written).
This module runs them in order and handles pre-emption and failure.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import time
from pathlib import Path

import torch
import yaml

from benchmark.engine import atomic_io, metrics_jsonl, run_layout, run_reader, tolerant_read
from benchmark.engine.accuracy import mean_class_accuracy
from benchmark.engine.builders import RunInputs, build_training, determinism, restored_model, run_device
from benchmark.engine.checkpoint import (
    checkpoint_path,
    global_rng_restored,
    load_checkpoint,
    load_weights_strict,
    resume_checkpoint,
)
from benchmark.engine.checkpoint_policy import CheckpointPolicy
from benchmark.engine.claim import held
from benchmark.engine.distributed import (
    DistInfo,
    all_sum,
    barrier,
    broadcast_buffers,
    broadcast_object,
    gather_objects,
    process_group,
)
from benchmark.engine.epoch import RunFailed, set_epoch_lr, train_epoch
from benchmark.engine.evaluation import (
    VIEWS_STEM,
    evaluate_model,
    run_test,
    write_predictions,
    write_view_logits,
)
from benchmark.engine.meters import EpochMeter
from benchmark.engine.records import fmt, metrics_line, result_record
from benchmark.engine.run_config import RunConfig, config_to_dict, load_run_config, same_run
from benchmark.engine.run_log import run_logging
from benchmark.engine.run_loggers import RunLoggers
from benchmark.engine.schema import validate_result
from benchmark.engine.signals import DEFAULT_SIGNALS, EvaluationStopped, PreemptionFlag, RunPreempted
from benchmark.engine.train_state import TrainState
from benchmark.errors import ConfigError, StbenchError

__all__ = ["RunFailed", "evaluate", "train"]

log = logging.getLogger("benchmark.engine")


def _config_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


class _Trainer:
    def __init__(self, cfg: RunConfig, run_dir: Path, info: DistInfo, device, signals=DEFAULT_SIGNALS):
        self.cfg, self.run_dir, self.info, self.device = cfg, run_dir, info, device
        self.signals = signals
        self.run_id = cfg.run_id or run_dir.name
        self.epoch_done = 0

    # -- run directory -------------------------------------------------------------------
    def _prepare_dir(self, resume: str) -> dict | None:
        """Rank 0: check/record the config; returns an existing result when the run is done."""
        d = self.run_dir
        atomic_io.make_dir(d / run_layout.CHECKPOINTS)
        run_layout.clean_temporaries(d)  # left by a killed writer; this process holds the run
        text = _config_yaml(self.cfg)
        existing = d / run_layout.CONFIG
        if resume == "auto":
            if (run_reader.config_differs(existing, text) and checkpoint_path(d).is_file()
                    and not same_run(tolerant_read.read_config(d)[0], config_to_dict(self.cfg))):
                raise ConfigError(
                    f"{existing}: the run directory holds a run with a different config; "
                    "use another --run-dir or --resume never to start it again"
                )
            done = run_reader.finished_result(d)
            if done is not None:
                return done
        else:  # start from scratch
            for name in (run_layout.RESULT, run_layout.METRICS, run_layout.PREDICTIONS, run_layout.LOGITS):
                (d / name).unlink(missing_ok=True)
            for which in ("last", "best", "previous"):
                checkpoint_path(d, which).unlink(missing_ok=True)
        atomic_io.write_bytes_atomic(existing, text.encode())
        return None

    def _agree_on_dir(self, resume: str) -> dict | None:
        """Rank 0 prepares the directory; every rank gets its verdict (or its error)."""
        info = self.info
        if info.is_main:
            try:
                done = self._prepare_dir(resume)
            except BaseException as exc:
                broadcast_object(("error", str(exc)), info)
                raise
            broadcast_object(("ok", done), info)
            return done
        status, done = broadcast_object(None, info)
        if status == "error":
            raise StbenchError(f"rank 0 could not prepare {self.run_dir}: {done}")
        return done

    # -- main ----------------------------------------------------------------------------
    def run(self, resume: str) -> dict:
        info, d = self.info, self.run_dir
        done = self._agree_on_dir(resume)
        if done is not None:
            return done
        with run_logging(d, info.is_main):
            if info.is_main:  # the epochs finished before (a refused resume must not record fewer)
                self.epoch_done = max((m["epoch"] for m in metrics_jsonl.read_metrics(d)
                                       if isinstance(m.get("epoch"), int)), default=0)
                run_layout.write_state(d, "running", epoch=self.epoch_done)
            try:
                with determinism(self.cfg, self.device):
                    return self._train(resume)
            except RunPreempted:
                raise
            except BaseException as exc:
                if info.is_main:
                    reason = str(exc) if isinstance(exc, StbenchError) else f"{type(exc).__name__}: {exc}"
                    run_layout.write_state(d, "failed", reason=reason, epoch=self.epoch_done)
                    log.error("run %s failed: %s", self.run_id, reason)
                raise
            finally:
                if getattr(self, "t", None) is not None:
                    self.t.loggers.close()

    def _wall(self) -> float:
        """Wall time of the run: its earlier sessions (before a resume) plus this one."""
        return self.wall_before + time.time() - self.t_start

    def _train(self, resume: str) -> dict:
        cfg, info, d = self.cfg, self.info, self.run_dir
        self.t_start = time.time()
        inputs = RunInputs.of(cfg, "dataset")
        resume_from = resume_checkpoint(d) if resume == "auto" else None
        t = self.t = build_training(cfg, inputs, info, self.device, resume_from)
        self.checkpoints = CheckpointPolicy(d, t)
        state = self.checkpoints.restore()
        if info.is_main:
            metrics_jsonl.truncate_metrics(d, state.epoch)
        self.epoch_done = state.epoch
        self.wall_before = state.wall
        t.loggers = RunLoggers.open(cfg.loggers, d, config_to_dict(cfg), state.epoch * t.steps + state.batch,
                                    info.is_main)
        log.info("run %s: %s on %s, %d classes, %d train / %d %s clips, batch %d x %d process(es), "
                 "lr %.4g, %d epochs", self.run_id, cfg.model, self.device, inputs.num_classes,
                 len(t.loader.dataset), len(t.val_loader.dataset), cfg.eval.split, t.loader.batch_size,
                 info.world_size, t.lr0, cfg.epochs)
        with PreemptionFlag(self.signals) as flag:
            for epoch in range(state.epoch, cfg.epochs):
                self._epoch(state, epoch, flag)
            return self._finish(state, flag)

    def _epoch(self, state: TrainState, epoch: int, flag: PreemptionFlag) -> None:
        t = self.t
        lr = set_epoch_lr(t, epoch)
        start_batch = state.batch
        # Mid-epoch resume: each rank continues its own running sums of the epoch.
        meter = EpochMeter.from_list(state.stats[self.info.rank]) if start_batch else EpochMeter()

        def preempt(batch_idx: int, seconds: float) -> None:
            """Checkpoint ``batch_idx`` batches into the epoch (all of them: its validation was cut short)."""
            state.epoch, state.batch = epoch, batch_idx
            state.stats = gather_objects(meter.saved(), self.info)
            state.train_time += seconds
            state.wall = self._wall()
            self.checkpoints.save_last(state)
            where = (f"during the validation of epoch {epoch + 1}" if batch_idx >= t.steps
                     else f"at epoch {epoch + 1}, batch {batch_idx}")
            self._stop(flag.received, where, "checkpointed", epoch)

        epoch_time = train_epoch(t, epoch, start_batch, meter, lambda: flag.set, preempt)
        self._close_epoch(state, epoch, lr, meter, epoch_time, flag, preempt)

    def _close_epoch(self, state: TrainState, epoch: int, lr: float, meter: EpochMeter, epoch_time: float,
                     flag: PreemptionFlag, preempt) -> None:
        """Totals over the processes, validation when due, the metrics line and the checkpoints.

        A signal during validation checkpoints the trained epoch (``preempt`` at its last batch):
        a resumed run redoes only the validation, which reads no random stream, so exactly."""
        cfg, info, t = self.cfg, self.info, self.t
        totals = EpochMeter.from_list(all_sum(meter.as_list(), info, t.device))
        val = None
        broadcast_buffers(t.model, info)
        if (epoch + 1) % cfg.eval.every == 0 or epoch + 1 == cfg.epochs:
            log.info("epoch %d/%d: validation on %d %s clips", epoch + 1, cfg.epochs, len(t.val_loader.dataset),
                     cfg.eval.split)
            try:
                val = evaluate_model(t.model, t.val_loader, t.device, info, amp=t.amp,
                                     stop_requested=lambda: flag.set)
            except EvaluationStopped:
                preempt(t.steps, epoch_time)
            totals.skipped += val["skipped"]
        state.train_time += epoch_time
        state.train_clips += int(totals.clips)
        # A bad file is skipped again every epoch: the run's count is the most skipped in one
        # epoch (training + validation), i.e. the bad samples, not the bad loads.
        state.skipped = max(state.skipped, int(totals.skipped))
        improved = state.record_validation(val, epoch + 1)
        line = metrics_line(epoch + 1, lr, totals, val, state, meter.seconds)
        log.info("epoch %d/%d lr %.4g train loss %.4f top1 %.2f | val top1 %s top5 %s | %.1f clips/s",
                 epoch + 1, cfg.epochs, lr, line["train_loss"], line["train_top1"],
                 fmt(line["val_top1"]), fmt(line["val_top5"]), line["clips_per_s"])
        t.loggers.log_epoch(epoch + 1, _epoch_values(line, t.device))
        state.epoch, state.batch, state.stats = epoch + 1, 0, []
        state.wall = self._wall()
        self.checkpoints.end_epoch(state, line, improved)
        self.epoch_done = epoch + 1
        if info.is_main:
            run_layout.write_state(self.run_dir, "running", epoch=epoch + 1)
        barrier(info)

    def _stop(self, signum: int | None, where: str, saved: str, epochs_done: int) -> None:
        """Mark the run pending (what was saved ``where``) and stop with :class:`RunPreempted`."""
        # Rank 0 writes the state; the signal may have reached only another process.
        name = signal.Signals(signum).name if signum else "a pre-emption signal (another process)"
        reason = f"preempted by {'signal ' if signum else ''}{name} {where}; {saved}, resume to continue"
        if self.info.is_main:
            run_layout.write_state(self.run_dir, "pending", reason=reason, epoch=epochs_done)
        log.warning(reason)
        raise RunPreempted(reason)

    def _finish(self, state: TrainState, flag: PreemptionFlag) -> dict:
        """Test the best epoch's weights (video level: the configured views), write result.json.

        A signal during this test stops it: ``last.pt`` already holds the finished training (the
        model now holds the best epoch's weights, so it is not saved again); a resumed run redoes
        only this test."""
        cfg, info, d, t = self.cfg, self.info, self.run_dir, self.t
        best = checkpoint_path(d, "best")
        if best.is_file():
            load_weights_strict(t.model, load_checkpoint(best)["model"], f"best {best}")
        clips, crops = (cfg.eval.clips, cfg.eval.crops) if cfg.eval.video_level else (1, 1)
        log.info("final evaluation of epoch %s's weights: %d x %d views per %s video", state.best_epoch or cfg.epochs,
                 clips, crops, cfg.eval.split)
        try:
            merged, names = run_test(t.model, t.inputs, cfg, info, t.device, clips, crops,
                                     stop_requested=lambda: flag.set)
        except EvaluationStopped:
            self._stop(flag.received, "during the final evaluation", f"all {cfg.epochs} epochs are checkpointed",
                       cfg.epochs)
        skipped = max(state.skipped, merged["skipped"])  # the final evaluation re-reads the validation set
        video = {"top1": None, "top5": None}
        if cfg.eval.video_level:
            video = {"top1": merged["top1"], "top5": merged["top5"]}
        video["mean_class_top1"] = mean_class_accuracy(torch.from_numpy(merged["scores"]),
                                                       torch.from_numpy(merged["label"]))
        result = None
        if info.is_main:
            write_predictions(d, merged, names)
            result = result_record(cfg, self.run_id, t.inputs, state, video, wall=self._wall(), skipped=skipped,
                                   device=t.device, world_size=info.world_size)
            validate_result(result)
            atomic_io.write_json_atomic(d / run_layout.RESULT, result)
            run_layout.write_state(d, "done", epoch=cfg.epochs)
            t.loggers.finish(config_to_dict(cfg), result)
            log.info("run %s done: top1 %s top5 %s video top1 %s (%d x %d views)", self.run_id,
                     fmt(result["top1"]), fmt(result["top5"]), fmt(result["video_top1"]), clips, crops)
        return broadcast_object(result, info)


# --------------------------------------------------------------------------- public API
def _as_config(config: RunConfig | dict | str | Path) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    return load_run_config(config)


def train(config: RunConfig | dict | str | Path, run_dir: str | Path, resume: str = "auto", *,
          signals=DEFAULT_SIGNALS) -> dict:
    """Train (or resume) one run into ``run_dir`` and return its ``result.json`` record.

    ``resume="auto"`` continues from ``checkpoints/last.pt`` if present (and returns the existing
    result if the run is done); ``"never"`` starts again. Raises :class:`RunPreempted` after
    checkpointing on SIGTERM/SIGUSR1, :class:`RunFailed` on a non-finite loss.
    """
    if resume not in ("auto", "never"):
        raise ConfigError(f"resume: invalid value {resume!r} (valid values: auto, never)")
    cfg = _as_config(config)
    device = run_device(cfg)
    with process_group(device.type) as info:
        # Rank 0 claims the run (a launch's job already holds it); every rank learns its verdict.
        with held(run_dir, "train", active=info.is_main, share=lambda refusal: broadcast_object(refusal, info)), \
                global_rng_restored():
            return _Trainer(cfg, Path(run_dir), info, device, signals).run(resume)


def evaluate(run_dir: str | Path, *, clips: int | None = None, crops: int | None = None,
             checkpoint: str = "best", average: str | None = None, workers: int | None = None,
             views: bool = True) -> dict:
    """Test a trained run with ``clips`` x ``crops`` views per video (defaults: the run's eval config).

    Writes ``test-c{clips}x{crops}.json`` and ``predictions-c{clips}x{crops}.csv/.npz`` into the run
    directory (never overwriting the training's own records) and returns the JSON record; ``views``
    also keeps every view's logits in ``views-c{clips}x{crops}.npz`` (the clip-count analysis).
    """
    run_dir = Path(run_dir)
    if not (run_dir / run_layout.CONFIG).is_file():
        raise StbenchError(f"{run_dir}: not a run directory (no {run_layout.CONFIG})")
    cfg = load_run_config(run_dir / run_layout.CONFIG)
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(
        cfg.eval, clips=clips or cfg.eval.clips, crops=crops or cfg.eval.crops,
        average=average or cfg.eval.average), workers=cfg.workers if workers is None else workers)
    if cfg.eval.clips < 1 or cfg.eval.crops < 1:
        raise ConfigError(f"clips and crops must be positive, got {cfg.eval.clips} x {cfg.eval.crops}")
    device = run_device(cfg)
    with process_group(device.type) as info, global_rng_restored():  # building the model draws from the global streams
        return _test_run(run_dir, cfg, info, device, checkpoint, views)


def _epoch_values(line: dict, device: torch.device) -> dict:
    """What live loggers get per epoch: the metrics line's numbers, and the GPU's peak memory."""
    keys = ("lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "clips_per_s")
    values = {k: line[k] for k in keys if line.get(k) is not None}
    if device.type == "cuda":
        values["gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return values


def _test_run(run_dir: Path, cfg: RunConfig, info, device: torch.device, checkpoint: str, views: bool) -> dict:
    """The body of :func:`evaluate`: the checkpoint's model on the test views; records written by rank 0."""
    inputs = RunInputs.of(cfg, f"{run_dir / run_layout.CONFIG}: dataset")
    path = checkpoint_path(run_dir, checkpoint)
    model, _ = restored_model(cfg, inputs.num_classes, path, str(path))
    model.to(device)
    m, k = cfg.eval.clips, cfg.eval.crops
    merged, names = run_test(model, inputs, cfg, info, device, m, k, keep_views=views)
    stem = f"c{m}x{k}"
    record = {"run_id": cfg.run_id or run_dir.name, "checkpoint": checkpoint, "clips": m, "crops": k,
              "average": cfg.eval.average, "split": cfg.eval.split, "sampling": inputs.data.sampling,
              "top1": merged["top1"], "top5": merged["top5"], "videos": merged["clips"],
              "samples_skipped": merged["skipped"], "views": f"{VIEWS_STEM}-{stem}.npz" if views else None,
              "time": run_layout.now_iso()}
    if info.is_main:
        write_predictions(run_dir, merged, names, stem=f"predictions-{stem}")
        if views:
            write_view_logits(run_dir, merged, clips=m, crops=k, sampling=inputs.data.sampling,
                              average=cfg.eval.average, stem=f"{VIEWS_STEM}-{stem}")
        atomic_io.write_json_atomic(run_dir / f"test-{stem}.json", record)
    return record
