"""Noise physics: spec parsing, synthesis, likelihoods, posteriors and parameter modes.

Spec parsing is torch-free and imported at once (validating a model's config needs it, and a
run on the torch-free path must not load PyTorch); the noise models, which are torch
modules, are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from medenoise.noise.spec import NoiseSpec, parse_noise_spec

if TYPE_CHECKING:
    from medenoise.noise.base import NoiseModel

_LAZY = {  # name -> submodule that defines it
    "NoiseModel": "base",
    "CorrelatedGaussianNoise": "correlated",
    "GaussianNoise": "gaussian",
    "PoissonNoise": "poisson",
    "PoissonGaussianNoise": "poisson_gaussian",
    "RicianNoise": "rician",
    "ImpulseNoise": "synthetic_only",
}
_MODEL_CLASSES = ("GaussianNoise", "PoissonNoise", "PoissonGaussianNoise", "RicianNoise")


def __getattr__(name: str):
    """The torch-based names, imported when first asked for (PEP 562)."""
    if name == "NOISE_MODELS":
        classes = [__getattr__(n) for n in (*_MODEL_CLASSES, "ImpulseNoise")]
        return {cls.kind: cls for cls in classes}
    if name in _LAZY:
        return getattr(import_module(f"medenoise.noise.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_noise_model(spec: str | NoiseSpec) -> NoiseModel:
    """Noise model for a spec string such as 'gaussian:25' or 'pg:a=0.01,b=0'."""
    parsed = parse_noise_spec(spec)
    if parsed.kernel:
        return __getattr__("CorrelatedGaussianNoise")(parsed)
    return __getattr__("NOISE_MODELS")[parsed.kind](parsed)


__all__ = ["NOISE_MODELS", "NoiseModel", "NoiseSpec", "make_noise_model", "parse_noise_spec"]
