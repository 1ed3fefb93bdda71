"""Score a colour SSDN network laid out from a gray zoo model (`train --init`), before any
training step, on gray images given as three looks (each channel its own noise draw): what
the start of a study's colour row is worth, for a chosen start scale of the covariance
factor's fresh entries (nets/gray_to_color.FRESH_T_SCALE).

    PYTHONPATH=src python benchmarks/colour_start.py --init ssdn-med-gray --noise gaussian:30 \
        --clean FILE... [--width 48] [--scale 0.01 1.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def colour_start(init: str, noise: str, width: int, scale: float):
    """The known-level, full-covariance colour SSDN module laid out from `init`."""
    import medenoise.nets.gray_to_color as colour
    from medenoise.config import ModelConfig
    from medenoise.methods import build_method
    from medenoise.train import init_weights

    colour.FRESH_T_SCALE = scale
    torch.manual_seed(0)
    cfg = ModelConfig(method="ssdn", noise=noise, noise_param="known", covariance="full",
                      channels=3, width=width)  # fmt: skip
    module = build_method(cfg)
    init_weights(module, init)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", required=True)
    parser.add_argument("--noise", required=True)
    parser.add_argument("--clean", type=Path, nargs="+", required=True)
    parser.add_argument("--width", type=int, default=48)
    parser.add_argument("--scale", type=float, nargs="+", default=[0.01, 1.0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from medenoise.eval import samples as S
    from medenoise.eval.evaluate import evaluate
    from medenoise.inference.denoiser import Denoiser

    for scale in args.scale:
        module = colour_start(args.init, args.noise, args.width, scale)
        stream = S.synthetic_samples(args.clean, args.noise, 3, args.seed)
        mean = evaluate(Denoiser(module, args.init), stream)["mean"]
        print(f"fresh T entries x{scale:g}: {mean['psnr']:.2f} dB / SSIM {mean['ssim']:.3f}")


if __name__ == "__main__":
    main()
