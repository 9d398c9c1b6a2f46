"""Data layer: video files on disk -> normalised clip batches (see docs/data.md)."""

from benchmark.data.dataset import BadSample, VideoDataset, build_dataset
from benchmark.data.dataset_config import PRESETS, DataConfig, data_config_dict, preset, resolve_data_config
from benchmark.data.formats import FormatReader, register_format
from benchmark.data.loader import EpochSampler, VideoLoader, build_loader

__all__ = [
    "PRESETS",
    "BadSample",
    "DataConfig",
    "EpochSampler",
    "FormatReader",
    "VideoDataset",
    "VideoLoader",
    "build_dataset",
    "build_loader",
    "data_config_dict",
    "preset",
    "register_format",
    "resolve_data_config",
]
