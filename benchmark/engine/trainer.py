"""Training and evaluation of one run, writing its run directory (docs/run-directory.md)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from benchmark.engine import data_io, rundir
from benchmark.engine.checkpoint import (
    checkpoint_path,
    get_rng_state,
    init_from_run,
    load_checkpoint,
    load_weights_strict,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    unwrap,
)
from benchmark.engine.run_config import RunConfig, config_to_dict, dataset_name, load_run_config
from benchmark.engine.distributed import (
    DistInfo,
    all_sum,
    barrier,
    broadcast_buffers,
    broadcast_object,
    cuda_index,
    gather_objects,
    init_distributed,
    shutdown,
)
from benchmark.engine.environment import code_version, environment
from benchmark.engine.accuracy import accuracy, aggregate_views, merge_shards, topk_correct
from benchmark.engine.protocol import effective_lr
from benchmark.engine.schedule import lr_at
from benchmark.engine.schema import SCHEMA_VERSION, validate_result
from benchmark.engine.signals import DEFAULT_SIGNALS, PreemptionFlag, RunPreempted
from benchmark.errors import ConfigError, StbenchError

log = logging.getLogger("benchmark.engine")


class RunFailed(StbenchError):
    """The run stopped as failed (e.g. a NaN loss); the reason is in state.json."""


# --------------------------------------------------------------------------- set-up helpers
def _device(cfg: RunConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda requested but no CUDA device is available")
        return torch.device("cuda", cuda_index())
    return torch.device("cpu")


@contextlib.contextmanager
def _determinism(cfg: RunConfig, device: torch.device):
    """Deterministic algorithms / cudnn autotuning for the run, restored afterwards (these are
    process-global and the engine may run inside a longer-lived process, e.g. a submitit worker)."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


@contextlib.contextmanager
def _run_logging(run_dir: Path, enabled: bool):
    """Plain log lines to ``log.txt`` (rank 0) in addition to the CLI's stderr handler."""
    if not enabled:
        yield
        return
    handler = logging.FileHandler(run_dir / rundir.LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    previous = log.level
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
        handler.close()


def _progress(total: int, desc: str, enabled: bool):
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
    return None


def _model_inputs(cfg: RunConfig):
    from benchmark.models import input_normalization, parse_model_name

    spec = parse_model_name(cfg.model)
    mean, std = input_normalization(cfg.model)
    return spec, mean, std


def build_run_model(cfg: RunConfig, num_classes: int) -> nn.Module:
    from benchmark.models import build_model

    return build_model(cfg.model, num_classes, pretrained=cfg.pretrained, dropout=cfg.dropout,
                       inflate=cfg.inflate)


def _config_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_model(model: nn.Module, loader, device: torch.device, info: DistInfo, *,
                   average: str = "logits", amp: bool = False, progress: bool = False) -> dict:
    """Per-video scores over every rank's shard, merged without double counting.

    Returns ``{"index", "label", "scores" (N, C), "top1", "top5", "loss", "clips", "skipped"}``.
    ``loss`` is the cross-entropy of the aggregated scores when they are logits, else of their log.
    """
    model.eval()
    index, labels, scores, skipped = [], [], [], 0
    bar = _progress(len(loader), "eval", progress and info.is_main)
    for batch in loader:
        skipped += int(batch.get("skipped", 0))
        if batch["label"].shape[0] == 0:  # every sample of the batch was bad (on_bad_sample: skip)
            continue
        video = batch["video"].to(device, non_blocking=True)
        multi = video.dim() == 6
        b = video.shape[0]
        views = video.shape[1] if multi else 1
        flat = video.flatten(0, 1) if multi else video
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            logits = model(flat)
        logits = logits.float().view(b, views, -1)
        scores.append(aggregate_views(logits, average).cpu())
        index.append(batch["index"].cpu())
        labels.append(batch["label"].cpu())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    shard = {
        "index": torch.cat(index).numpy() if index else np.zeros(0, np.int64),
        "label": torch.cat(labels).numpy() if labels else np.zeros(0, np.int64),
        "scores": torch.cat(scores).numpy() if scores else np.zeros((0, 0), np.float32),
        "skipped": skipped,
    }
    shards = gather_objects(shard, info)
    merged = merge_shards(shards)
    merged["skipped"] = sum(s["skipped"] for s in shards)
    s = torch.from_numpy(merged["scores"])
    y = torch.from_numpy(merged["label"])
    n = len(y)
    merged["clips"] = n
    if n:
        merged["top1"], merged["top5"] = accuracy(s, y, 1), accuracy(s, y, 5)
        logp = s.log_softmax(-1) if average == "logits" else s.clamp_min(1e-12).log()
        merged["loss"] = float(-logp[torch.arange(n), y].mean())
    else:
        merged["top1"] = merged["top5"] = merged["loss"] = None
    return merged


def write_predictions(out_dir: Path, merged: dict, videos: list[str] | None, stem: str = "predictions") -> None:
    """``<stem>.csv`` (index,video,label,pred,correct1,correct5) and ``<stem>.npz`` (index, label, scores)."""
    s = torch.from_numpy(merged["scores"])
    y = torch.from_numpy(merged["label"])
    lines = ["index,video,label,pred,correct1,correct5"]
    if len(y):
        pred = s.argmax(-1)
        c1 = topk_correct(s, y, 1)
        c5 = topk_correct(s, y, 5)
        for i, idx in enumerate(merged["index"].tolist()):
            name = videos[idx] if videos is not None and idx < len(videos) else ""
            if any(ch in name for ch in ',"\n'):
                name = '"' + name.replace('"', '""') + '"'
            lines.append(f"{idx},{name},{int(y[i])},{int(pred[i])},{int(c1[i])},{int(c5[i])}")
    rundir.write_bytes_atomic(out_dir / f"{stem}.csv", ("\n".join(lines) + "\n").encode())
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, index=merged["index"], label=merged["label"], scores=merged["scores"])
    rundir.write_bytes_atomic(out_dir / f"{stem}.npz", buf.getvalue())


def _video_names(dataset) -> list[str] | None:
    """Each list entry's video (relative to the dataset root), indexed like ``batch["index"]``."""
    entries = getattr(dataset, "entries", None)
    if not isinstance(entries, list | tuple):
        return None
    root = Path(dataset.cfg.root)
    names = []
    for entry in entries:
        path = getattr(entry, "path", None)
        if path is None:
            names.append("")
            continue
        try:
            names.append(str(Path(path).relative_to(root)))
        except ValueError:
            names.append(str(path))
    return names


# --------------------------------------------------------------------------- training
class _Trainer:
    def __init__(self, cfg: RunConfig, run_dir: Path, info: DistInfo, device: torch.device,
                 signals=DEFAULT_SIGNALS):
        self.cfg, self.run_dir, self.info, self.device = cfg, run_dir, info, device
        self.signals = signals
        self.run_id = cfg.run_id or run_dir.name
        self.amp = cfg.amp and device.type == "cuda"

    # -- run directory -------------------------------------------------------------------
    def _prepare_dir(self, resume: str) -> dict | None:
        """Rank 0: check/record the config; returns an existing result when the run is done."""
        d = self.run_dir
        d.mkdir(parents=True, exist_ok=True)
        (d / rundir.CHECKPOINTS).mkdir(exist_ok=True)
        text = _config_yaml(self.cfg)
        existing = d / rundir.CONFIG
        if resume == "auto":
            if existing.is_file() and existing.read_text() != text and checkpoint_path(d).is_file():
                raise ConfigError(
                    f"{existing}: the run directory holds a run with a different config; "
                    "use another --run-dir or --resume never to start it again"
                )
            done = rundir.read_json(d / rundir.RESULT)
            if done is not None:
                return done
        else:  # start from scratch
            for name in (rundir.RESULT, rundir.METRICS, rundir.PREDICTIONS, rundir.LOGITS):
                (d / name).unlink(missing_ok=True)
            for which in ("last", "best"):
                checkpoint_path(d, which).unlink(missing_ok=True)
        rundir.write_bytes_atomic(existing, text.encode())
        return None

    # -- main ----------------------------------------------------------------------------
    def run(self, resume: str) -> dict:
        info, d = self.info, self.run_dir
        done = None
        if info.is_main:
            try:
                done = self._prepare_dir(resume)
            except BaseException as exc:
                broadcast_object(("error", str(exc)), info)
                raise
            broadcast_object(("ok", done), info)
        else:
            status, done = broadcast_object(None, info)
            if status == "error":
                raise StbenchError(f"rank 0 could not prepare {d}: {done}")
        if done is not None:
            return done
        with _run_logging(d, info.is_main):
            if info.is_main:
                rundir.write_state(d, "running", epoch=0)
            try:
                with _determinism(self.cfg, self.device):
                    return self._train(resume)
            except RunPreempted:
                raise
            except BaseException as exc:
                if info.is_main:
                    reason = str(exc) if isinstance(exc, StbenchError) else f"{type(exc).__name__}: {exc}"
                    epoch = getattr(self, "epoch_done", 0)
                    rundir.write_state(d, "failed", reason=reason, epoch=epoch)
                    log.error("run %s failed: %s", self.run_id, reason)
                raise

    def _train(self, resume: str) -> dict:
        cfg, info, device, d = self.cfg, self.info, self.device, self.run_dir
        t_start = time.time()
        data_cfg = data_io.resolve_dataset(cfg.dataset, "dataset")
        num_classes = cfg.num_classes or data_cfg.num_classes
        spec, mean, std = _model_inputs(cfg)
        if cfg.batch_size % info.world_size:
            raise ConfigError(
                f"batch_size {cfg.batch_size} is not divisible by the {info.world_size} processes"
            )
        per_rank = cfg.batch_size // info.world_size
        eval_bs = max(1, (cfg.eval.batch_size or cfg.batch_size) // info.world_size)

        seed_everything(cfg.seed)
        resuming = resume == "auto" and checkpoint_path(d).is_file()
        # Resuming overwrites every weight: no need to fetch ImageNet weights again.
        model = build_run_model(dataclasses.replace(cfg, pretrained=None) if resuming else cfg, num_classes)
        ckpt = None
        if resuming:
            ckpt = load_checkpoint(checkpoint_path(d))
            load_weights_strict(model, ckpt["model"], f"resume {checkpoint_path(d)}")
        elif cfg.init_from:
            source = init_from_run(model, cfg.init_from, cfg.init_checkpoint)
            log.info("initialised from %s", source)
        if cfg.sync_bn and info.distributed:
            if device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            else:
                log.warning("sync_bn ignored: SyncBatchNorm needs CUDA")
        model.to(device)
        lr0 = effective_lr(cfg.optim.lr, cfg.batch_size, cfg.optim.lr_scaling, cfg.optim.reference_batch_size)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr0, momentum=cfg.optim.momentum,
                                    weight_decay=cfg.optim.weight_decay, nesterov=cfg.optim.nesterov)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        train_model = model
        if info.distributed:
            ids = [device.index] if device.type == "cuda" else None
            train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)

        train_set = data_io.build_split(data_cfg, "train", frames=spec.frames, mean=mean, std=std,
                                        train=True, seed=cfg.seed)
        val_set = data_io.build_split(data_cfg, cfg.eval.split, frames=spec.frames, mean=mean, std=std,
                                      train=False, seed=cfg.seed)
        pin = device.type == "cuda"
        loader, sampler = data_io.train_loader(
            train_set, batch_size=per_rank, workers=cfg.workers, seed=cfg.seed, rank=info.rank,
            world=info.world_size, pin=pin)
        val_loader = data_io.eval_loader(val_set, batch_size=eval_bs, workers=cfg.workers, rank=info.rank,
                                         world=info.world_size, pin=pin, seed=cfg.seed)
        steps_full = len(sampler) // per_rank
        if steps_full == 0:
            raise ConfigError(
                f"batch_size {cfg.batch_size}: larger than the training set ({len(train_set)} clips) "
                f"shared by {info.world_size} process(es)"
            )
        steps = min(steps_full, cfg.max_steps_per_epoch or steps_full)

        # State carried across epochs and restored on resume.
        st = {"epoch": 0, "batch": 0, "best_top1": None, "best_top5": None, "best_epoch": None,
              "skipped": 0, "train_time": 0.0, "train_clips": 0, "wall": 0.0,
              "stats": []}  # per rank: the interrupted epoch's loss sum, correct, clips, skipped
        if ckpt is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
            if ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            for key in st:
                if key in ckpt["state"]:
                    st[key] = ckpt["state"][key]
            rngs = ckpt["rng"]
            set_rng_state(rngs[info.rank] if info.rank < len(rngs) else rngs[0])
            if st["batch"] and len(st["stats"]) != info.world_size:
                log.warning("the checkpoint was written by %d process(es), this run has %d: epoch %d "
                            "restarts from its first batch", len(st["stats"]), info.world_size, st["epoch"] + 1)
                st.update(batch=0, stats=[])
            log.info("resumed from %s at epoch %d, batch %d", checkpoint_path(d), st["epoch"] + 1, st["batch"])
        if info.is_main:
            rundir.truncate_metrics(d, st["epoch"])
        self.epoch_done = st["epoch"]
        wall_before = st["wall"]
        log.info("run %s: %s on %s, %d classes, %d train / %d %s clips, batch %d x %d process(es), "
                 "lr %.4g, %d epochs", self.run_id, cfg.model, device, num_classes, len(train_set),
                 len(val_set), cfg.eval.split, per_rank, info.world_size, lr0, cfg.epochs)

        loss_fn = nn.CrossEntropyLoss()
        with PreemptionFlag(self.signals) as flag:
            for epoch in range(st["epoch"], cfg.epochs):
                lr = lr0 * lr_at(epoch, base_lr=1.0, epochs=cfg.epochs, name=cfg.schedule.name,
                                 milestones=cfg.schedule.milestones, gamma=cfg.schedule.gamma,
                                 warmup_epochs=cfg.schedule.warmup_epochs)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                start_batch = st["batch"]
                # Mid-epoch resume: each rank continues its own running sums of the epoch.
                stats = list(st["stats"][info.rank]) if start_batch else [0.0, 0.0, 0.0, 0.0]
                sampler.set_epoch(epoch, start=start_batch * per_rank)
                train_set.set_epoch(epoch)
                loader.generator.manual_seed(cfg.seed * 100003 + epoch)
                train_model.train()
                t0 = time.time()
                bar = _progress(steps - start_batch, f"epoch {epoch + 1}/{cfg.epochs}", info.is_main)
                batch_idx = start_batch
                for batch in loader:
                    if batch_idx >= steps:
                        break
                    n = int(batch["label"].shape[0])
                    # Before the step, all processes agree on pre-emption and on skipping a batch
                    # whose samples were all bad (a lone process skipping would hang DDP).
                    pre = torch.tensor([1.0 if n == 0 else 0.0, 1.0 if flag.set else 0.0], device=device)
                    if info.distributed:
                        torch.distributed.all_reduce(pre, op=torch.distributed.ReduceOp.MAX)
                    if pre[1] > 0:
                        if bar is not None:
                            bar.close()
                        st.update(epoch=epoch, batch=batch_idx, stats=gather_objects(stats, info),
                                  train_time=st["train_time"] + time.time() - t0,
                                  wall=wall_before + time.time() - t_start)
                        self._preempt(model, optimizer, scaler, st, flag.received)
                    if pre[0] > 0:
                        stats[3] += int(batch.get("skipped", 0))
                        batch_idx += 1
                        continue
                    video = batch["video"].to(device, non_blocking=True)
                    label = batch["label"].to(device, non_blocking=True)
                    with torch.autocast(device.type, enabled=self.amp):
                        logits = train_model(video)
                        loss = loss_fn(logits.float(), label)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if cfg.optim.grad_clip:
                        scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
                    loss_value = loss.detach().float()
                    bad = torch.tensor([0.0 if torch.isfinite(loss_value) else 1.0], device=device)
                    if info.distributed:
                        torch.distributed.all_reduce(bad, op=torch.distributed.ReduceOp.MAX)
                    if bad.item() > 0:
                        raise RunFailed(
                            f"non-finite training loss ({loss_value.item()}) at epoch {epoch + 1}, "
                            f"batch {batch_idx + 1}"
                        )
                    scaler.step(optimizer)
                    scaler.update()
                    stats[0] += loss_value.item() * n
                    stats[1] += (logits.detach().argmax(-1) == label).sum().item()
                    stats[2] += n
                    stats[3] += int(batch.get("skipped", 0))
                    batch_idx += 1
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{stats[0] / stats[2]:.3f}",
                                        acc=f"{100 * stats[1] / stats[2]:.1f}",
                                        clips_s=f"{stats[2] * info.world_size / max(time.time() - t0, 1e-9):.1f}")
                    elif info.is_main and batch_idx % cfg.log_every == 0:
                        log.info("epoch %d batch %d/%d loss %.4f acc %.2f", epoch + 1, batch_idx, steps,
                                 stats[0] / stats[2], 100 * stats[1] / stats[2])
                if bar is not None:
                    bar.close()
                epoch_time = time.time() - t0
                totals = all_sum(stats, info, device)
                st["train_time"] += epoch_time
                st["train_clips"] += int(totals[2])
                val = None
                broadcast_buffers(model, info)
                if (epoch + 1) % cfg.eval.every == 0 or epoch + 1 == cfg.epochs:
                    val = evaluate_model(model, val_loader, device, info, amp=self.amp)
                    totals[3] += val["skipped"]
                # A bad file is skipped again every epoch: the run's count is the most skipped in one
                # epoch (training + validation), i.e. the bad samples, not the bad loads.
                st["skipped"] = max(st["skipped"], int(totals[3]))
                improved = val is not None and val["top1"] is not None and (
                    st["best_top1"] is None or val["top1"] > st["best_top1"])
                if improved:
                    st.update(best_top1=val["top1"], best_top5=val["top5"], best_epoch=epoch + 1)
                line = {
                    "epoch": epoch + 1,
                    "lr": lr,
                    "train_loss": totals[0] / max(totals[2], 1),
                    "train_top1": 100.0 * totals[1] / max(totals[2], 1),
                    "train_clips": int(totals[2]),
                    "val_loss": val["loss"] if val else None,
                    "val_top1": val["top1"] if val else None,
                    "val_top5": val["top5"] if val else None,
                    "val_clips": val["clips"] if val else None,
                    "best_top1": st["best_top1"],
                    "samples_skipped": int(totals[3]),
                    "epoch_time_s": epoch_time,
                    "clips_per_s": totals[2] / max(epoch_time, 1e-9),
                    "time": rundir.now_iso(),
                }
                log.info("epoch %d/%d lr %.4g train loss %.4f top1 %.2f | val top1 %s top5 %s | %.1f clips/s",
                         epoch + 1, cfg.epochs, lr, line["train_loss"], line["train_top1"],
                         _fmt(line["val_top1"]), _fmt(line["val_top5"]), line["clips_per_s"])
                st.update(epoch=epoch + 1, batch=0, stats=[],
                          wall=wall_before + time.time() - t_start)
                if info.is_main:
                    if improved:
                        save_checkpoint(checkpoint_path(d, "best"),
                                        {"model": unwrap(model).state_dict(), "epoch": epoch + 1,
                                         "top1": val["top1"], "model_name": cfg.model})
                    # Metrics before the checkpoint: a crash in between re-runs the epoch and
                    # the resumed run truncates the metrics to its checkpoint's epoch.
                    rundir.append_metrics(d, line)
                self._save_last(model, optimizer, scaler, st)
                self.epoch_done = epoch + 1
                if info.is_main:
                    rundir.write_state(d, "running", epoch=epoch + 1)
                barrier(info)

        return self._finish(model, data_cfg, spec, num_classes, mean, std, st, eval_bs,
                            wall_before + time.time() - t_start)

    def _preempt(self, model, optimizer, scaler, st: dict, signum: int | None) -> None:
        """Checkpoint at the current position inside the epoch, mark the run pending, stop."""
        self._save_last(model, optimizer, scaler, st)
        # Rank 0 writes the state; the signal may have reached only another process.
        name = signal.Signals(signum).name if signum else "a pre-emption signal (another process)"
        reason = (f"preempted by {'signal ' if signum else ''}{name} at epoch {st['epoch'] + 1}, "
                  f"batch {st['batch']}; checkpointed, resume to continue")
        if self.info.is_main:
            rundir.write_state(self.run_dir, "pending", reason=reason, epoch=st["epoch"])
        log.warning(reason)
        raise RunPreempted(reason)

    def _save_last(self, model, optimizer, scaler, st: dict) -> None:
        rngs = gather_objects(get_rng_state(), self.info)
        if self.info.is_main:
            save_checkpoint(checkpoint_path(self.run_dir), {
                "model": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if self.amp else {},
                "state": dict(st),
                "rng": rngs,
                "model_name": self.cfg.model,
            })
        barrier(self.info)

    def _finish(self, model, data_cfg, spec, num_classes, mean, std, st, eval_bs, wall) -> dict:
        cfg, info, d = self.cfg, self.info, self.run_dir
        best = checkpoint_path(d, "best")
        if best.is_file():
            load_weights_strict(model, load_checkpoint(best)["model"], f"best {best}")
        video = {"top1": None, "top5": None}
        clips, crops = (cfg.eval.clips, cfg.eval.crops) if cfg.eval.video_level else (1, 1)
        test_set = data_io.build_split(data_cfg, cfg.eval.split, frames=spec.frames, mean=mean, std=std,
                                       train=False, seed=cfg.seed, clips=clips, crops=crops)
        loader = data_io.eval_loader(test_set, batch_size=max(1, eval_bs // (clips * crops)),
                                     workers=cfg.workers, rank=info.rank, world=info.world_size,
                                     pin=self.device.type == "cuda", seed=cfg.seed)
        merged = evaluate_model(model, loader, self.device, info, average=cfg.eval.average, amp=self.amp,
                                progress=True)
        skipped = max(st["skipped"], merged["skipped"])  # the final evaluation re-reads the validation set
        if cfg.eval.video_level:
            video = {"top1": merged["top1"], "top5": merged["top5"]}
        result = None
        if info.is_main:
            write_predictions(d, merged, _video_names(test_set))
            profile = _profile(cfg.model, num_classes)
            result = {
                "schema_version": SCHEMA_VERSION,
                "run_id": self.run_id,
                "model": cfg.model,
                "module": spec.module,
                "backbone": spec.backbone,
                "tp": spec.tp,
                "frames": spec.frames,
                "dataset": dataset_name(cfg.dataset) or getattr(data_cfg, "name", None),
                "num_classes": int(num_classes),
                "seed": cfg.seed,
                "top1": st["best_top1"],
                "top5": st["best_top5"],
                "video_top1": video["top1"],
                "video_top5": video["top5"],
                **profile,
                "epochs": cfg.epochs,
                "best_epoch": st["best_epoch"],
                "wall_time_s": wall,
                "samples_skipped": int(skipped),
                "throughput_clips_s": st["train_clips"] / st["train_time"] if st["train_time"] > 0 else None,
                "code_version": code_version(),
                "environment": environment(self.device, info.world_size),
                "config": config_to_dict(cfg),
            }
            validate_result(result)
            rundir.write_json_atomic(d / rundir.RESULT, result)
            rundir.write_state(d, "done", epoch=cfg.epochs)
            log.info("run %s done: top1 %s top5 %s video top1 %s (%d x %d views)", self.run_id,
                     _fmt(result["top1"]), _fmt(result["top5"]), _fmt(result["video_top1"]), clips, crops)
        return broadcast_object(result, info)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _profile(model: str, num_classes: int) -> dict:
    try:
        from benchmark.models import profile_model

        p = profile_model(model, num_classes, size=224)
        return {"params": int(p["params"]), "macs_conv": int(p["macs_conv"]), "macs_all": int(p["macs_all"])}
    except Exception as exc:  # a finished run must not be lost because counting failed
        log.warning("could not profile %s: %s", model, exc)
        return {"params": None, "macs_conv": None, "macs_all": None}


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
    device = _device(cfg)
    info = init_distributed(device.type)
    try:
        return _Trainer(cfg, Path(run_dir), info, device, signals).run(resume)
    finally:
        shutdown(info)


def evaluate(run_dir: str | Path, *, clips: int | None = None, crops: int | None = None,
             checkpoint: str = "best", average: str | None = None, workers: int | None = None) -> dict:
    """Test a trained run with ``clips`` x ``crops`` views per video (defaults: the run's eval config).

    Writes ``test-c{clips}x{crops}.json`` and ``predictions-c{clips}x{crops}.csv/.npz`` into the run
    directory (never overwriting the training's own records) and returns the JSON record.
    """
    run_dir = Path(run_dir)
    if not (run_dir / rundir.CONFIG).is_file():
        raise StbenchError(f"{run_dir}: not a run directory (no {rundir.CONFIG})")
    cfg = load_run_config(run_dir / rundir.CONFIG)
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(
        cfg.eval, clips=clips or cfg.eval.clips, crops=crops or cfg.eval.crops,
        average=average or cfg.eval.average), workers=cfg.workers if workers is None else workers)
    if cfg.eval.clips < 1 or cfg.eval.crops < 1:
        raise ConfigError(f"clips and crops must be positive, got {cfg.eval.clips} x {cfg.eval.crops}")
    device = _device(cfg)
    info = init_distributed(device.type)
    try:
        data_cfg = data_io.resolve_dataset(cfg.dataset, f"{run_dir / rundir.CONFIG}: dataset")
        num_classes = cfg.num_classes or data_cfg.num_classes
        spec, mean, std = _model_inputs(cfg)
        model = build_run_model(dataclasses.replace(cfg, pretrained=None), num_classes)
        path = checkpoint_path(run_dir, checkpoint)
        load_weights_strict(model, load_checkpoint(path)["model"], str(path))
        model.to(device)
        m, k = cfg.eval.clips, cfg.eval.crops
        test_set = data_io.build_split(data_cfg, cfg.eval.split, frames=spec.frames, mean=mean, std=std,
                                       train=False, seed=cfg.seed, clips=m, crops=k)
        bs = max(1, (cfg.eval.batch_size or cfg.batch_size) // info.world_size // (m * k))
        loader = data_io.eval_loader(test_set, batch_size=bs, workers=cfg.workers, rank=info.rank,
                                     world=info.world_size, pin=device.type == "cuda", seed=cfg.seed)
        amp = cfg.amp and device.type == "cuda"
        merged = evaluate_model(model, loader, device, info, average=cfg.eval.average, amp=amp, progress=True)
        record = {"run_id": cfg.run_id or run_dir.name, "checkpoint": checkpoint, "clips": m, "crops": k,
                  "average": cfg.eval.average, "split": cfg.eval.split, "top1": merged["top1"],
                  "top5": merged["top5"], "videos": merged["clips"], "samples_skipped": merged["skipped"],
                  "time": rundir.now_iso()}
        if info.is_main:
            stem = f"c{m}x{k}"
            write_predictions(run_dir, merged, _video_names(test_set), stem=f"predictions-{stem}")
            rundir.write_json_atomic(run_dir / f"test-{stem}.json", record)
        return record
    finally:
        shutdown(info)
