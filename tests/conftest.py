import os

import torch

# Two cores here: keep torch from oversubscribing when tests spawn workers.
torch.set_num_threads(int(os.environ.get("STBENCH_TEST_THREADS", "2")))
