"""Poisson (shot) noise: y = Poisson(λ·x)/λ ("poisson:30", λ photons at intensity 1).

Canonical parameter c = 1/λ; the likelihood uses the Gaussian approximation
Σ_n = diag(max(μ_x, 1e-3)·c), with the predicted μ_x standing in for x.
"""

from __future__ import annotations

import torch

from medenoise.noise.base import NoiseModel, per_image, poisson_like

MIN_MEAN = 1e-3


class PoissonNoise(NoiseModel):
    kind = "poisson"
    param_names = ("c",)
    regularised = True

    def from_spec_values(self, values):
        return (1.0 / values["lam"]).reshape(-1, 1)

    def add(self, x, params, generator=None):
        lam = 1.0 / per_image(params, 0).to(x.dtype)
        return poisson_like(x * lam, generator) / lam

    def variance(self, mu_x, params):
        return self.observed_variance(mu_x.to(torch.float64).clamp_min(MIN_MEAN), params)

    def observed_variance(self, y, params):
        return y.to(torch.float64) * per_image(params, 0).to(torch.float64)
