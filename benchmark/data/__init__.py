"""Data layer: video files on disk -> normalised clip batches (see docs/data.md)."""

from benchmark.data.dataset_config import PRESETS, DataConfig, data_config_dict, preset, resolve_data_config
from benchmark.data.dataset import (
    BadSample,
    EpochSampler,
    VideoDataset,
    VideoLoader,
    build_dataset,
    build_loader,
)

__all__ = [
    "PRESETS",
    "BadSample",
    "DataConfig",
    "EpochSampler",
    "VideoDataset",
    "VideoLoader",
    "build_dataset",
    "build_loader",
    "data_config_dict",
    "preset",
    "resolve_data_config",
]
