"""Cluster profiles (``slurm/*.yaml``): where and with what resources SLURM runs each job.

One GPU per task: a profile with ``gpus_per_node: 4`` runs 4 tasks per node, which the engine
joins into one DDP process group (environment from submitit). Resources are checked against the
cluster before anything is submitted, because SLURM accepts a job asking for more CPUs than any
node has and leaves it pending forever.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.strict_config import from_dict, load_yaml
from benchmark.errors import ConfigError


@dataclass
class ClusterProfile:
    name: str
    partition: str | None = None
    nodes: int = 1
    gpus_per_node: int = 0  # also the number of tasks (DDP processes) per node; 0: one CPU task
    cpus_per_task: int = 1
    mem: str | None = None  # per node, SLURM syntax ("32G"); None: the partition's default
    time_min: int = 60  # time limit per job; jobs that reach it checkpoint and requeue
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: list[str] = field(default_factory=list)  # shell lines run before the job (module load ...)
    array_parallelism: int = 32  # at most this many tasks of one job array run at once
    signal_delay_s: int = 120  # SIGUSR1 this long before the time limit: checkpoint and requeue
    max_requeues: int = 20  # time-outs/pre-emptions tolerated per job
    sbatch: dict[str, Any] = field(default_factory=dict)  # any other sbatch option, e.g. {exclusive: true}

    def __post_init__(self) -> None:
        where = f"profile {self.name}"
        for key in ("nodes", "cpus_per_task", "time_min", "array_parallelism"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{where}: {key} must be >= 1, got {getattr(self, key)}")
        for key in ("gpus_per_node", "signal_delay_s", "max_requeues"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{where}: {key} must be >= 0, got {getattr(self, key)}")

    @property
    def tasks_per_node(self) -> int:
        return max(1, self.gpus_per_node)


def profile_dirs() -> list[Path]:
    """``$STBENCH_SLURM_PROFILES``, then ``./slurm``, then the source checkout's ``slurm/``."""
    dirs = [Path(p) for p in os.environ.get("STBENCH_SLURM_PROFILES", "").split(os.pathsep) if p]
    dirs += [Path("slurm"), Path(__file__).resolve().parents[2] / "slurm"]
    return dirs


def available_profiles() -> list[str]:
    names: set[str] = set()
    for d in profile_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def load_profile(name_or_path: str | Path) -> ClusterProfile:
    """A profile by name (``local``) or by YAML path; an unknown name lists the available ones."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        for d in profile_dirs():
            if (d / f"{name_or_path}.yaml").is_file():
                path = d / f"{name_or_path}.yaml"
                break
        else:
            raise ConfigError(
                f"unknown cluster profile {str(name_or_path)!r} "
                f"(available: {', '.join(available_profiles()) or 'none'}; or give a YAML path)"
            )
    data = load_yaml(path)
    if isinstance(data, dict):
        data = {"name": path.stem, **data}
    return from_dict(ClusterProfile, data, f"{path}: ")
