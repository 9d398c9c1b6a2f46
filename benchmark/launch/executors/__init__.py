"""The built-in executors, one file each (``local``, ``slurm``); see :mod:`benchmark.launch.executor`."""
