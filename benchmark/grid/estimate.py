"""Compute estimate of an experiment: MACs per clip x training clips x epochs, per run.

MACs per clip come from :func:`benchmark.models.profile_model` on the meta device (the paper's
convention: convolution and linear multiply-adds) at the dataset's crop size. Training clips per
epoch are the lines of the train list when it is readable, else the dataset sizes of the paper's
Table 11 for the mini datasets and the released training sets' sizes for the full ones. The figure
counts forward passes over the training clips; a training step costs roughly three forward passes,
and evaluation is not included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.grid.spec import Experiment, PlannedRun

#: Paper Table 11: training videos of the mini datasets (thousands, as printed).
PAPER_TRAIN_VIDEOS = {"mini-ssv2": 81_000, "mini-kinetics": 121_000, "mini-mit": 100_000}
#: Training videos of the full datasets as their authors released them (the presets' splits; the
#: training list of Kinetics-400 depends on which videos are still online, so it has none).
OFFICIAL_TRAIN_VIDEOS = {
    "ucf101": (9_537, "UCF101 split 1 (trainlist01)"),
    "hmdb51": (3_570, "HMDB51 split 1 (70 per class)"),
    "jester": (118_562, "Jester v1 training set"),
    "ssv2": (168_913, "Something-Something v2 training set"),
    "mit": (802_264, "Moments in Time v1 training set"),
}


@dataclass
class RunEstimate:
    run_id: str
    macs_per_clip: int
    clips_per_epoch: int | None
    clips_source: str  # the list file counted, "paper Table 11", the released set's size, or "unknown"
    epochs: int

    @property
    def macs(self) -> int | None:
        return None if self.clips_per_epoch is None else self.macs_per_clip * self.clips_per_epoch * self.epochs


def train_clips(data: dict) -> tuple[int | None, str]:
    """(training clips per epoch, where that number comes from) for a resolved dataset mapping."""
    path = Path(data["train_list"])
    path = path if path.is_absolute() else Path(data["root"]) / path
    if path.is_file():
        with open(path, errors="replace") as fh:
            return sum(1 for line in fh if line.strip()), str(path)
    if data.get("name") in PAPER_TRAIN_VIDEOS:
        return PAPER_TRAIN_VIDEOS[data["name"]], "paper Table 11"
    if data.get("name") in OFFICIAL_TRAIN_VIDEOS:
        count, release = OFFICIAL_TRAIN_VIDEOS[data["name"]]
        return count, f"{release} (train list not found)"
    return None, "unknown (train list not found)"


def estimate(experiment: Experiment, runs: list[PlannedRun] | None = None, progress=None) -> list[RunEstimate]:
    """One :class:`RunEstimate` per run; each distinct (model, classes, size) is profiled once."""
    from benchmark.data.dataset_config import resolve_data_config
    from benchmark.models import profile_model

    runs = experiment.runs() if runs is None else runs
    profiles: dict[tuple, int] = {}
    clips: dict[str, tuple[int | None, str]] = {}
    out = []
    for i, run in enumerate(runs):
        cfg = run.config
        data = cfg["dataset"]
        classes = cfg.get("num_classes") or resolve_data_config(data).num_classes
        options = cfg.get("model_options") or {}
        key = (cfg["model"], classes, data["crop"], repr(sorted(options.items())))
        if key not in profiles:
            profiles[key] = profile_model(cfg["model"], classes, size=data["crop"], options=options)["macs_conv"]
            if progress is not None:
                progress(i + 1, len(runs))
        if data["name"] not in clips:
            clips[data["name"]] = train_clips(data)
        n, source = clips[data["name"]]
        cap = cfg.get("max_steps_per_epoch")
        if cap and n is not None and cap * cfg["batch_size"] < n:  # smoke runs stop each epoch early
            n, source = cap * cfg["batch_size"], f"max_steps_per_epoch {cap} x batch {cfg['batch_size']}"
        out.append(RunEstimate(run.run_id, profiles[key], n, source, cfg["epochs"]))
    return out


def human(macs: float) -> str:
    for unit, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9)):
        if macs >= scale:
            return f"{macs / scale:.2f} {unit}MACs"
    return f"{macs:.0f} MACs"
