"""ONNX Runtime sessions for one exported denoise graph, and the cache folder exports live in.

Torch-free on purpose: a run whose export is already cached (inference/lean.py) needs only
this module, numpy and onnxruntime, and never pays PyTorch's import.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# Passes up to this many pixels run in a session with ONNX Runtime's memory arena: it keeps
# its buffers between calls, which makes a 512² pass about a fifth faster, but holds about
# twice the pass's activations for the session's life. Larger passes (tiles of big images)
# run without it, so peak memory stays bounded on any image size.
ARENA_MAX_PIXELS = 640 * 640


def onnx_available() -> bool:
    """True when onnxruntime (to run) imports and onnxscript (to export) is installed.
    onnxscript is only looked up: importing it costs seconds, and a run whose export is
    already cached never needs it."""
    import importlib.util

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return importlib.util.find_spec("onnxscript") is not None


def cache_dir() -> Path:
    """$MEDENOISE_CACHE, else $XDG_CACHE_HOME/medenoise, else ~/.cache/medenoise."""
    root = os.environ.get("MEDENOISE_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "medenoise"


class OrtSessions:
    """An .onnx denoise graph in ONNX Runtime on the CPU with `threads` intra-op threads:
    one session with the memory arena (small passes) and one without (large), built on use."""

    def __init__(self, onnx_path: str | Path, threads: int, takes_params: bool):
        self.onnx_path = Path(onnx_path)
        self.threads = threads
        self.takes_params = takes_params
        self.sessions: dict[bool, object] = {}
        self.session_for(0)  # a broken graph fails here, not on the first image

    def session_for(self, pixels: int):
        """The session for a pass of `pixels`: with the memory arena up to `ARENA_MAX_PIXELS`."""
        import onnxruntime as ort

        arena = pixels <= ARENA_MAX_PIXELS
        if arena not in self.sessions:
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.log_severity_level = 3  # errors only: ORT warns about unused initialisers
            options.enable_cpu_mem_arena = arena
            self.sessions[arena] = ort.InferenceSession(
                str(self.onnx_path), options, providers=["CPUExecutionProvider"]
            )
        return self.sessions[arena]

    def run(self, x: np.ndarray, params: np.ndarray | None = None) -> np.ndarray:
        """The graph's clean estimate of one padded (1, C, S, S) float32 image."""
        feed = {"noisy": np.ascontiguousarray(x, np.float32)}
        if self.takes_params:
            feed["params"] = np.ascontiguousarray(params, np.float32)
        (out,) = self.session_for(x.shape[-2] * x.shape[-1]).run(None, feed)
        return out
