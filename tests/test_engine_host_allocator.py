"""The CPU allocator is the user's setting: library calls never change it (nor thread counts,
determinism flags or the global random streams), and every record says which allocator the process ran with. Each case runs in
a fresh process: what it checks is process-wide."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest
import torch

from benchmark.engine import host_allocator
from benchmark.engine.environment import environment

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the probe reads glibc's behaviour")

# Allocate, touch and free 64 MiB a few times and count the page faults of three more rounds: with
# glibc's defaults a block that large is a fresh mapping each time (every page faults again); with
# freed memory kept (the GLIBC_TUNABLES the README documents) they would be reused, as the library's
# old mallopt call made them. Measured before and after train(), evaluate() and bench in one process.
PROBE = """
import json, random, resource, sys, numpy, torch
from benchmark.data.synthetic import generate
from benchmark.engine import evaluate, host_allocator, train
from benchmark.engine.speed import BenchSettings, run_bench

def faults_of_touching(mib=64):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(mib * 2**20 // 4).fill_(1.0)
    del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def faults():
    for _ in range(5):
        faults_of_touching()
    return sum(faults_of_touching() for _ in range(3))

def state():
    return [torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
            torch.get_rng_state().tolist(), numpy.random.get_state()[1].tolist(), random.getstate()[1]]

tmp = sys.argv[1]
torch.manual_seed(123); numpy.random.seed(123); random.seed(123)  # the caller's own streams
seen = {"before": faults(), "state_before": state()}
generate("temporal", tmp + "/data", num_train=4, num_val=2, size=32, frames_per_video=4, seed=0, formats=("frames",))
cfg = {"model": "TSN-TinyResNet-f4", "dataset": {"preset": "synthetic-temporal", "root": tmp + "/data"},
       "pretrained": None, "epochs": 1, "batch_size": 2, "workers": 0, "device": "cpu", "deterministic": True,
       "eval": {"video_level": False}}
result = train(cfg, tmp + "/run")
evaluate(tmp + "/run", clips=1, crops=1)
run_bench(["TSN-TinyResNet-f4"], BenchSettings(mode="both", batch=2, size=32, repeats=1, warmup=0, num_classes=4))
seen.update(after=faults(), state_after=state(), described=host_allocator.describe("cpu"),
            recorded=result["environment"]["host_allocator"])
print(json.dumps(seen))
"""


def probe(tmp_path) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True,
                          timeout=300, env=environ)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


KEEP = "glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295"


@glibc
@pytest.mark.slow
def test_train_evaluate_and_bench_leave_the_process_as_they_found_it(tmp_path):
    pages = 3 * 64 * 2**20 // 4096
    default = probe(tmp_path / "default")
    assert default["before"] > pages // 2 and default["after"] > pages // 2  # fresh mappings, before and after
    assert default["state_after"] == default["state_before"]
    assert default["described"] == default["recorded"] == "glibc (defaults)"


def test_describe_names_the_allocator_and_is_none_off_the_cpu(monkeypatch):
    assert host_allocator.describe("cuda") is None
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setattr(host_allocator, "_loaded_allocator", lambda: None)
    expected = "glibc (defaults)" if platform.libc_ver()[0] == "glibc" else None
    if expected:
        assert host_allocator.describe("cpu") == expected
        monkeypatch.setenv("GLIBC_TUNABLES", KEEP)
        assert host_allocator.describe("cpu") == f"glibc (GLIBC_TUNABLES={KEEP})"
    monkeypatch.setattr(host_allocator, "_loaded_allocator", lambda: "jemalloc")
    assert host_allocator.describe("cpu") == "jemalloc"
    assert environment(torch.device("cpu"), 1)["host_allocator"] == "jemalloc"


def test_a_preloaded_allocator_is_found_in_the_process_map():
    """What ``LD_PRELOAD=libjemalloc.so.2`` leaves in /proc/self/maps is what the record reads."""
    line = "7f1c2a000000-7f1c2a0a1000 r-xp 00000000 fe:01 1234 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n"
    libc = "7f1c29e00000-7f1c29e28000 r--p 00000000 fe:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
    assert host_allocator.allocator_in(libc + line) == "jemalloc"
    assert host_allocator.allocator_in(libc.replace("libc.so.6", "libtcmalloc_minimal.so.4")) == "tcmalloc"
    assert host_allocator.allocator_in(libc) is None
    if os.path.exists("/proc/self/maps"):  # this process: glibc's malloc, nothing preloaded by the suite
        assert host_allocator._loaded_allocator() is None
