"""The machine a benchmark ran on, and how to time code and its peak memory there."""

from __future__ import annotations

import os
import platform
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIB = 2**20


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def describe(device: torch.device) -> dict:
    """Machine facts stored with every result, so numbers from two machines are not mixed."""
    import medenoise

    info = {
        "cpu": cpu_model(),
        "cores": available_cores(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "medenoise": getattr(medenoise, "__version__", "dev"),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def machine_slug(info: dict) -> str:
    """Short file-name-safe machine name: the GPU's, else `cpu<cores>c`."""
    name = info.get("gpu") or f"cpu{info['cores']}c"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def best_seconds(
    fn: Callable[[], object], repeats: int = 3, warmup: int = 1, device: torch.device | None = None
) -> float:
    """Fastest of `repeats` timed calls after `warmup` untimed ones (min: least disturbed)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(max(1, repeats)):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_bytes() -> int | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


class PeakMemory:
    """Peak memory above the starting level while the block runs, in MiB.

    CUDA: torch's allocator peak. CPU: resident set size sampled every 2 ms by a thread
    (Linux), which sees every allocator (torch, numpy, BM3D's C code); None elsewhere.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.mib: float | None = None
        self._stop = threading.Event()
        self._peak = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._base = _rss_bytes()
        if self._base is not None:
            self._peak = self._base
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = _rss_bytes()
            if rss is not None and rss > self._peak:
                self._peak = rss
            self._stop.wait(0.002)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
            self.mib = (peak - self._base) / MIB
        elif self._base is not None:
            self._stop.set()
            self._thread.join()
            rss = _rss_bytes() or 0
            self.mib = (max(self._peak, rss) - self._base) / MIB
