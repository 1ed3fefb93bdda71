"""Quality at equal wall-clock training time: a speed-up that costs PSNR shows up here.

Each method trains through the real `medenoise train` path (Lightning, schedule, patch
sampler) for the number of steps its measured training speed fits into the budget, then
every model and BM3D (σ given) denoise the same fixed crops (Gaussian σ=25, seed 0).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

SIGMA = 25.0


def crop_set(folder: Path | None, count: int, crop: int) -> list[tuple[str, np.ndarray]]:
    """Centre crops (gray float32 (crop, crop, 1)) of the first `count` images of `folder`;
    scikit-image's photos when no folder is given (always available, no download)."""
    from medenoise.data.io import is_image_file
    from medenoise.data.patches import load_planes

    crops = []
    if folder is not None:
        for path in sorted(p for p in Path(folder).rglob("*") if is_image_file(p)):
            crops.append((path.name, load_planes([path], 1)[0][..., 0]))  # RGB: mean of R, G, B
            if len(crops) == count:
                break
    else:
        from skimage import data

        for name in ("camera", "moon", "coins", "page", "text", "grass")[:count]:
            crops.append((name, getattr(data, name)().astype(np.float32) / 255.0))
    out = []
    for name, plane in crops:
        h, w = plane.shape
        s = min(crop, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out.append((name, np.ascontiguousarray(plane[y : y + s, x : x + s, None], np.float32)))
    return out


def noisy_samples(crops: list[tuple[str, np.ndarray]], seed: int = 0) -> list:
    """The crops with Gaussian σ=25 noise; image i's noise from generator (seed, i)."""
    from medenoise.eval.samples import Sample

    out = []
    for i, (name, clean) in enumerate(crops):
        rng = np.random.default_rng([seed, i])
        noisy = clean + rng.normal(0.0, SIGMA / 255.0, clean.shape).astype(np.float32)
        out.append(Sample(name, clean, noisy, f"gaussian:{SIGMA:g}"))
    return out


def train_for(
    method: str,
    steps: int,
    data: Path,
    workdir: Path,
    *,
    patch: int,
    batch: int,
    width: int,
    accelerator: str,
) -> tuple[Path, float]:
    """Train `method` for `steps` through run_training; returns (model file, seconds)."""
    from medenoise.config import ModelConfig, TrainConfig
    from medenoise.train import run_training

    cfg = TrainConfig(
        model=ModelConfig(method=method, noise=f"gaussian:{SIGMA:g}", width=width),
        dataset=dict(data=[str(data)], batch_size=batch, patch=patch),
        optim=dict(steps=steps, seed=0),
        trainer=dict(checkpoint_every=steps, val_every=steps, accelerator=accelerator),
    )
    t0 = time.perf_counter()
    path = run_training(cfg, workdir / method, progress=False)
    return path, time.perf_counter() - t0


def quality_rows(
    rates: dict[str, float],
    budget_s: float,
    data: Path,
    samples: list,
    workdir: Path,
    *,
    patch: int,
    batch: int,
    width: int,
    device: torch.device,
) -> list[dict]:
    """One row per method (trained `budget_s` × its steps/s) plus BM3D and the noisy input."""
    from medenoise.api import ClassicalDenoiser, load_model
    from medenoise.eval.evaluate import evaluate

    accelerator = "gpu" if device.type == "cuda" else "cpu"
    rows = []
    for method, rate in rates.items():
        steps = max(1, int(budget_s * rate))
        path, seconds = train_for(
            method,
            steps,
            data,
            workdir,
            patch=patch,
            batch=batch,
            width=width,
            accelerator=accelerator,
        )
        result = evaluate(load_model(path, device), samples)
        rows.append(_row(method, result, steps=steps, train_s=seconds))
    for name in ("bm3d", "identity"):
        result = evaluate(ClassicalDenoiser(name), samples)
        rows.append(_row(name if name == "bm3d" else "noisy input", result))
    return rows


def _row(method: str, result: dict, steps: int | None = None, train_s: float | None = None):
    mean = result["mean"]
    seconds = sum(r["seconds"] for r in result["images"])
    return {
        "method": method,
        "steps": steps,
        "train_s": None if train_s is None else round(train_s, 1),
        "psnr": round(mean["psnr"], 2),
        "ssim": round(mean["ssim"], 4),
        "denoise_s": round(seconds, 2),
    }
