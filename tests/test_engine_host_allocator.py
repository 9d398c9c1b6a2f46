"""The CPU runs' heap policy: freed tensors are reused, not faulted in again (each case in a fresh
process: the policy is process-wide)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from benchmark.engine import host_allocator
from benchmark.errors import ConfigError

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the policy acts through glibc's mallopt")

# Allocate, touch and free 64 MiB again and again: once the heap has settled (glibc's aligned
# allocations need a few rounds to find a freed block big enough), the page faults of three more
# rounds say whether freed pages are kept. Then a step under the memory sampler, which must still
# see 64 MiB.
PROBE = """
import json, resource, torch
from benchmark.engine import host_allocator
from benchmark.engine.speed import peak_memory
described = host_allocator.configure(DEVICE)
def faults_of_touching(mib):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(mib * 2**20 // 4).fill_(1.0)
    del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
for _ in range(10):
    faults_of_touching(64)
again = sum(faults_of_touching(64) for _ in range(3))
_, peak = peak_memory(lambda: float(torch.ones(64 * 2**20 // 4)[-1]), "cpu")
print(json.dumps({"described": described, "again": again, "peak": peak}))
"""


def probe(device: str = "cpu", **env) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE.replace("DEVICE", repr(device))], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@glibc
def test_keep_reuses_freed_pages_and_the_memory_sampler_still_sees_a_step():
    kept = probe(STBENCH_HOST_ALLOCATOR="keep")
    assert kept["described"] == "keep (glibc: no mmap, no trim)"
    pages = 64 * 2**20 // 4096
    assert kept["again"] < pages // 50  # 3 x 16384 pages, not faulted in again
    assert 60 * 2**20 <= kept["peak"] <= 200 * 2**20


@glibc
def test_system_and_cuda_runs_leave_glibc_as_it_is():
    pages = 64 * 2**20 // 4096
    for result in (probe(STBENCH_HOST_ALLOCATOR="system"), probe("cuda", STBENCH_HOST_ALLOCATOR="keep")):
        assert result["described"].startswith("system")
        assert result["again"] > 3 * pages // 2  # a fresh mapping each time: every page faults again


def test_a_bad_policy_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv(host_allocator.ENV, "cache")
    with pytest.raises(ConfigError, match="STBENCH_HOST_ALLOCATOR='cache'.*keep, system"):
        host_allocator.configure("cpu")


def test_training_records_the_policy():
    import torch

    from benchmark.engine.environment import environment

    host_allocator.configure("cpu")
    assert environment(torch.device("cpu"), 1)["host_allocator"] == host_allocator.describe()
