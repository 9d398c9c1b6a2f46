"""Launching an experiment's runs (submitit: local or SLURM), their status, and cancelling them."""

from benchmark.launch.launcher import EXECUTORS, LaunchReport, launch, plan_submissions
from benchmark.launch.observe import STATES, RunView, observe
from benchmark.launch.cluster_profile import ClusterProfile, available_profiles, load_profile
from benchmark.launch.status import cancel, format_table, status

__all__ = [
    "EXECUTORS",
    "STATES",
    "ClusterProfile",
    "LaunchReport",
    "RunView",
    "available_profiles",
    "cancel",
    "format_table",
    "launch",
    "load_profile",
    "observe",
    "plan_submissions",
    "status",
]
