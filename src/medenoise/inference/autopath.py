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

import time

import numpy as np
import torch

from medenoise.data.tiling import TILE_TOLERANCE
from medenoise.inference.options import Backend, InferenceOptions, Precision
from medenoise.inference.path_choice import (  # noqa: F401 (describe: re-exported)
    CANDIDATES,
    EAGER32,
    EAGER_BF16,
    ONNX32,
    PROBE_REPEATS,
    PROBE_SIDE,
    PathChoice,
    candidates,
    choice_key,
    describe,
    load_choice,
    path_name,
    save_choice,
)


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
    """`path_choice.choice_key` of a loaded module at torch's current thread count."""
    from medenoise.inference.onnx import model_digest

    return choice_key(model_digest(module), names, torch.get_num_threads())
