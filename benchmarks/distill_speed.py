"""Student sizes vs teacher and BM3D: MPix/s on a noisy 512² image (skimage camera), 2 threads.

    PYTHONPATH=src python benchmarks/distill_speed.py [MODEL_FILE ...]

Students are random-init (speed does not depend on the weights); given model files are timed
too. Median of 3 runs after one warm-up (teacher: 2 runs, BM3D: 1).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from medenoise.api import load_model
from medenoise.config import ModelConfig
from medenoise.inference.denoiser import Denoiser
from medenoise.inference.options import InferenceOptions
from medenoise.methods import build_method

SIZES = [(16, 4), (24, 4), (32, 4), (32, 5), (48, 5)]


def noisy_camera() -> np.ndarray:
    from skimage import data

    img = np.asarray(data.camera(), np.float32) / 255
    return img + np.random.default_rng(0).normal(0, 25 / 255, img.shape).astype(np.float32)


def rate(denoise, img, reps: int = 3) -> tuple[float, float]:
    """(MPix/s, seconds) of `denoise(img)`: the median of `reps` runs after a warm-up."""
    denoise(img)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        denoise(img)
        times.append(time.perf_counter() - t)
    t = float(np.median(times))
    return img.size / 1e6 / t, t


def main() -> None:
    torch.set_num_threads(2)
    img = noisy_camera()
    print("| model | MPix/s | s per 512² |\n|---|---|---|")
    for width, depth in SIZES:
        cfg = ModelConfig(method="student", teacher="-", width=width, depth=depth)
        d = Denoiser(build_method(cfg).eval(), "student", InferenceOptions(ensemble=False))
        r, t = rate(d.denoise, img)
        print(f"| student width {width} depth {depth} | {r:.3f} | {t:.3f} |", flush=True)
    for path in sys.argv[1:]:
        r, t = rate(load_model(path).denoise, img)
        print(f"| {path} | {r:.3f} | {t:.3f} |", flush=True)
    for name, ens in (("ssdn-gauss25-gray (default ensemble)", None), ("--no-ensemble", False)):
        r, t = rate(load_model("ssdn-gauss25-gray", ensemble=ens).denoise, img, reps=2)
        print(f"| teacher {name} | {r:.4f} | {t:.2f} |", flush=True)
    bm3d = load_model("bm3d")
    r, t = rate(lambda x: bm3d.denoise(x, "gaussian:25"), img, reps=1)
    print(f"| bm3d | {r:.4f} | {t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
