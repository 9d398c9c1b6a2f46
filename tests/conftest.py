import os
import sys
from pathlib import Path

import torch

# Two cores here: keep torch from oversubscribing when tests spawn workers.
torch.set_num_threads(int(os.environ.get("STBENCH_TEST_THREADS", "2")))

# The test-only backbone TinyResNet (tests/plugins/stbench_tiny.py), registered through the plugin
# mechanism users have, in this process and in every child it starts (submitit, torchrun, SLURM).
PLUGIN_DIR = Path(__file__).parent / "plugins"
TINY = "TinyResNet"
sys.path.insert(0, str(PLUGIN_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))
os.environ["STBENCH_PLUGINS"] = ",".join(filter(None, ["stbench_tiny", os.environ.get("STBENCH_PLUGINS")]))
