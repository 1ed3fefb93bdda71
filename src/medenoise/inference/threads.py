"""CPU threads from the cores this process may actually use: its CPU affinity, capped by a
cgroup CPU quota (containers, batch schedulers), unless the user chose a number.

Why: torch sizes its thread pool from the cores it sees, which in a container limited to 2
CPUs of a 64-core host means 64 threads time-sliced on 2 CPUs, far slower than 2 threads.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroup(proc_cgroup: Path, controller: str) -> str:
    """This process's cgroup path for `controller` ('' = the v2 unified line), or '/'."""
    for line in (_read(proc_cgroup) or "").splitlines():
        _, names, path = (line.split(":", 2) + ["", ""])[:3]
        if controller in names.split(",") or (not controller and not names):
            return path or "/"
    return "/"


def _v2_quota(text: str | None) -> float | None:
    """CPUs allowed by a cgroup v2 `cpu.max` line 'QUOTA PERIOD' ('max ...': no limit)."""
    parts = (text or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(quota: str | None, period: str | None) -> float | None:
    """CPUs allowed by cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1: no limit)."""
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """CPUs the cgroup quota allows this process (fractional), or None when unlimited/unknown;
    the tightest of the own cgroup's and the mount root's (v2 first, then v1)."""
    limits = []
    own = _own_cgroup(proc_cgroup, "").lstrip("/")
    for folder in {root / own, root}:
        limits.append(_v2_quota(_read(folder / "cpu.max")))
    own = _own_cgroup(proc_cgroup, "cpu").lstrip("/")
    for name in V1_CPU_DIRS:
        for folder in {root / name / own, root / name}:
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            limits.append(_v1_quota(quota, period))
    found = [v for v in limits if v is not None]
    return min(found) if found else None


def affinity_cores() -> int:
    """Cores this process may be scheduled on (its affinity mask), else the CPU count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def available_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> tuple[int, str]:
    """(cores, why): the affinity's cores, or the cgroup quota rounded up (at least 1) when
    that is fewer."""
    cores = affinity_cores()
    limit = cgroup_cpu_limit(root, proc_cgroup)
    if limit is not None and max(1, math.ceil(limit)) < cores:
        return max(1, math.ceil(limit)), "cgroup quota"
    return cores, "CPU affinity"


def choose_threads(requested: int | None = None, environ=None) -> tuple[int | None, str]:
    """(threads, why): `requested` (--threads) first; None when OMP_NUM_THREADS is set (torch
    already follows it); else the cores actually available."""
    environ = os.environ if environ is None else environ
    if requested is not None:
        return requested, "--threads"
    if environ.get("OMP_NUM_THREADS", "").strip():
        return None, "OMP_NUM_THREADS"
    return available_cores()


@contextlib.contextmanager
def using_threads(requested: int | None = None):
    """While active, torch's intra-op threads are as `choose_threads` says; yields (threads
    in use, why) and restores the previous count on exit."""
    import torch

    previous = torch.get_num_threads()
    threads, why = choose_threads(requested)
    if threads is not None and threads != previous:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads(), why
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
