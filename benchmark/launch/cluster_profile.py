"""Cluster profiles (shipped in ``benchmark/resources/cluster_profiles``, or the user's ``slurm/*.yaml``): where and with what resources SLURM runs each job.

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

from benchmark.errors import ConfigError
from benchmark.package_data import find_yaml, resource_dir
from benchmark.strict_config import from_dict, load_yaml


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
    """Where profiles are looked up by name: ``$STBENCH_SLURM_PROFILES``, ``./slurm``, then the shipped ones."""
    dirs = [Path(p) for p in os.environ.get("STBENCH_SLURM_PROFILES", "").split(os.pathsep) if p]
    return [*dirs, Path("slurm"), resource_dir("cluster_profiles")]


def available_profiles() -> list[str]:
    return sorted({p.stem for d in profile_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def load_profile(name_or_path: str | Path) -> ClusterProfile:
    """A profile by name (``local``) or by YAML path; an unknown name lists the available ones."""
    path = find_yaml(name_or_path, "cluster_profiles", tuple(profile_dirs()[:-1]))
    data = load_yaml(path)
    if isinstance(data, dict):
        data = {"name": path.stem, **data}
    return from_dict(ClusterProfile, data, f"{path}: ")
