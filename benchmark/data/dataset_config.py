"""The dataset section of a run config: a strict, self-contained ``DataConfig`` and named presets.

A run YAML's ``dataset:`` is either a preset name (``mini-ssv2``), a dataset YAML file
(``lists/train.dataset.yaml``, as ``stbench data index`` writes), a mapping with ``preset:`` (a name
or such a file) plus overrides (``{preset: mini-kinetics, root: /data/k400}``), or a full mapping. Whatever form it had,
the resolved ``DataConfig`` holds every setting, so the run directory's ``config.yaml`` alone
reproduces the input pipeline.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from benchmark.data.decoders.base import DECODERS
from benchmark.data.formats.base import FORMATS
from benchmark.errors import ConfigError
from benchmark.strict_config import check_choice, from_dict, load_yaml

# The multi-scale crop of TSN (and of the official code): side = scale x short side.
TSN_SCALES = (1.0, 0.875, 0.75, 0.66)


@dataclass
class DataConfig:
    """Everything between files on disk and normalised batches (the run YAML's ``dataset:``)."""

    root: str
    train_list: str
    val_list: str
    num_classes: int
    name: str = "custom"
    # A registered dataset format (benchmark.data.formats): "frames" = folders of JPEGs + list
    # `<folder> <start> <end> <label>`; "video" = `<path> <label>` list or a `<class>/<video>` tree.
    format: str = "frames"
    decoder: str = "pyav"  # video files: a registered decoder, pyav | torchcodec (same frames, other speed)
    classes: str | None = None  # optional file of class names, one per line in label order
    separator: str | None = None  # None = any whitespace; ";" for the official Kinetics lists
    filename_template: str = "{:05d}.jpg"
    min_frames: int = 1
    sampling: Literal["uniform", "dense"] = "uniform"
    # uniform training: "shared" = one random offset for all segments (official code),
    # "per_segment" = one per segment (TSN paper).
    uniform_offset: Literal["shared", "per_segment"] = "shared"
    dense_stride: int = 2
    resize: int = 256  # short side before cropping (train and eval)
    crop: int = 224
    scales: tuple[float, ...] = TSN_SCALES
    # Training crop: "multiscale" (TSN, the official code: `scales` of the short side at 13 fixed
    # positions) or "jitter" (SlowFast's recipe, paper 002 Table 2: short side drawn from
    # `jitter_range`, a crop x crop square at a random position).
    train_crop: Literal["multiscale", "jitter"] = "multiscale"
    jitter_range: tuple[int, int] = (256, 320)
    flip: bool = True
    test_clips: int = 1
    test_crops: Literal[1, 3, 10] = 1
    on_bad_sample: Literal["fail", "skip"] = "fail"
    num_workers: int = 2

    def __post_init__(self) -> None:
        where = f"dataset {self.name}"
        for key in ("num_classes", "min_frames", "dense_stride", "resize", "crop", "test_clips"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{where}: {key} must be >= 1, got {getattr(self, key)}")
        if self.num_workers < 0:
            raise ConfigError(f"{where}: num_workers must be >= 0, got {self.num_workers}")
        if self.crop > self.resize:
            raise ConfigError(f"{where}: crop ({self.crop}) must not exceed resize ({self.resize})")
        if not self.scales or any(not 0 < s <= 1 for s in self.scales):
            raise ConfigError(f"{where}: scales must be in (0, 1], got {list(self.scales)}")
        jitter = tuple(self.jitter_range)
        if len(jitter) != 2 or not self.crop <= jitter[0] <= jitter[1]:
            raise ConfigError(f"{where}: jitter_range must be [min, max] short sides with crop ({self.crop}) "
                              f"<= min <= max, got {list(self.jitter_range)}")
        check_choice(self.test_crops, (1, 3, 10), f"{where}: test_crops")
        FORMATS.get(self.format, f"{where}: format")
        DECODERS.get(self.decoder, f"{where}: decoder")
        if self.separator == "":
            raise ConfigError(f"{where}: separator must be a non-empty string or null (whitespace)")
        try:
            self.filename_template.format(1)
        except (IndexError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"{where}: filename_template {self.filename_template!r} cannot format a frame number ({exc})"
            ) from exc

    def path(self, relative: str) -> Path:
        """``relative`` resolved against ``root`` (absolute paths are kept)."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else Path(self.root).expanduser() / p

    def split_source(self, split: str) -> Path:
        check_choice(split, ("train", "val"), f"dataset {self.name}: split")
        return self.path(self.train_list if split == "train" else self.val_list)


def data_home() -> Path:
    """Where presets look for datasets: ``$STBENCH_DATA`` or ``./data``."""
    return Path(os.environ.get("STBENCH_DATA", "data"))


def _preset_table() -> dict[str, dict[str, Any]]:
    home = data_home()
    # Official list-file layouts (IBM action-recognition-pytorch): frame folders, 1-based
    # `{:05d}.jpg`, `;`-separated for Kinetics; no flipping for SSv2, where left/right is the label.
    return {
        "mini-ssv2": dict(
            name="mini-ssv2", format="frames", root=str(home / "mini-ssv2"), train_list="mini_train.txt",
            val_list="mini_val.txt", num_classes=87, separator=None, flip=False, test_clips=2, test_crops=3,
        ),
        "mini-kinetics": dict(
            name="mini-kinetics", format="frames", root=str(home / "mini-kinetics"),
            train_list="mini_train.txt", val_list="mini_val.txt", num_classes=200, separator=";",
            test_clips=10, test_crops=3,
        ),
        "mini-mit": dict(
            name="mini-mit", format="frames", root=str(home / "mini-mit"), train_list="mini_train.txt",
            val_list="mini_val.txt", num_classes=200, separator=None, test_clips=10, test_crops=3,
        ),
        # Table 4's transfer targets, as `stbench data convert ucf101|hmdb51|jester` writes them
        # (split 1 for UCF101/HMDB51). Paper 002 reports clip-level top-1 (result.json `top1`);
        # the video-level views follow its full-dataset practice: 3x10 for trimmed YouTube videos
        # like Kinetics, 3x2 for Jester, short gesture clips like SSv2, unflipped (left/right is the label).
        "ucf101": dict(
            name="ucf101", format="frames", root=str(home / "ucf101"), train_list="train.txt",
            val_list="val.txt", num_classes=101, separator=None, test_clips=10, test_crops=3,
        ),
        "hmdb51": dict(
            name="hmdb51", format="frames", root=str(home / "hmdb51"), train_list="train.txt",
            val_list="val.txt", num_classes=51, separator=None, test_clips=10, test_crops=3,
        ),
        "jester": dict(
            name="jester", format="frames", root=str(home / "jester"), train_list="train.txt",
            val_list="val.txt", num_classes=27, separator=None, flip=False, test_clips=2, test_crops=3,
        ),
        # Full datasets as 'stbench data convert' writes them (train.txt, val.txt, classes.txt),
        # for the paper's full-dataset experiments (Tables 2, 3, 9; Figure 7); eval views as §D.2.
        "kinetics400": dict(
            name="kinetics400", format="frames", root=str(home / "kinetics400"), train_list="train.txt",
            val_list="val.txt", classes="classes.txt", num_classes=400, separator=";", test_clips=10, test_crops=3,
        ),
        "ssv2": dict(
            name="ssv2", format="frames", root=str(home / "ssv2"), train_list="train.txt", val_list="val.txt",
            classes="classes.txt", num_classes=174, separator=None, flip=False, test_clips=2, test_crops=3,
        ),
        "mit": dict(
            name="mit", format="frames", root=str(home / "mit"), train_list="train.txt", val_list="val.txt",
            classes="classes.txt", num_classes=339, separator=None, test_clips=10, test_crops=3,
        ),
        # Synthetic sets (benchmark.data.synthetic): 32 px frames, no flip (direction is a label).
        "synthetic-temporal": dict(
            name="synthetic-temporal", format="frames", root=str(home / "synthetic-temporal"),
            train_list="train.txt", val_list="val.txt", num_classes=4, flip=False, resize=32, crop=32,
            scales=(1.0,), num_workers=0,
        ),
        "synthetic-spatial": dict(
            name="synthetic-spatial", format="frames", root=str(home / "synthetic-spatial"),
            train_list="train.txt", val_list="val.txt", num_classes=4, flip=False, resize=32, crop=32,
            scales=(1.0,), num_workers=0,
        ),
    }


PRESETS = tuple(_preset_table())
DATASET_FILE_SUFFIXES = (".yaml", ".yml")


def preset(name: str) -> dict[str, Any]:
    """The preset's settings as a plain mapping (root under ``$STBENCH_DATA`` or ``./data``), or
    the mapping of a dataset YAML file when ``name`` ends in ``.yaml``/``.yml``."""
    if name.endswith(DATASET_FILE_SUFFIXES):
        return dataset_file(Path(name))
    table = _preset_table()
    if name not in table:
        raise ConfigError(f"unknown dataset preset {name!r} (valid presets: {', '.join(table)}; "
                          f"or a dataset YAML file)")
    return dict(table[name])


def dataset_file(path: Path) -> dict[str, Any]:
    """A dataset YAML (a dataset mapping, or a run config's ``dataset:``) as a mapping.

    A relative ``root`` is taken from the file's folder, so the file works from any directory."""
    data = load_yaml(path)
    if isinstance(data, dict) and isinstance(data.get("dataset"), dict):
        data = data["dataset"]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a dataset mapping (root, train_list, val_list, num_classes, ...)")
    data = dict(data)
    if isinstance(data.get("root"), str) and not Path(data["root"]).expanduser().is_absolute():
        data["root"] = str(path.parent / data["root"])
    return data


def resolve_data_config(spec: str | Mapping[str, Any] | DataConfig, where: str = "dataset") -> DataConfig:
    """Preset name, ``{preset: ..., overrides}`` or a full mapping -> a validated ``DataConfig``."""
    if isinstance(spec, DataConfig):
        return spec
    if isinstance(spec, str):
        try:
            return from_dict(DataConfig, preset(spec), spec if spec.endswith(DATASET_FILE_SUFFIXES) else where)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a preset name or a mapping, got {spec!r}")
    spec = dict(spec)
    if "preset" in spec:
        name = spec.pop("preset")
        try:
            base = preset(str(name))
        except ConfigError as exc:
            raise ConfigError(f"{where}.preset: {exc}") from exc
        base.update(spec)
        spec = base
    return from_dict(DataConfig, spec, where)


def data_config_dict(cfg: DataConfig) -> dict[str, Any]:
    """Plain mapping for YAML (tuples as lists), round-trips through ``resolve_data_config``."""
    out = dataclasses.asdict(cfg)
    out["scales"] = list(cfg.scales)
    out["jitter_range"] = list(cfg.jitter_range)
    return out


def dataset_file_beside(list_path: Path) -> Path:
    """The dataset YAML that describes a list file: ``train.txt`` -> ``train.dataset.yaml`` beside it."""
    return list_path.with_name(f"{list_path.stem}.dataset.yaml")


def write_dataset_file(path: Path, settings: Mapping[str, Any]) -> DataConfig:
    """Validate ``settings`` as a dataset and write them (only these keys, in order) as a YAML file."""
    cfg = from_dict(DataConfig, dict(settings), str(path))
    header = ("# Written by `stbench data index`: a dataset for `stbench data check`, `stbench train "
              "--dataset THIS_FILE`\n# and experiments (`datasets: [THIS_FILE]`). Every key of "
              "docs/data.md may be added; val_list: your validation list.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(dict(settings), sort_keys=False))
    return cfg
