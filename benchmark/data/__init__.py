"""Data layer: video files on disk -> normalised clip batches (see docs/data.md)."""

from benchmark.lazy_exports import lazy_getattr

_EXPORTS = {
    "BadSample": "dataset", "VideoDataset": "dataset", "build_dataset": "dataset",
    "PRESETS": "dataset_config", "DataConfig": "dataset_config", "data_config_dict": "dataset_config",
    "preset": "dataset_config", "resolve_data_config": "dataset_config",
    "FormatReader": "formats", "register_format": "formats",
    "EpochSampler": "loader", "VideoLoader": "loader", "build_loader": "loader",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
