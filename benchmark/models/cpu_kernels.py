"""One-pass CPU kernels of TAM and TSM (``kernels/temporal.c``), built on first use with the system
C compiler and called through ctypes.

Why: on the CPU these operators are memory-bound, and each eager tap, sum and ReLU is its own pass
over the tensor (TAM: 14 forward, 17 backward, in :mod:`benchmark.models.temporal_ops`). TAM's
kernel reads the three neighbouring frames and writes the result once (2 passes forward); its
backward reads the gradient, the output and the input once and writes the input gradient once,
summing the weight gradient on the way (4 passes, no batched matrix product). TSM's shift is one
call of row copies, and its backward can shift the incoming gradient in place (a quarter of the
channels move); for blocks that hold their input shifted (:mod:`benchmark.models.held_shift`), a
residual add that reads the input where the shift left it, and the input gradient's shift fused
with the identity's gradient. TorchInductor fuses the same expressions too; in a profiled
TAM-ResNet50 training step (batch 2, 112 px) its TAM took 41 ms against these kernels' 32 ms (the
eager kernels: 78 ms), and it needs a C compiler as well.

The C file is compiled with ``-O3 -march=native -ffp-contract=off -fopenmp`` into a cache folder
(``$STBENCH_CACHE``, else ``$XDG_CACHE_HOME/stbench`` or ``~/.cache/stbench``), named by a hash of
the source, the compiler and this CPU's instruction-set flags (a home folder shared by cluster
nodes of different CPUs gets one build per CPU kind), written atomically so that concurrent
processes can build at once. It links libgomp by soname, so in this process it shares PyTorch's
OpenMP thread pool. No compiler, or a failed build: a warning once, and the eager kernels run.
``STBENCH_FUSED_OPS=off`` always runs the eager kernels; ``on`` makes a failed build an error.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

from benchmark.errors import ConfigError

ENV = "STBENCH_FUSED_OPS"
MODES = ("auto", "on", "off")
SOURCE = Path(__file__).with_name("kernels") / "temporal.c"
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp-simd", "-std=c11", "-fPIC", "-shared"]
OPENMP = ["-fopenmp"]  # tried first; a compiler without OpenMP builds the single-threaded kernel
DTYPES = {torch.float32: 0, torch.float64: 1}
log = logging.getLogger("benchmark.models")
_LOCK = threading.Lock()
_STATE: dict = {"library": None, "tried": False}


def mode() -> str:
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ConfigError(f"environment variable {ENV}={value!r}: expected one of {', '.join(MODES)}")
    return value


def cache_dir() -> Path:
    if os.environ.get("STBENCH_CACHE"):
        return Path(os.environ["STBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stbench"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _build(compiler: str) -> Path:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256("\n".join([SOURCE.read_text(), compiler, version, " ".join(FLAGS + OPENMP),
                                    platform.machine(), _cpu_flags()]).encode()).hexdigest()[:16]
    target = cache_dir() / f"temporal-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=target.stem + ".", suffix=".part")
    os.close(fd)
    try:
        for extra in (OPENMP, []):
            done = subprocess.run([compiler, *FLAGS, *extra, str(SOURCE), "-o", partial], capture_output=True,
                                  text=True, timeout=300)
            if done.returncode == 0:
                break
        else:
            raise RuntimeError(f"{Path(compiler).name} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        os.replace(partial, target)  # atomic: a concurrent process sees no half-written library
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def _load() -> ctypes.CDLL:
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found (cc, gcc or clang; or set CC)")
    library = ctypes.CDLL(str(_build(compiler)))
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    library.tam_forward.argtypes = [ctypes.c_int, ptr, ptr, ptr, i64, i64, i64, i64, ctypes.c_int]
    library.tam_backward.argtypes = [ctypes.c_int, ptr, ptr, ptr, ptr, ptr, ptr, i64, i64, i64, i64,
                                     ctypes.c_int, ctypes.c_int]
    library.tsm_shift.argtypes = [ptr, ptr, i64, i64, i64, i64, i64, ctypes.c_int, i64, ctypes.c_int]
    library.tsm_shift_in_place.argtypes = [ptr, i64, i64, i64, i64, i64, ctypes.c_int, i64, ctypes.c_int]
    library.tsm_shift_keeping.argtypes = [ptr, ptr, i64, i64, i64, i64, i64, ctypes.c_int, i64, ctypes.c_int]
    library.tsm_add_unshifted.argtypes = [ctypes.c_int, ptr, ptr, ptr, i64, i64, i64, i64, i64, ctypes.c_int]
    library.tsm_shift_back_add.argtypes = [ctypes.c_int, ptr, ptr, i64, i64, i64, i64, i64, ctypes.c_int]
    return library


def library() -> ctypes.CDLL | None:
    """The built kernel, or None (eager kernels): built once per process."""
    if _STATE["tried"]:  # the hot path: every TAM/TSM call asks, only the first builds
        return _STATE["library"]
    with _LOCK:
        if not _STATE["tried"]:
            _STATE["tried"] = True
            try:
                _STATE["library"] = _load()
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                if mode() == "on":
                    raise RuntimeError(f"{ENV}=on but the CPU kernels of TAM and TSM cannot be built: {exc}") from exc
                log.warning("the one-pass CPU kernels of TAM and TSM are unavailable (%s); using the eager "
                            "kernels", exc)
        return _STATE["library"]


def describe(device_type: str = "cpu") -> str:
    """Which TAM/TSM kernels run on ``device_type`` in this process, for result records."""
    if device_type != "cpu":
        return "eager"
    if mode() == "off":
        return f"eager ({ENV}=off)"
    return "c" if library() is not None else "eager (the C kernels could not be built)"


def usable(clips: torch.Tensor, weight: torch.Tensor | None = None) -> bool:
    """Whether the kernels run on these clips (TAM: and weight; else: the eager kernels)."""
    if weight is not None and (clips.dtype not in DTYPES or weight.dtype != clips.dtype):
        return False
    if (mode() == "off" or clips.device.type != "cpu" or not clips.is_contiguous() or clips.dim() < 3
            or torch.compiler.is_compiling()):
        return False  # under torch.compile the eager kernels are what it traces and fuses
    return library() is not None


def _sizes(clips: torch.Tensor) -> tuple[int, int, int, int]:
    batch, frames, channels, *pixels = clips.shape
    return batch, frames, channels, math.prod(pixels)


def tam_forward(clips: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``ReLU(w₋₁x_{t−1} + w₀x_t + w₊₁x_{t+1})`` of contiguous CPU clips ``(B, T, C, ...)``."""
    out = torch.empty_like(clips)
    weight = weight.contiguous()
    _check(library().tam_forward(DTYPES[clips.dtype], clips.data_ptr(), weight.data_ptr(), out.data_ptr(),
                                 *_sizes(clips), torch.get_num_threads()))
    return out


def tam_backward(grad: torch.Tensor, clips: torch.Tensor, weight: torch.Tensor, out: torch.Tensor,
             need_input_grad: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(input gradient or None, weight gradient ``(C, 3)``) from the output's gradient."""
    grad = grad.contiguous()
    weight = weight.contiguous()
    grad_clips = torch.empty_like(clips) if need_input_grad else None
    grad_weight = torch.empty_like(weight)
    _check(library().tam_backward(DTYPES[clips.dtype], clips.data_ptr(), weight.data_ptr(), grad.data_ptr(),
                                  out.data_ptr(), grad_clips.data_ptr() if need_input_grad else None,
                                  grad_weight.data_ptr(), *_sizes(clips), int(need_input_grad),
                                  torch.get_num_threads()))
    return grad_clips, grad_weight


def tsm_shift(clips: torch.Tensor, fold: int, back: bool) -> torch.Tensor:
    """``temporal_ops._shift`` of contiguous CPU clips, in one call."""
    out = torch.empty_like(clips)
    library().tsm_shift(clips.data_ptr(), out.data_ptr(), *_sizes(clips), fold, int(back), clips.element_size(),
                        torch.get_num_threads())
    return out


def tsm_shift_in_place(clips: torch.Tensor, fold: int, back: bool) -> torch.Tensor:
    """``temporal_ops._shift(clips, fold, back)`` written into contiguous ``clips`` itself."""
    library().tsm_shift_in_place(clips.data_ptr(), *_sizes(clips), fold, int(back), clips.element_size(),
                                 torch.get_num_threads())
    return clips


def tsm_shift_keeping(clips: torch.Tensor, kept: torch.Tensor, fold: int, restore: bool) -> None:
    """Shift contiguous ``clips`` in place keeping the dropped rows in ``kept`` ``(B, 2, fold, ...)``,
    or (``restore``) undo that: see ``temporal_ops._shifted_in_place``."""
    library().tsm_shift_keeping(clips.data_ptr(), kept.data_ptr(), *_sizes(clips), fold, int(restore),
                                clips.element_size(), torch.get_num_threads())


def tsm_add_unshifted(out: torch.Tensor, shifted: torch.Tensor, kept: torch.Tensor, fold: int) -> torch.Tensor:
    """``out += x`` in place, for contiguous clips ``x`` held shifted by :func:`tsm_shift_keeping`
    (``shifted``, with its ``kept`` rows): x is read where the shift left it."""
    library().tsm_add_unshifted(DTYPES[out.dtype], out.data_ptr(), shifted.data_ptr(), kept.data_ptr(),
                                *_sizes(shifted), fold, torch.get_num_threads())
    return out


def tsm_shift_back_add(grad: torch.Tensor, grad_identity: torch.Tensor, fold: int) -> torch.Tensor:
    """``grad := shift^T(grad) + grad_identity`` in place (contiguous clips of one float dtype)."""
    library().tsm_shift_back_add(DTYPES[grad.dtype], grad.data_ptr(), grad_identity.data_ptr(), *_sizes(grad), fold,
                                 torch.get_num_threads())
    return grad


def _check(status: int) -> None:
    if status != 0:
        raise MemoryError("TAM's CPU kernel could not allocate its per-thread weight-gradient sums")
