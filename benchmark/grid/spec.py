"""Experiment specs: a YAML grid of runs (datasets x axes) turned into planned runs.

A spec names the datasets, the axes (modules x backbones x tp, or a list of models; frames, seeds,
sampling and any run option),
per-frame-count protocol settings, per-cell overrides and the output root. Precedence, lowest
first: the engine's Table 12 defaults, ``run`` (every run), ``protocol[frames]``, option axes,
matching ``overrides``. Progressive training (paper Table 12: each longer run starts from the run
with half the frames) makes every f16/f32/f64 run depend on its half-frame run.

Every run's config is validated by the engine's own loader at planning time, so a bad value is
reported before anything is launched, naming the spec file and the run.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import ConfigError, StbenchError
from benchmark.package_data import find_yaml
from benchmark.strict_config import check_choice, check_keys, from_dict, load_yaml

# Run options the grid itself decides, so a spec cannot set them.
RESERVED_OPTIONS = ("model", "dataset", "run_id")


@dataclass
class Axes:
    """Values to cross. ``options`` crosses any other run option, e.g. ``{batch_size: [36, 72]}``.

    ``models`` lists model names without the frame count (``TAM-ResNet50``, ``I3D-ResNet50-tp``,
    ``SlowFast8x8-ResNet50``, ``X3D-L``) instead of crossing ``modules`` x ``backbones`` x ``tp``: for
    grids of hand-picked models such as the paper's SOTA table.
    """

    modules: list[str] = field(default_factory=list)
    backbones: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    tp: list[bool] = field(default_factory=lambda: [False])
    frames: list[int] = field(default_factory=lambda: [8])
    seeds: list[int] = field(default_factory=lambda: [0])
    sampling: list[str] | None = None  # uniform | dense (paper 002 Table 3); None: each dataset's own
    options: dict[str, list] = field(default_factory=dict)


@dataclass
class Override:
    """Run options ``set`` on the cells whose axis values ``match`` (a value or a list of values)."""

    match: dict[str, Any]
    set: dict[str, Any]


@dataclass
class ExperimentSpec:
    name: str
    datasets: list[Any]  # preset names or dataset mappings (see benchmark.data.dataset_config)
    axes: Axes
    output: str  # results root; relative paths are taken from the current directory
    run: dict[str, Any] = field(default_factory=dict)
    protocol: dict[int, dict] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)
    exclude: list[dict[str, Any]] = field(default_factory=list)  # cells to leave out (match mappings)
    progressive: bool = True


@dataclass
class PlannedRun:
    """One run of an experiment: its id, the engine's full (resolved) config, its upstream runs."""

    run_id: str
    config: dict
    depends_on: list[str]
    run_dir: Path
    cell: dict = field(default_factory=dict)  # the axis values of this run (dataset, module, ...)


def _run_option_names() -> list[str]:
    from benchmark.engine.run_config import RunConfig

    return [f.name for f in dataclasses.fields(RunConfig) if f.name not in RESERVED_OPTIONS]


def _check_options(options: dict, where: str) -> None:
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: expected a mapping of run options, got {options!r}")
    check_keys(options, _run_option_names(), where)
    if "seed" in options:  # each run's seed is its cell's: a seed set here would be silently replaced
        seeds = options["seed"] if isinstance(options["seed"], list) else [options["seed"]]
        raise ConfigError(f"{where}.seed: a grid's seeds come from axes.seeds "
                          f"(e.g. axes: {{seeds: {seeds}}}), not from run options")


def _merge(base: dict, extra: dict) -> dict:
    """Deep merge: nested mappings (``optim: {lr: ...}``) update rather than replace."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _dataset_config(entry: Any, where: str) -> dict:
    """A dataset entry -> the full data mapping, root made absolute (jobs may start elsewhere)."""
    from benchmark.data.dataset_config import data_config_dict, resolve_data_config

    cfg = data_config_dict(resolve_data_config(copy.deepcopy(entry), where))
    cfg["root"] = str(Path(cfg["root"]).expanduser().absolute())
    return cfg


SAMPLINGS = ("uniform", "dense")


def _label(value: Any) -> str:
    """A value as run ids and ``match`` show it: ``true``, ``none``, ``tam_placement=top-half``."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, dict):
        return ",".join(f"{k}={_label(value[k])}" for k in sorted(value))
    return str(value)


class Experiment:
    """A validated spec with its source file; :meth:`runs` enumerates the grid."""

    def __init__(self, spec: ExperimentSpec, source: str = "experiment", base: Path | None = None):
        self.spec = spec
        self.source = source
        output = Path(spec.output).expanduser()
        self.base = (base or Path.cwd()).absolute()  # where relative `output` and `init_from` paths start
        self.output = (output if output.is_absolute() else self.base / output).absolute()
        self._runs: list[PlannedRun] | None = None
        self._validate()

    @property
    def name(self) -> str:
        return self.spec.name

    def _validate(self) -> None:
        from benchmark.models import list_backbones, list_modules

        where, ax = self.source, self.spec.axes
        if not self.spec.datasets:
            raise ConfigError(f"{where}: datasets: at least one dataset is needed")
        crossed = ("modules", "backbones", "tp") if not ax.models else ("models",)
        if ax.models and (ax.modules or ax.backbones):
            raise ConfigError(f"{where}: axes: give either models or modules and backbones, not both")
        for key in (*crossed, "frames", "seeds"):
            values = getattr(ax, key)
            if not values:
                raise ConfigError(f"{where}: axes.{key}: at least one value is needed")
            if len(set(map(repr, values))) != len(values):
                raise ConfigError(f"{where}: axes.{key}: repeated values in {values}")
        for i, m in enumerate(ax.modules):
            check_choice(m, list_modules(), f"{where}: axes.modules[{i}]")
        for i, b in enumerate(ax.backbones):
            check_choice(b, list_backbones(), f"{where}: axes.backbones[{i}]")
        for i, stem in enumerate(ax.models):
            self._model_axis_value(stem, ax.frames[0] if ax.frames else 8, f"{where}: axes.models[{i}]")
        for i, f in enumerate(ax.frames):
            if f < 1:
                raise ConfigError(f"{where}: axes.frames[{i}]: must be positive, got {f}")
        if ax.sampling is not None:
            if not ax.sampling or len(set(ax.sampling)) != len(ax.sampling):
                raise ConfigError(f"{where}: axes.sampling: expected distinct values from {', '.join(SAMPLINGS)}")
            for i, value in enumerate(ax.sampling):
                check_choice(value, SAMPLINGS, f"{where}: axes.sampling[{i}]")
        _check_options(ax.options, f"{where}: axes.options")
        for key, values in ax.options.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: axes.options.{key}: expected a non-empty list of values")
        _check_options(self.spec.run, f"{where}: run")
        for frames, options in self.spec.protocol.items():
            if not isinstance(frames, int) or isinstance(frames, bool):
                raise ConfigError(f"{where}: protocol: keys are frame counts, got {frames!r}")
            _check_options(options, f"{where}: protocol.{frames}")
        match_keys = ["dataset", "module", "backbone", "tp", "frames", "seed", "sampling", *ax.options]
        for i, ov in enumerate(self.spec.overrides):
            check_keys(ov.match, match_keys, f"{where}: overrides[{i}].match")
            _check_options(ov.set, f"{where}: overrides[{i}].set")
        for i, match in enumerate(self.spec.exclude):
            check_keys(match, match_keys, f"{where}: exclude[{i}]")
        if self.spec.progressive:
            frames = set(ax.frames)
            for f in sorted(frames):
                if f > 8 and f // 2 not in frames:
                    raise ConfigError(
                        f"{where}: axes.frames: progressive training starts each {f}-frame run from the "
                        f"{f // 2}-frame run, which is not in the grid (add {f // 2} or set progressive: false)"
                    )

    @staticmethod
    def _model_axis_value(stem: Any, frames: int, where: str) -> tuple[str, str | None, bool]:
        """``(module, backbone, tp)`` of an ``axes.models`` entry."""
        from benchmark.models import parse_model_name

        if not isinstance(stem, str) or re.search(r"-f\d+$", stem):
            raise ConfigError(f"{where}: expected a model name without its frame count (e.g. TAM-ResNet50, "
                              f"X3D-L), got {stem!r}: frames come from axes.frames")
        try:
            spec = parse_model_name(f"{stem}-f{frames}")
        except StbenchError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        return spec.module, spec.backbone, spec.tp

    def _models(self):
        """``(module, backbone, tp)`` per model of the grid."""
        ax = self.spec.axes
        if ax.models:
            return [self._model_axis_value(m, min(ax.frames), "axes.models") for m in ax.models]
        return list(itertools.product(ax.modules, ax.backbones, ax.tp))

    def _cells(self):
        ax = self.spec.axes
        option_keys = list(ax.options)
        for d_index, entry in enumerate(self.spec.datasets):
            dataset = _dataset_config(entry, f"{self.source}: datasets[{d_index}]")
            for sampling, (module, backbone, tp), seed, *opts in itertools.product(
                ax.sampling or [dataset["sampling"]], self._models(), ax.seeds, *ax.options.values()
            ):
                data = {**dataset, "sampling": sampling}
                for frames in sorted(ax.frames):  # ascending: a chain's upstream comes first
                    cell = {"dataset": data["name"], "module": module, "backbone": backbone, "tp": tp,
                            "frames": frames, "seed": seed, "sampling": sampling, **dict(zip(option_keys, opts))}
                    yield data, cell

    def _matches(self, match: dict, cell: dict) -> bool:
        for key, wanted in match.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            if cell[key] not in values and _label(cell[key]) not in map(_label, values):
                return False
        return True

    def runs(self) -> list[PlannedRun]:
        """Every run, each after the run it depends on."""
        if self._runs is None:
            self._runs = self._plan()
        return list(self._runs)

    def _plan(self) -> list[PlannedRun]:
        from benchmark.engine.run_config import config_to_dict, load_run_config
        from benchmark.models import model_name

        ax = self.spec.axes
        varying = [k for k, v in ax.options.items() if len(v) > 1]
        planned: list[PlannedRun] = []
        by_chain: dict[tuple, PlannedRun] = {}
        seen: set[str] = set()
        for data, cell in self._cells():
            if any(self._matches(match, cell) for match in self.spec.exclude):
                continue
            try:
                model = model_name(cell["module"], cell["backbone"], cell["tp"], cell["frames"])
            except StbenchError as exc:
                raise ConfigError(f"{self.source}: axes: {exc}") from exc
            suffix = "".join(f"-seed{cell['seed']}" for _ in [0] if len(ax.seeds) > 1)
            suffix += f"-{cell['sampling']}" if ax.sampling is not None and len(ax.sampling) > 1 else ""
            suffix += "".join(f"-{k}{_label(cell[k])}" if not isinstance(cell[k], dict) else f"-{_label(cell[k])}"
                              for k in varying)
            run_id = f"{cell['dataset']}/{model}{suffix}"
            if run_id in seen:
                raise ConfigError(f"{self.source}: datasets: two entries named {cell['dataset']!r}")
            seen.add(run_id)
            run_dir = self.output / cell["dataset"] / f"{model}{suffix}"

            options = _merge({}, self.spec.run)
            options = _merge(options, self.spec.protocol.get(cell["frames"], {}))
            options = _merge(options, {k: cell[k] for k in ax.options})
            for ov in self.spec.overrides:
                if self._matches(ov.match, cell):
                    options = _merge(options, ov.set)
            options["seed"] = cell["seed"]
            if isinstance(options.get("init_from"), str):  # a run of another experiment; jobs may start elsewhere
                options["init_from"] = str((self.base / Path(options["init_from"]).expanduser()).absolute())

            chain = tuple((k, _label(v)) for k, v in cell.items() if k != "frames")
            depends_on: list[str] = []
            half = cell["frames"] // 2 if cell["frames"] % 2 == 0 else None
            upstream = by_chain.get((chain, half))
            if self.spec.progressive and upstream is not None and "init_from" not in options:
                options["init_from"] = str(upstream.run_dir)
                depends_on = [upstream.run_id]
            by_chain[(chain, cell["frames"])] = planned_run = PlannedRun(run_id, {}, depends_on, run_dir, cell)

            raw = {"model": model, "dataset": data, "run_id": run_id, **options}
            try:
                planned_run.config = config_to_dict(load_run_config(raw, f"{self.source}: run {run_id}"))
            except StbenchError as exc:
                raise ConfigError(str(exc)) from exc
            planned.append(planned_run)
        return planned

    def dependencies(self) -> list[tuple[str, str]]:
        """``(upstream, downstream)`` pairs."""
        return [(up, run.run_id) for run in self.runs() for up in run.depends_on]


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate an experiment YAML (unknown keys are rejected with the valid keys).

    ``path``: a YAML file, or the name of a shipped experiment (``paper_mini_grid``, ``quickstart``).
    """
    path = find_yaml(path, "experiments")
    return experiment_from_dict(load_yaml(path), source=str(path), base=None)


def experiment_from_dict(data: Any, source: str = "experiment", base: Path | None = None) -> Experiment:
    """``base``: the directory a relative ``output`` is taken from (default: the current one)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of experiment settings, got {type(data).__name__}")
    check_keys(data, [f.name for f in dataclasses.fields(ExperimentSpec)], source)
    return Experiment(from_dict(ExperimentSpec, data, f"{source}: "), source=source, base=base)
