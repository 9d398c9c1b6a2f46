"""When a run writes which checkpoint, and how a resumed run takes its state back.

``last.pt`` (the full training state) after every epoch and on pre-emption; ``best.pt`` (weights)
when validation top-1 improves; the epoch's metrics line is written between the two, so a crash
in between re-runs the epoch and the resumed run truncates the metrics to its checkpoint's epoch.
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.engine import metrics_jsonl
from benchmark.engine.builders import Training
from benchmark.engine.checkpoint import checkpoint_path, get_rng_state, save_checkpoint, set_rng_state, unwrap
from benchmark.engine.distributed import barrier, gather_objects
from benchmark.engine.train_state import TrainState

log = logging.getLogger("benchmark.engine")


class CheckpointPolicy:
    def __init__(self, run_dir: Path, t: Training):
        self.run_dir, self.t = run_dir, t

    def save_last(self, state: TrainState) -> None:
        """Every rank's RNG state (each has its own stream); rank 0 writes."""
        t = self.t
        rngs = gather_objects(get_rng_state(), t.info)
        if t.info.is_main:
            save_checkpoint(checkpoint_path(self.run_dir), {
                "model": unwrap(t.model).state_dict(),
                "optimizer": t.optimizer.state_dict(),
                "scaler": t.scaler.state_dict() if t.amp else {},
                "state": state.as_dict(),
                "rng": rngs,
                "model_name": t.cfg.model,
            })
        barrier(t.info)

    def end_epoch(self, state: TrainState, metrics_line: dict, improved: bool) -> None:
        if self.t.info.is_main:
            if improved:
                save_checkpoint(checkpoint_path(self.run_dir, "best"),
                                {"model": unwrap(self.t.model).state_dict(), "epoch": state.epoch,
                                 "top1": state.best_top1, "model_name": self.t.cfg.model})
            metrics_jsonl.append_metrics(self.run_dir, metrics_line)
        self.save_last(state)

    def restore(self) -> TrainState:
        """The state of the checkpoint resumed from (optimiser, scaler, this rank's RNG), or a fresh one."""
        t, ckpt = self.t, self.t.ckpt
        if ckpt is None:
            return TrainState()
        t.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            t.scaler.load_state_dict(ckpt["scaler"])
        state = TrainState.from_dict(ckpt["state"])
        rngs = ckpt["rng"]
        set_rng_state(rngs[t.info.rank] if t.info.rank < len(rngs) else rngs[0])
        if state.batch and len(state.stats) != t.info.world_size:
            log.warning("the checkpoint was written by %d process(es), this run has %d: epoch %d "
                        "restarts from its first batch", len(state.stats), t.info.world_size, state.epoch + 1)
            state.batch, state.stats = 0, []
        if state.epoch >= t.cfg.epochs:
            log.info("resumed from a finished training (%d/%d epochs): only the final evaluation runs",
                     state.epoch, t.cfg.epochs)
        else:
            log.info("resumed from the checkpoint at epoch %d/%d, batch %d", state.epoch + 1, t.cfg.epochs,
                     state.batch)
        return state
