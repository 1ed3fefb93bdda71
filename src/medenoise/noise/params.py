"""Noise-parameter modes: known, one learned global value, or estimated per image."""

from __future__ import annotations

import torch
from torch import nn

from medenoise.nets.estimator import NoiseLevelEstimator
from medenoise.noise.base import NoiseModel

MODES = ("known", "global", "per-image")


class NoiseParameter(nn.Module):
    """Gives the (N, P) noise parameters of a batch in the mode chosen at training time.

    known: taken from the caller (the synthesis parameters, or the user's --noise level);
    global: softplus(θ − 4) + 1e-3 of one learned θ per parameter, θ initialised at 0;
    per-image: the same mapping of a plain U-Net's spatial average on the noisy image.
    """

    def __init__(self, noise: NoiseModel, mode: str, channels: int, width: int = 48):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown noise-parameter mode {mode!r}; use one of {MODES}")
        self.noise, self.mode = noise, mode
        if mode == "global":
            self.theta = nn.Parameter(torch.zeros(noise.n_params))
        elif mode == "per-image":
            self.estimator = NoiseLevelEstimator(channels, noise.n_params, width)

    @property
    def learned(self) -> bool:
        return self.mode != "known"

    def forward(self, y: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode == "known":
            if known is None:
                known = self.noise.fixed_params(y.shape[0])
            return known.to(device=y.device, dtype=torch.float64).expand(y.shape[0], -1)
        if self.mode == "global":
            theta = self.theta.to(torch.float64).unsqueeze(0).expand(y.shape[0], -1)
        else:
            theta = self.estimator(y).to(torch.float64)
        return self.noise.map_learned(theta)
