import os
import sys
from pathlib import Path

import pytest
import torch

# Keep torch from oversubscribing the cores: each pytest-xdist worker gets its share.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(int(os.environ.get("STBENCH_TEST_THREADS", max(1, (os.cpu_count() or 2) // _WORKERS))))

# The test-only backbone TinyResNet (tests/plugins/stbench_tiny.py), registered through the plugin
# mechanism users have, in this process and in every child it starts (submitit, torchrun, SLURM).
PLUGIN_DIR = Path(__file__).parent / "plugins"
TINY = "TinyResNet"
sys.path.insert(0, str(PLUGIN_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))
os.environ["STBENCH_PLUGINS"] = ",".join(filter(None, ["stbench_tiny", os.environ.get("STBENCH_PLUGINS")]))


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core, at most 4 (each holds torch and spawns jobs of its own)."""
    return max(1, min(4, os.cpu_count() or 1))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads xdist_group into the node ids
def pytest_collection_modifyitems(items):
    """Under ``pytest -n N --dist loadgroup``, the tests that share the one local SLURM cluster run
    one after another on one worker. The SLURM group and the slow tests go first (stable order
    otherwise): xdist hands out work in collection order, and a minute-long test handed out last
    would leave the other workers idle at the end."""
    for item in items:
        if item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.xdist_group("slurm"))
    items.sort(key=lambda item: (not item.get_closest_marker("slurm"), not item.get_closest_marker("slow")))
