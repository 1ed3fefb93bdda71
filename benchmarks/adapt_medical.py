"""Inputs and scores for the `denoise --adapt` table in BENCHMARKS.md.

    python benchmarks/adapt_medical.py make WORK      # WORK/clean_*.tif, WORK/noisy/*.tif
    medenoise denoise WORK/noisy -o WORK/out --model ssdn-gauss25-gray --noise gaussian:25 \
        --adapt 200
    python benchmarks/adapt_medical.py score WORK WORK/out

The noisy images are float32 TIFFs, unclipped (σ = 25 on the [0, 1] scale, numpy
default_rng(i) for image i), as `denoise` would read real float data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
IMAGES = {"cxr": "chest_xray/00000001_000.png", "mri": "brain_mri/r64slice.jpg"}


def make(work: Path) -> None:
    (work / "noisy").mkdir(parents=True, exist_ok=True)
    for i, (key, rel) in enumerate(IMAGES.items()):
        x = np.asarray(Image.open(SHARED / rel).convert("L"), np.float32) / 255
        tifffile.imwrite(work / f"clean_{key}.tif", x)
        y = x + np.random.default_rng(i).normal(0, 25 / 255, x.shape).astype(np.float32)
        tifffile.imwrite(work / "noisy" / f"{key}.tif", y)


def score(work: Path, out: Path) -> None:
    from medenoise.eval.metrics import psnr, ssim

    for key in IMAGES:
        clean = tifffile.imread(work / f"clean_{key}.tif")
        den = tifffile.imread(out / f"{key}.tif")
        print(f"{key}: PSNR {psnr(den, clean):.2f} dB  SSIM {ssim(den, clean):.3f}")


if __name__ == "__main__":
    {"make": make, "score": score}[sys.argv[1]](*(Path(a) for a in sys.argv[2:]))
