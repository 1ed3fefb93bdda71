"""`--precision auto` / `--backend auto`: pick the fastest way to run a loaded model on this
machine among eager float32, eager bfloat16 and ONNX Runtime float32.

How: a short probe (one 128² tile, a warm-up then the best of two runs per candidate) on a
fixed synthetic noisy image; a candidate counts only if its output is within the tiling
tolerance of eager float32 (max abs difference ≤ `tiling.TILE_TOLERANCE` on the [0, 1] scale,
the same error tiled inference is allowed), and the fastest such one runs. The decision is
kept as JSON in the cache folder, keyed by the model's weights, this CPU, the torch and
onnxruntime versions and the thread count, so later runs skip the probe. On a GPU the
automatic path is eager PyTorch (float32 unless bf16 was asked for), as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
import torch

from medenoise.data.tiling import TILE_TOLERANCE
from medenoise.inference.options import Backend, InferenceOptions, Precision

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
    from medenoise.inference.onnx import onnx_available

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
    if ONNX32 in names and options.backend is Backend.AUTO and not onnx_available():
        names.remove(ONNX32)
        notes.append("onnxruntime not installed")
    return names, notes


def build(make, module, options: InferenceOptions, name: str):
    """The runner of candidate `name` with `options`' device and threads; `make(module,
    options)` builds a runner for explicit options (runners.make_runner)."""
    precision, backend = CANDIDATES[name]
    return make(module, options.with_(precision=precision, backend=backend))


def auto_runner(module, options: InferenceOptions, make):
    """The runner `options` (with an automatic precision or backend) choose, built by
    `make(module, explicit options)`; its `path` attribute is the `PathChoice`."""
    if torch.device(options.device).type != "cpu":
        precision = Precision.FP32 if options.precision is Precision.AUTO else options.precision
        backend = Backend.TORCH if options.backend is Backend.AUTO else options.backend
        runner = make(module, options.with_(precision=precision, backend=backend))
        runner.path = PathChoice(path_name(runner), notes=["GPU: eager PyTorch"])
        return runner
    names, notes = candidates(options)
    runners, choice = {}, None
    if len(names) > 1:
        key = cache_key(module, names)
        choice = load_choice(key, names)
        if choice is not None:
            try:
                runners[choice.name] = build(make, module, options, choice.name)
            except Exception as exc:  # noqa: BLE001 (e.g. an export that no longer works)
                notes.append(f"cached {choice.name} failed ({_short(exc)}); probed again")
                choice = None
        if choice is None:
            runners = _build_all(make, module, options, names, notes)
            choice = run_probe(module, runners)
            save_choice(key, choice)
    else:
        runners = {names[0]: build(make, module, options, names[0])}
        choice = PathChoice(names[0])
    choice.notes = notes + choice.notes
    runner = runners[choice.name]
    runner.path = choice
    return runner


def _build_all(make, module, options, names: list[str], notes: list[str]) -> dict:
    """{name: runner} of the candidates that build; ONNX export failures become notes."""
    runners = {}
    for name in names:
        try:
            runners[name] = build(make, module, options, name)
        except Exception as exc:  # noqa: BLE001 (the exporter raises many kinds)
            if name == EAGER32:
                raise
            notes.append(f"{name} unavailable ({_short(exc)})")
    return runners


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def probe_input(channels: int, side: int = PROBE_SIDE) -> torch.Tensor:
    """A fixed (1, C, side, side) noisy test image in [0, 1]: smooth shapes and edges plus
    Gaussian noise of σ = 25/255, so each path sees typical network inputs."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    clean = 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)
    clean[(xx - 0.6) ** 2 + (yy - 0.4) ** 2 < 0.05] = 0.9
    noise = np.random.default_rng(0).normal(0, 25 / 255, (channels, side, side))
    return torch.from_numpy(np.clip(clean + noise, 0, 1).astype(np.float32))[None]


@torch.inference_mode()
def run_probe(module, runners: dict, side: int = PROBE_SIDE, repeats=PROBE_REPEATS) -> PathChoice:
    """Time each runner on `probe_input` and choose the fastest whose output is within
    `TILE_TOLERANCE` of eager float32 (the first runner is the reference if that is absent)."""
    x = probe_input(module.model_config.channels, side)
    params = module.noise.fixed_params(1) if module.takes_known_level else None
    outputs = {name: runner.run(x, params).float().cpu() for name, runner in runners.items()}
    figures = {name: {"seconds": float("inf")} for name in runners}
    for _ in range(repeats):  # round robin: a burst of load from elsewhere hits every candidate
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.run(x, params)
            seconds = time.perf_counter() - start
            figures[name]["seconds"] = min(figures[name]["seconds"], seconds)
    reference = outputs.get(EAGER32, next(iter(outputs.values())))
    for name, out in outputs.items():
        figures[name]["diff"] = float((out - reference).abs().max())
    agree = [n for n in figures if figures[n]["diff"] <= TILE_TOLERANCE]
    best = min(agree or [EAGER32], key=lambda n: figures[n]["seconds"])
    return PathChoice(best, figures)


def cache_key(module, names: list[str]) -> str:
    """Hex key of everything the decision depends on: weights, CPU, versions, threads,
    candidates, probe size and tolerance."""
    from medenoise.inference.onnx import model_digest

    parts = {
        "model": model_digest(module),
        "cpu": cpu_signature(),
        "torch": torch.__version__,
        "onnxruntime": _version("onnxruntime"),
        "threads": torch.get_num_threads(),
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
    from medenoise.inference.onnx import cache_dir

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
    device = torch.device(den.device)
    parts = [choice.name if device.type == "cpu" else f"{choice.name} on {device}"]
    if threads is not None and device.type == "cpu":
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
