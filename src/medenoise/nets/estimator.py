"""Per-image noise-level estimator (noise_param "per-image"): a plain U-Net averaged over H×W."""

from __future__ import annotations

import torch
from torch import nn

from medenoise.nets.unet import UNet


class NoiseLevelEstimator(nn.Module):
    """(N, C, H, W) → (N, n_params) raw parameters θ (mapped to σ etc. by the noise model).

    The last 1×1 layer starts at zero, so every image starts at θ = 0; training converges
    reliably only with this (the SSDN paper's code does it, its text does not say so).
    """

    def __init__(self, in_channels: int, n_params: int = 1, width: int = 48):
        super().__init__()
        self.net = UNet(in_channels, n_params, width)
        last = self.net.head[-1].conv
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(dim=(2, 3))
