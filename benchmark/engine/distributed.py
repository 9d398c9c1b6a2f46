"""DDP set-up from the environment: ``torchrun`` (RANK/WORLD_SIZE/...) or a SLURM job via submitit.

NCCL on GPU, gloo on CPU. With neither environment, the run is a single process and every helper
here degrades to a no-op, so the training loop has one code path.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger("benchmark.engine")


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def ddp_env_from_slurm(one_gpu_per_task: bool = False) -> None:
    """Inside a multi-task SLURM job without torchrun (``srun``, or a submitit job with several
    tasks), export the ``env://`` variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) from
    SLURM's; submitit's SLURM environment parses the node list. The one place that does this.
    Rendezvous is at the first node of ``SLURM_JOB_NODELIST``, by name: node names resolve on every
    node of a cluster (the local 2-node test cluster maps its names to 127.0.0.1 in /etc/hosts).

    ``one_gpu_per_task`` (a job's entry point, before CUDA is initialised) also narrows
    ``CUDA_VISIBLE_DEVICES`` to this task's GPU, so a task never touches its neighbours' GPUs.
    """
    if "RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    from submitit.slurm.slurm import SlurmJobEnvironment

    job = SlurmJobEnvironment()
    # A port from this job's own id (an array task has its own SLURM_JOB_ID), the same on every
    # task, so that two jobs on one node do not collide.
    job_number = os.environ.get("SLURM_JOB_ID", "")
    port = 20000 + int(job_number) % 40000 if job_number.isdigit() else 29500
    os.environ.setdefault("MASTER_ADDR", job.hostnames[0])
    os.environ.setdefault("MASTER_PORT", str(port))
    os.environ["RANK"] = str(job.global_rank)
    os.environ["WORLD_SIZE"] = str(job.num_tasks)
    os.environ["LOCAL_RANK"] = str(job.local_rank)
    os.environ["LOCAL_WORLD_SIZE"] = str(job.num_tasks // max(1, job.num_nodes))
    if one_gpu_per_task:
        visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
        mine = visible[job.local_rank] if job.local_rank < len(visible) else str(job.local_rank)
        os.environ["CUDA_VISIBLE_DEVICES"] = mine


def cuda_index() -> int:
    """This process's GPU: LOCAL_RANK among the visible devices. A job narrowed to its own GPU
    (``ddp_env_from_slurm(one_gpu_per_task=True)``) has one visible device, hence the modulo."""
    return int(os.environ.get("LOCAL_RANK", "0")) % max(1, torch.cuda.device_count())


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group described by the environment (if any)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    ddp_env_from_slurm()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(cuda_index())
    log.info("joining process group: rank %d of %d (%s) at %s:%s", rank, world, backend,
             os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT"))
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(minutes=30))
    return DistInfo(rank, world, local_rank, initialized_here=True)


def shutdown(info: DistInfo) -> None:
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device_type: str) -> Iterator[DistInfo]:
    """The process group for one train/test call, left when it ends. When the body completes, the
    ranks first wait for each other: a rank that tears its connections down while a peer's last
    message is still on its way can make gloo abort that peer at exit ("terminate called without
    an active exception", seen once under load). After an error nobody waits (a failed rank must
    not hang on the others)."""
    info = init_distributed(device_type)
    try:
        yield info
        barrier(info)
    finally:
        shutdown(info)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    if not info.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, info: DistInfo):
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_buffers(model: torch.nn.Module, info: DistInfo) -> None:
    """Give every process rank 0's buffers (BatchNorm running statistics drift apart per process in
    DDP training), so evaluation on any shard uses the model that rank 0 checkpoints."""
    if not info.distributed:
        return
    with torch.no_grad():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
