"""Score an SSDN model with a learned global noise level twice: with its learned level, and
with a given level in its posterior (same network). Separates what a drifted learned level
costs from what the network itself learned.

    PYTHONPATH=src python benchmarks/global_level_swap.py MODEL --clean DIR --noise SPEC \
        --level VALUE [--seed 0]

VALUE is the noise model's parameter as the model file stores it (Gaussian σ on [0, 1];
Poisson c = 1/λ). The noisy images are the seeded synthetic ones of `medenoise evaluate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def score(module, clean: list[Path], noise: str, seed: int) -> dict:
    """Mean PSNR / SSIM of `module` (self-ensemble on, as the zoo runs SSDN) on `clean`."""
    from medenoise.eval import samples as S
    from medenoise.eval.evaluate import evaluate
    from medenoise.inference.denoiser import Denoiser
    from medenoise.inference.options import InferenceOptions

    den = Denoiser(module, "model", InferenceOptions(ensemble=True))
    channels = module.model_config.channels
    return evaluate(den, S.synthetic_samples(clean, noise, channels, seed))["mean"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--clean", type=Path, nargs="+", required=True)
    parser.add_argument("--noise", required=True)
    parser.add_argument("--level", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from medenoise.adaptation_level import theta_for
    from medenoise.modelfile import load_module

    module = load_module(args.model)
    if not module.learns_global_level:
        raise SystemExit(f"{args.model}: not a model with a learned global level")
    learned = module.noise.map_learned(module.noise_param.theta[None].double())[0].tolist()
    first = score(module, args.clean, args.noise, args.seed)
    theta = theta_for(module.noise, (args.level,))
    if theta is None:
        raise SystemExit(f"level {args.level} is out of the noise model's reach")
    with torch.no_grad():
        module.noise_param.theta.copy_(theta.to(module.noise_param.theta))
    second = score(module, args.clean, args.noise, args.seed)
    for label, level, mean in (("learned", learned[0], first), ("given", args.level, second)):
        print(f"{label} level {level:.5g}: {mean['psnr']:.2f} dB / SSIM {mean['ssim']:.3f}")


if __name__ == "__main__":
    main()
