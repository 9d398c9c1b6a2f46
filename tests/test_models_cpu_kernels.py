"""Building and loading the C kernels of TAM and TSM: the cache, concurrent builds, and the fallback
to the eager kernels when there is no compiler (their results are in test_models_fast_ops.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.models import cpu_kernels
from benchmark.models.temporal_ops import temporal_aggregation

needs_compiler = pytest.mark.skipif(cpu_kernels._compiler() is None, reason="no C compiler here")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state that has not tried to build yet, and an empty cache folder."""
    monkeypatch.setitem(cpu_kernels._STATE, "tried", False)
    monkeypatch.setitem(cpu_kernels._STATE, "library", None)
    monkeypatch.setenv("STBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(cpu_kernels.ENV, raising=False)
    return tmp_path / "cache"


def _tam_result():
    gen = torch.Generator().manual_seed(0)
    clips, weight = torch.randn(2, 3, 4, 2, 2, generator=gen), torch.randn(4, 3, generator=gen)
    return temporal_aggregation(clips, weight)


def test_no_compiler_warns_once_and_runs_the_eager_kernels(fresh, monkeypatch, caplog):
    monkeypatch.setenv(cpu_kernels.ENV, "off")
    expected = _tam_result()
    monkeypatch.delenv(cpu_kernels.ENV)
    monkeypatch.setattr(cpu_kernels, "_compiler", lambda: None)
    with caplog.at_level(logging.WARNING, logger="benchmark.models"):
        assert not cpu_kernels.usable(torch.zeros(1, 2, 3, 4))
        assert not cpu_kernels.usable(torch.zeros(1, 2, 3, 4))
        torch.testing.assert_close(_tam_result(), expected, rtol=0, atol=0)
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "no C compiler" in warnings[0].getMessage()
    assert not fresh.exists()


def test_on_mode_makes_a_failed_build_an_error(fresh, monkeypatch):
    monkeypatch.setattr(cpu_kernels, "_compiler", lambda: None)
    monkeypatch.setenv(cpu_kernels.ENV, "on")
    with pytest.raises(RuntimeError, match="STBENCH_FUSED_OPS=on.*no C compiler"):
        cpu_kernels.library()


def test_off_mode_never_builds(fresh, monkeypatch):
    monkeypatch.setenv(cpu_kernels.ENV, "off")
    assert not cpu_kernels.usable(torch.zeros(1, 2, 3, 4))
    assert not cpu_kernels._STATE["tried"] and not fresh.exists()


def test_bad_mode_names_the_variable(monkeypatch):
    monkeypatch.setenv(cpu_kernels.ENV, "fast")
    with pytest.raises(ConfigError, match="environment variable STBENCH_FUSED_OPS='fast': expected one of auto, on, off"):
        cpu_kernels.usable(torch.zeros(1, 2, 3, 4))


def test_a_failing_compiler_falls_back(fresh, monkeypatch, tmp_path, caplog):
    broken = tmp_path / "cc-broken"
    broken.write_text("#!/bin/sh\necho 'error: this compiler is broken' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(cpu_kernels, "_compiler", lambda: str(broken))
    with caplog.at_level(logging.WARNING, logger="benchmark.models"):
        assert cpu_kernels.library() is None
    assert "cc-broken failed: error: this compiler is broken" in caplog.text
    assert not list(fresh.glob("*"))  # the partial output was removed


@needs_compiler
def test_build_is_cached_and_keyed_by_cpu(fresh, monkeypatch):
    first = cpu_kernels._build(cpu_kernels._compiler())
    assert first.parent == fresh and first.exists() and not list(fresh.glob("*.part"))
    stamp = first.stat().st_mtime_ns
    assert cpu_kernels._build(cpu_kernels._compiler()) == first and first.stat().st_mtime_ns == stamp
    monkeypatch.setattr(cpu_kernels, "_cpu_flags", lambda: "flags : another cpu")
    assert cpu_kernels._build(cpu_kernels._compiler()) != first  # another CPU kind: its own build


@needs_compiler
def test_concurrent_first_builds_agree(tmp_path):
    """Three processes building into one empty cache at once all load a working kernel."""
    env = dict(os.environ, STBENCH_CACHE=str(tmp_path / "cache"), STBENCH_FUSED_OPS="on")
    code = ("import torch; from benchmark.models import cpu_kernels as k; torch.manual_seed(0); "
            "x = torch.randn(2, 3, 4, 5); assert k.usable(x, torch.randn(4, 3)); "
            "print(k.tam_forward(x, torch.ones(4, 3)).sum().item())")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert len({out for out, _ in results}) == 1
    built = list((tmp_path / "cache").iterdir())
    assert len(built) == 1 and built[0].suffix == ".so"
