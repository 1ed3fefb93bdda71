"""Noise models we synthesise for benchmarks but do not (yet) train with a likelihood."""

from __future__ import annotations

import torch

from medenoise.noise.base import NoiseModel, per_image, uniform_like


class ImpulseNoise(NoiseModel):
    """With probability α a pixel is replaced by U[0,1]^C (mask shared across channels)."""

    kind = "impulse"
    param_names = ("alpha",)
    has_likelihood = False

    def from_spec_values(self, values):
        return values["alpha"].reshape(-1, 1)

    def add(self, x, params, generator=None):
        n, c, h, w = x.shape
        u = uniform_like((n, 1, h, w), x, generator)
        values = uniform_like((n, c, h, w), x, generator)
        hit = u < per_image(params, 0).to(x.dtype)
        return torch.where(hit, values, x)
