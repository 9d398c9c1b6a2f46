"""Launching an experiment's runs through an executor (local, SLURM, a plugin's), their status, and
cancelling them. A new executor is one file: see :mod:`benchmark.launch.executor`."""

from benchmark.launch.cluster_profile import ClusterProfile, available_profiles, load_profile
from benchmark.launch.executor import (
    EXECUTORS,
    Executor,
    JobView,
    LaunchOptions,
    LaunchPlan,
    register_executor,
)
from benchmark.launch.launcher import LaunchReport, launch, plan_submissions
from benchmark.launch.observe import STATES, RunView, observe
from benchmark.launch.status import cancel, format_table, status

__all__ = [
    "EXECUTORS",
    "STATES",
    "ClusterProfile",
    "Executor",
    "JobView",
    "LaunchOptions",
    "LaunchPlan",
    "LaunchReport",
    "RunView",
    "available_profiles",
    "cancel",
    "format_table",
    "launch",
    "load_profile",
    "observe",
    "plan_submissions",
    "register_executor",
    "status",
]
