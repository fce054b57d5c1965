"""How many CPUs this process may use, and how many torch threads each training process gets.

torch counts the machine's cores; in a container or under `taskset` the process may use far
fewer (its CPU affinity, and a cgroup CPU quota such as `docker --cpus=2`). Threads beyond
those thrash: on a shared 2-core machine a one-worker search ran 8-23x slower with torch's
default than with one thread. `trainer.threads` sets them; null: OMP_NUM_THREADS if set, else
the available CPUs divided among the processes that train at once.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup quota allows (v2 `cpu.max`, else v1 `cpu.cfs_quota_us`), None if none."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """CPUs this process may run on: its affinity, capped by the cgroup quota (rounded up)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def threads_per_process(requested: int | None, processes: int = 1) -> int:
    """`requested` threads; else OMP_NUM_THREADS when the environment sets it (the user's, or a
    scheduler's, choice); else the available CPUs shared among `processes` training at once."""
    if requested is not None:
        return int(requested)
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, available_cpus() // max(1, processes))
