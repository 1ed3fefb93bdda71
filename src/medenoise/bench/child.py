"""Run `medenoise denoise` in a child process and measure that child alone: wall seconds,
CPU seconds and peak resident memory.

The peak is the child's own VmHWM (/proc/PID/status), read while it runs. Its ru_maxrss
from wait4 is not its own: Linux carries the high-water mark of the memory image the child
replaced at exec, which is the parent's (fork or vfork), so a child of a 2 GiB parent
reports at least 2 GiB. ru_maxrss is the fallback where /proc cannot be read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CLI = ("-c", "from medenoise.cli import main; main()")


def load() -> float:
    """The 1-minute load average (the machine is shared: timings go with it)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def denoise_command(inputs: list[Path], model: str, out: Path, noise: str | None) -> list[str]:
    """The `medenoise denoise` command line for `inputs` with `model` and default settings."""
    cmd = [sys.executable, *CLI, "denoise", *map(str, inputs), "--model", model, "-o", str(out)]
    if noise:
        cmd += ["--noise", noise]
    return cmd + ["--overwrite"]


def _high_water_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM, KiB); 0 when it cannot be read
    (not Linux, or the process is already gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run_child(cmd: list[str], timeout: float | None, log: Path | None = None) -> dict:
    """Run `cmd`; returns wall_s, cpu_s, peak_mib, rc and load, or timed_out after `timeout`
    seconds (the child is killed and its partial figures are kept)."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    load_before = load()
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_child_env())
        timed_out, hwm = False, 0
        while True:
            hwm = max(hwm, _high_water_kib(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - t0 > timeout:
                os.kill(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log is not None:
            out.close()
    return {
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_mib": round((hwm or usage.ru_maxrss) / 1024, 1),  # Linux: KiB
        "rc": proc.returncode,
        "timed_out": timed_out,
        "load": [load_before, load()],
    }


def _child_env() -> dict:
    """This process's environment, with its import path, so the child runs this medenoise."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([src, *paths])
    return env
