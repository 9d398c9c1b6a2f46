"""How a CPU run's process heap treats freed tensors (glibc's ``malloc``, set through ``mallopt``).

PyTorch's CPU allocator is plain ``malloc``/``free``: no cache. With glibc's defaults, a block
above the mmap threshold (at most 32 MiB) is a fresh mapping, and freed memory at the top of the heap
is handed back to the system, so every training step page-faults its large activations in again
(one fault and one zeroed page per 4 KiB). How often depends on each model's allocation pattern,
not its arithmetic: TSN-ResNet50 (batch 2, 8 frames, 224 px) ran 6 % slower than with freed memory
kept, TAM-ResNet50 at 0.72x TSN's speed instead of 0.93x. ``keep`` (the default for CPU runs)
serves every block from the heap and never trims it, as CUDA's caching allocator keeps freed
blocks: each step reuses the last step's pages (the resident size stays at the peak the run
reached, about 6 % above the default's there). ``STBENCH_HOST_ALLOCATOR=system`` keeps glibc's
defaults. Elsewhere than glibc, nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading

from benchmark.errors import ConfigError

ENV = "STBENCH_HOST_ALLOCATOR"
POLICIES = ("keep", "system")
# glibc's mallopt parameters and the defaults the memory sampler puts back
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
DEFAULT_MMAP_MAX = 65536
NEVER_TRIM = 2**31 - 1  # bytes of free heap top before glibc trims (an int): never, in practice
_LOCK = threading.Lock()
_STATE = {"applied": False}


def policy() -> str:
    value = os.environ.get(ENV, "keep").strip().lower() or "keep"
    if value not in POLICIES:
        raise ConfigError(f"environment variable {ENV}={value!r}: expected one of {', '.join(POLICIES)}")
    return value


def _libc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def configure(device_type: str = "cpu") -> str:
    """Apply the policy for a run on ``device_type`` (CPU only: a CUDA run's tensors are not in this
    heap) and say what this process's heap does now. Applied again after the memory sampler's settings."""
    chosen = policy()
    with _LOCK:
        libc = _libc() if device_type == "cpu" and chosen == "keep" else None
        if libc is not None and libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1:
            _STATE["applied"] = True
    return describe()


def describe(device_type: str = "cpu") -> str | None:
    """What training (and timed bench steps) on ``device_type`` in this process ran with (None off
    the CPU: its tensors are not in this heap)."""
    if device_type != "cpu":
        return None
    if _STATE["applied"]:
        return "keep (glibc: no mmap, no trim)"
    if _libc() is None:
        return "system (not glibc: unchanged)"
    return f"system ({ENV}=system)" if policy() == "system" else "system"


def for_measuring_memory(mmap_threshold: int) -> None:
    """Before a step whose peak resident growth is measured (the CPU memory sampler): hand the
    heap's free pages back (what ``keep`` held would otherwise serve the step unseen) and make
    every block above ``mmap_threshold`` bytes a fresh mapping, returned when freed. Steps under
    it are not timed as training runs; :func:`configure` restores the policy."""
    libc = _libc()
    if libc is None:
        return
    with _LOCK:
        libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
        libc.malloc_trim(0)
