"""The automatic path's decision, kept in the cache: which of eager float32, eager bfloat16
and ONNX Runtime float32 runs a model on this machine (`PathChoice`), its key, and the
`--verbose` line that reports it.

Torch-free: the key is built from the model's content digest and the installed versions, so
a run whose decision and export are cached (inference/lean.py) can read it without PyTorch.
The probe that makes the decision is inference/autopath.py's.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata

from medenoise.data.tiling import TILE_TOLERANCE, device_type
from medenoise.inference.options import Backend, InferenceOptions, Precision
from medenoise.inference.ort_session import cache_dir

PROBE_SIDE = 128
PROBE_REPEATS = 2
CACHE_FORMAT = 1
EAGER32, EAGER_BF16, ONNX32 = "eager fp32", "eager bf16", "onnxruntime fp32"
CANDIDATES = {
    EAGER32: (Precision.FP32, Backend.TORCH),
    EAGER_BF16: (Precision.BF16, Backend.TORCH),
    ONNX32: (Precision.FP32, Backend.ONNX),
}


@dataclass
class PathChoice:
    """Which candidate runs, the probe's figures per candidate ({name: {seconds, diff}}),
    whether they came from the cache, and why candidates were left out."""

    name: str
    probe: dict = field(default_factory=dict)
    cached: bool = False
    notes: list[str] = field(default_factory=list)


def path_name(runner) -> str:
    """'eager fp32', 'eager bf16' or 'onnxruntime fp32' for a built runner."""
    if getattr(runner, "onnx_path", None) is not None:
        return ONNX32
    return EAGER_BF16 if getattr(runner, "bf16", False) else EAGER32


def candidates(options: InferenceOptions) -> tuple[list[str], list[str]]:
    """(candidate names, notes on those left out) that `options` allow on the CPU."""
    from medenoise.inference import ort_session

    precisions = (
        [Precision.FP32, Precision.BF16]
        if options.precision is Precision.AUTO
        else [options.precision]
    )
    backends = (
        [Backend.TORCH, Backend.ONNX] if options.backend is Backend.AUTO else [options.backend]
    )
    names = [n for n, pb in CANDIDATES.items() if pb[0] in precisions and pb[1] in backends]
    notes = []
    if ONNX32 in names and options.backend is Backend.AUTO and not ort_session.onnx_available():
        names.remove(ONNX32)
        notes.append("onnxruntime not installed")
    return names, notes


def choice_key(digest: str, names: list[str], threads: int) -> str:
    """Hex key of everything the decision depends on: the model's content `digest`
    (onnx.model_digest), CPU, versions, `threads`, candidates, probe size and tolerance."""
    parts = {
        "model": digest,
        "cpu": cpu_signature(),
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
        "threads": threads,
        "candidates": sorted(names),
        "probe": [PROBE_SIDE, PROBE_REPEATS, TILE_TOLERANCE, CACHE_FORMAT],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def cpu_signature() -> str:
    """Hash of the CPU's model name and feature flags (first processor of /proc/cpuinfo)."""
    found = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "flags", "Features") and key not in found:
                    found[key] = value.strip()
                if not line.strip() and found:
                    break
    except OSError:
        pass
    text = json.dumps(found, sort_keys=True) if found else platform.processor()
    return hashlib.sha256(f"{platform.machine()} {text}".encode()).hexdigest()[:16]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def choice_file(key: str):
    """Where the decision for `key` is kept: `cache_dir()/paths/<key>.json`."""
    return cache_dir() / "paths" / f"{key}.json"


def load_choice(key: str, names: list[str]) -> PathChoice | None:
    """The cached decision for `key`, or None when absent, unreadable or not one of `names`."""
    try:
        data = json.loads(choice_file(key).read_text())
        name, probe = data["choice"], data["probe"]
        ok = data["format"] == CACHE_FORMAT and name in names and set(probe) <= set(names)
        ok = ok and all(float(v["seconds"]) >= 0 and float(v["diff"]) >= 0 for v in probe.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return PathChoice(name, probe, cached=True) if ok else None


def save_choice(key: str, choice: PathChoice) -> None:
    """Write the decision atomically; a cache that cannot be written is skipped silently."""
    path = choice_file(key)
    data = {"format": CACHE_FORMAT, "choice": choice.name, "probe": choice.probe}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass


def describe(den, threads: tuple[int, str] | None = None) -> str:
    """The `--verbose` line of a loaded denoiser: the path that runs, threads, tiling, batch,
    and the probe's figures (and whether they came from the cache)."""
    runner = getattr(den, "runner", None)
    if runner is None:
        return f"path: {den.source} (training-free baseline, CPU)"
    choice = getattr(runner, "path", None) or PathChoice(path_name(runner))
    on_cpu = device_type(den.device) == "cpu"
    parts = [choice.name if on_cpu else f"{choice.name} on {den.device}"]
    if threads is not None and on_cpu:
        parts.append(f"{threads[0]} thread{'s' if threads[0] != 1 else ''} ({threads[1]})")
    tile = den.tile_size()
    parts += [f"tile {tile}", f"overlap {den.overlap}", f"batch {den.plane_batch(tile, tile, 64)}"]
    line = "path: " + ", ".join(parts)
    if choice.probe:
        figures = [_figure(name, fig) for name, fig in choice.probe.items()]
        line += "; probe: " + ", ".join(figures)
        line += " (cached)" if choice.cached else f" ({PROBE_SIDE}² tile, best of {PROBE_REPEATS})"
    if choice.notes:
        line += "; " + "; ".join(choice.notes)
    return line


def _figure(name: str, fig: dict) -> str:
    text = f"{name} {fig['seconds']:.3f} s"
    if name != EAGER32:
        verdict = "" if fig["diff"] <= TILE_TOLERANCE else f" > {TILE_TOLERANCE:g}, rejected"
        text += f" (max diff {fig['diff']:.1e}{verdict})"
    return text
