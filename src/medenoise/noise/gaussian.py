"""Additive white Gaussian noise: y = x + σ·n, σ = s/255 ("gaussian:25")."""

from __future__ import annotations

import torch

from medenoise.noise.base import NoiseModel, normal_like, per_image

MIN_SIGMA = 1e-3


class GaussianNoise(NoiseModel):
    kind = "gaussian"
    param_names = ("sigma",)
    regularised = True

    def from_spec_values(self, values):
        return (values["sigma"] / 255.0).reshape(-1, 1)

    def add(self, x, params, generator=None):
        return x + per_image(params, 0).to(x.dtype) * normal_like(x, generator)

    def variance(self, mu_x, params):
        sigma = per_image(params, 0).to(torch.float64).clamp_min(MIN_SIGMA)
        return (sigma**2).expand(mu_x.shape)
