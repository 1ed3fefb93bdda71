"""PSNR of the geometric self-ensemble by view set (identity, mirror pair, 4 rotations, all
8), for one model on Set12 images at Gaussian sigma=25 (medenoise.ensemble's docstring).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ensemble_views.py MODEL 01.png 02.png ...

Image i gets noise from seed i; prints per-image PSNR (dB, [0,1] scale) and the mean.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from medenoise.api import load_model
from medenoise.ensemble import ensemble_views

SET12 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "set12"
# indices into ensemble_views(False): rotations k=0..3 unmirrored, then k=0..3 mirrored
VIEW_SETS = {"identity": [0], "mirror pair": [0, 4], "4 rotations": [0, 1, 2, 3]}
VIEW_SETS["all 8"] = list(range(8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("images", nargs="+", help="file names inside ../shared/data/set12")
    args = ap.parse_args()
    den = load_model(args.model)
    params = den.noise_params("gaussian:25")
    scores: dict[str, list[float]] = {k: [] for k in VIEW_SETS}
    for i, name in enumerate(args.images):
        x = np.asarray(Image.open(SET12 / name), np.float32) / 255
        rng = np.random.default_rng(i)
        y = torch.from_numpy((x + 25 / 255 * rng.standard_normal(x.shape)).astype(np.float32))
        with torch.inference_mode():
            outs = [
                inv(den.module.denoise(fwd(y[None, None]), params).float())
                for fwd, inv in ensemble_views(False)
            ]
        for key, idx in VIEW_SETS.items():
            est = torch.stack([outs[j] for j in idx]).mean(0)[0, 0].numpy()
            scores[key].append(10 * np.log10(1 / np.mean((est - x) ** 2)))
    for key, vals in scores.items():
        print(f"{key:12s} mean {np.mean(vals):.3f}  per image {[round(float(v), 3) for v in vals]}")


if __name__ == "__main__":
    main()
