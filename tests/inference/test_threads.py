"""Threads from the cores actually available: affinity, capped by a cgroup v1/v2 CPU quota
(read from fake cgroup files), unless --threads or OMP_NUM_THREADS say otherwise."""

from __future__ import annotations

import pytest
import torch

from medenoise.inference import threads
from medenoise.inference.threads import (
    available_cores,
    cgroup_cpu_limit,
    choose_threads,
    using_threads,
)


def _tree(tmp_path, files: dict[str, str], proc: str = "0::/\n"):
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    root.mkdir(exist_ok=True)
    (tmp_path / "proc_cgroup").write_text(proc)
    return root, tmp_path / "proc_cgroup"


@pytest.mark.parametrize(
    "files, proc, expected",
    [
        ({"cpu.max": "250000 100000\n"}, "0::/\n", 2.5),
        ({"cpu.max": "max 100000\n"}, "0::/\n", None),
        ({"job/cpu.max": "50000 100000\n", "cpu.max": "max 100000"}, "0::/job\n", 0.5),
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, "", 3.0),
        (
            {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            "4:cpu,cpuacct:/\n",
            None,
        ),
        (
            {"cpu/a/cpu.cfs_quota_us": "150000", "cpu/a/cpu.cfs_period_us": "100000"},
            "3:cpu,cpuacct:/a\n",
            1.5,
        ),
        ({"cpu.max": "garbage"}, "0::/\n", None),
        ({}, "", None),
    ],
)
def test_cgroup_quota_parsing(tmp_path, files, proc, expected):
    root, proc_file = _tree(tmp_path, files, proc)
    assert cgroup_cpu_limit(root, proc_file) == expected


def test_quota_rounds_up_and_never_exceeds_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "affinity_cores", lambda: 8)
    root, proc = _tree(tmp_path, {"cpu.max": "150000 100000"})
    assert available_cores(root, proc) == (2, "cgroup quota")
    (root / "cpu.max").write_text("10000 100000")  # a tenth of a CPU: still one thread
    assert available_cores(root, proc) == (1, "cgroup quota")
    (root / "cpu.max").write_text("3200000 100000")  # 32 CPUs of quota, 8 in the mask
    assert available_cores(root, proc) == (8, "CPU affinity")


def test_threads_option_then_omp_then_cores(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: (3, "cgroup quota"))
    assert choose_threads(5, {"OMP_NUM_THREADS": "1"}) == (5, "--threads")
    assert choose_threads(None, {"OMP_NUM_THREADS": "1"}) == (None, "OMP_NUM_THREADS")
    assert choose_threads(None, {}) == (3, "cgroup quota")


def test_using_threads_sets_and_restores_torch(monkeypatch):
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    with using_threads(wanted) as (n, why):
        assert (n, why) == (wanted, "--threads") and torch.get_num_threads() == wanted
    assert torch.get_num_threads() == before
