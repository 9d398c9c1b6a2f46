"""What a result record needs to be reproducible: code version and software/hardware environment."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from pathlib import Path

import torch

import benchmark
from benchmark.engine import host_allocator

# What TAM and TSM ran as (benchmark.models.temporal_ops); records from before said "c" or "eager ...".
TEMPORAL_KERNELS = "torch"


def _git(*args: str) -> str | None:
    root = Path(benchmark.__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def code_version() -> dict:
    """Package version, git commit and whether the tracked package files differ from it."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "benchmark") if commit else None
    return {
        "package": benchmark.__version__,
        "git_commit": commit.strip() if commit else None,
        "git_dirty": bool(status.strip()) if status is not None else None,
    }


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:
        return None


def environment(device: torch.device, world_size: int) -> dict:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"cpu ({platform.processor() or platform.machine()})"
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "av": _version("av"),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "device": name,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "world_size": int(world_size),
        "temporal_kernels": TEMPORAL_KERNELS,
        "host_allocator": host_allocator.describe(device.type),
    }
