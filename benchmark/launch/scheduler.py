"""What SLURM says about jobs: states, elapsed times, the node's resources; and cancelling.

One ``squeue`` call for the jobs still known to the controller, one ``sacct`` call for the rest,
however many runs an experiment has.
"""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
from dataclasses import dataclass

from benchmark.errors import ConfigError, StbenchError

#: SLURM states of a job that may still run: never submit the run again while in one of these.
ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "CONFIGURING", "COMPLETING",
          "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "STOPPED")


@dataclass
class JobInfo:
    job_id: str
    state: str  # SLURM's state, e.g. PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT
    elapsed_s: int | None = None
    reason: str | None = None  # squeue's pending reason (Dependency, JobHeldUser, ...)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def _run(cmd: list[str], timeout: float = 60) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StbenchError(f"{cmd[0]} failed: {exc}") from exc
    if out.returncode != 0:
        raise StbenchError(f"{' '.join(cmd[:2])} failed: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout


def available() -> bool:
    """True when SLURM's commands are installed and the controller answers."""
    if not shutil.which("sbatch") or not shutil.which("scontrol"):
        return False
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def parse_elapsed(text: str) -> int | None:
    """SLURM durations: ``M:SS``, ``H:MM:SS``, ``D-HH:MM:SS`` -> seconds."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text.strip())
    if not m:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def query(job_ids: list[str]) -> dict[str, JobInfo]:
    """The scheduler's view of ``job_ids`` (``123`` or array tasks ``123_4``); unknown ids are absent."""
    wanted = {str(j) for j in job_ids}
    if not wanted:
        return {}
    info: dict[str, JobInfo] = {}
    # -r lists each array task on its own line; pending array tasks are not in sacct yet.
    out = _run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i|%T|%M|%r"])
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[0] in wanted:
            info[parts[0]] = JobInfo(parts[0], parts[1], parse_elapsed(parts[2]), parts[3] or None)
    rest = sorted(wanted - set(info))
    # Array tasks that never started have no row of their own: the array's row ("12" or
    # "12_[0-71]") stands for them.
    masters = sorted({j.split("_")[0] for j in rest if "_" in j})
    array_rows: dict[str, JobInfo] = {}
    ids = rest + masters
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        out = _run(["sacct", "-n", "-P", "-X", "-j", ",".join(chunk), "-o", "JobID,State,Elapsed"])
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) != 3:
                continue
            state = parts[1].split()[0] if parts[1] else "UNKNOWN"  # "CANCELLED by 0"
            if parts[0] in wanted and parts[0] not in info:
                info[parts[0]] = JobInfo(parts[0], state, parse_elapsed(parts[2]))
            elif "_" not in parts[0] or parts[0].endswith("]"):
                array_rows[parts[0].split("_")[0]] = JobInfo(parts[0], state, parse_elapsed(parts[2]))
    for job_id in rest:
        master = array_rows.get(job_id.split("_")[0])
        if job_id not in info and "_" in job_id and master is not None:
            info[job_id] = JobInfo(job_id, master.state, master.elapsed_s)
    return info


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        _run(["scancel", *sorted(set(map(str, job_ids)))])


def release(job_ids: list[str]) -> None:
    """Release held jobs (an array's id releases all of its tasks)."""
    if job_ids:
        _run(["scontrol", "release", *sorted(set(map(str, job_ids)))])


def node_limits(partition: str | None) -> tuple[int, int]:
    """(largest CPU count, largest GPU count) of the partition's nodes."""
    cmd = ["sinfo", "-h", "-N", "-o", "%c|%G"] + (["-p", partition] if partition else [])
    cpus, gpus = 0, 0
    lines = [x for x in _run(cmd).splitlines() if x.strip()]
    if not lines:
        raise ConfigError(f"SLURM partition {partition!r} has no nodes (see 'sinfo')")
    for line in lines:
        c, _, gres = line.partition("|")
        cpus = max(cpus, int(c.strip().rstrip("+")))
        for m in re.finditer(r"gpu(?::[\w.-]+)?:(\d+)", gres):
            gpus = max(gpus, int(m.group(1)))
    return cpus, gpus


def check_resources(profile) -> None:
    """Refuse a profile no node can satisfy (SLURM would keep such a job pending forever)."""
    cpus, gpus = node_limits(profile.partition)
    if profile.gpus_per_node > gpus:
        raise ConfigError(
            f"profile {profile.name}: gpus_per_node {profile.gpus_per_node}, but the largest node of "
            f"partition {profile.partition or '(default)'} has {gpus} GPU(s)"
        )
    need_cpus = profile.cpus_per_task * profile.tasks_per_node
    if need_cpus > cpus:
        raise ConfigError(
            f"profile {profile.name}: cpus_per_task {profile.cpus_per_task} x {profile.tasks_per_node} "
            f"task(s) per node = {need_cpus} CPUs, but the largest node of partition "
            f"{profile.partition or '(default)'} has {cpus}"
        )
