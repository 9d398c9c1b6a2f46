"""Which allocator serves a CPU run's tensors: recorded, never changed.

PyTorch's CPU allocator is plain ``malloc``/``free`` without a cache, so the C library's heap policy
shows in CPU training speed: with glibc's defaults a block above the mmap threshold is a fresh
mapping and a freed heap top is handed back, so every step page-faults its large activations in
again. That is the user's choice, made for the whole process before it starts, as PyTorch
documents it: ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295``
(glibc keeps freed memory), or jemalloc/tcmalloc through ``LD_PRELOAD`` (README, "CPU allocator",
has the measured effect). A library call must not change it, so this module only says which one
ran (``environment.host_allocator`` in every record) and, for the bench's CPU memory figure, hands
free heap pages back once (:func:`trim`, which changes no setting).
"""

from __future__ import annotations

import ctypes
import os
import platform

# shared objects whose presence in this process means another malloc replaced glibc's
OTHER_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")


def allocator_in(maps: str) -> str | None:
    """The replacement malloc named by a process's memory map (``/proc/PID/maps``), if any."""
    return next((name for name in OTHER_ALLOCATORS if f"/lib{name}" in maps), None)


def _loaded_allocator() -> str | None:
    try:
        with open("/proc/self/maps") as f:
            return allocator_in(f.read())
    except OSError:
        return None


def describe(device_type: str = "cpu") -> str | None:
    """The allocator this process's CPU tensors come from (None off the CPU: CUDA tensors are not
    in this heap): ``jemalloc``/``tcmalloc``/``mimalloc`` when loaded, else the C library's, with
    the ``GLIBC_TUNABLES`` it was started with."""
    if device_type != "cpu":
        return None
    other = _loaded_allocator()
    if other is not None:
        return other
    libc = platform.libc_ver()[0] or platform.system().lower()
    tunables = os.environ.get("GLIBC_TUNABLES", "").strip()
    return f"{libc} (GLIBC_TUNABLES={tunables})" if libc == "glibc" and tunables else f"{libc} (defaults)"


def trim() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``; nothing elsewhere), so
    that a resident-memory figure measured next sees a step's own allocations."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or _loaded_allocator():
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
