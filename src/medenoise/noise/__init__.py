"""Noise physics: spec parsing, synthesis, likelihoods, posteriors and parameter modes."""

from medenoise.noise.base import NoiseModel
from medenoise.noise.correlated import CorrelatedGaussianNoise
from medenoise.noise.gaussian import GaussianNoise
from medenoise.noise.poisson import PoissonNoise
from medenoise.noise.poisson_gaussian import PoissonGaussianNoise
from medenoise.noise.rician import RicianNoise
from medenoise.noise.spec import NoiseSpec, parse_noise_spec
from medenoise.noise.synthetic_only import ImpulseNoise

NOISE_MODELS: dict[str, type[NoiseModel]] = {
    cls.kind: cls
    for cls in (GaussianNoise, PoissonNoise, PoissonGaussianNoise, RicianNoise, ImpulseNoise)
}


def make_noise_model(spec: str | NoiseSpec) -> NoiseModel:
    """Noise model for a spec string such as 'gaussian:25' or 'pg:a=0.01,b=0'."""
    parsed = parse_noise_spec(spec)
    if parsed.kernel:
        return CorrelatedGaussianNoise(parsed)
    return NOISE_MODELS[parsed.kind](parsed)


__all__ = ["NOISE_MODELS", "NoiseModel", "NoiseSpec", "make_noise_model", "parse_noise_spec"]
