"""Estimated vs true noise level in a per-image Gaussian SSDN's posterior: is a shortfall the
estimator's or the prior's? Same network output, posterior mean once with σ̂ and once with σ.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/oracle_level.py MODEL SIGMA IMG [IMG ...]

SIGMA in 8-bit units; noise from one generator seeded 0, images in the order given. Prints per
image σ̂ (8-bit units) and PSNR (dB, [0,1] scale) with σ̂ and with the true σ.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from medenoise.data.io import read
from medenoise.eval.metrics import psnr
from medenoise.modelfile import load_module
from medenoise.noise.likelihood import posterior_mean, prior_from_head


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("sigma", type=float)
    ap.add_argument("images", type=Path, nargs="+")
    args = ap.parse_args()
    m = load_module(args.model).eval()
    if m.model_config.method != "ssdn" or m.noise_param.mode != "per-image":
        raise SystemExit(f"{args.model}: needs a per-image SSDN model")
    sigma = args.sigma / 255
    g = torch.Generator().manual_seed(0)
    for path in args.images:
        x = torch.from_numpy(read(path).array).permute(2, 0, 1)[None]  # (1, C, H, W)
        y = x + sigma * torch.randn(x.shape, generator=g)
        with torch.inference_mode():
            cfg = m.model_config
            prior = prior_from_head(m.net(y), cfg.channels, cfg.covariance)
            est = m.noise_param(y)
            levels = (est, torch.full_like(est, sigma))
            scores = [
                psnr(posterior_mean(y, prior, m.noise.variance(prior.mu, p)).numpy(), x.numpy())
                for p in levels
            ]
        print(
            f"{path.name}  sigma_hat {est.item() * 255:.1f}"
            f"  estimated {scores[0]:.2f}  true {scores[1]:.2f}"
        )


if __name__ == "__main__":
    main()
