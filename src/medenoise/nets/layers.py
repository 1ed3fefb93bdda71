"""Convolution, pooling and shift building blocks shared by the plain and blind-spot U-Nets.

In blind-spot mode every spatial conv sees only its own row and the rows above it:
k//2 zero rows are added on top and the conv is "valid" vertically.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.1


def he_init_(conv: nn.Conv2d, gain: float = math.sqrt(2.0)) -> None:
    """He-normal init, std = gain / sqrt(fan_in), zero bias (the N2N U-Net's init)."""
    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    nn.init.normal_(conv.weight, 0.0, gain / math.sqrt(fan_in))
    nn.init.zeros_(conv.bias)


def shift_down(x: torch.Tensor, rows: int = 1) -> torch.Tensor:
    """Move the map down by `rows` rows: zero rows enter at the top, bottom rows drop."""
    if rows == 0:
        return x
    return F.pad(x, (0, 0, rows, 0))[:, :, : x.shape[2], :]


class Conv(nn.Module):
    """k×k conv + LeakyReLU(0.1); in blind mode its receptive field stops at its own row."""

    def __init__(self, cin: int, cout: int, k: int = 3, blind: bool = False, act: bool = True):
        super().__init__()
        self.blind = blind and k > 1
        pad = k // 2
        padding = (0, pad) if self.blind else (pad, pad)
        self.top_pad = 2 * pad if self.blind else 0
        self.conv = nn.Conv2d(cin, cout, k, padding=padding)
        self.act = act
        he_init_(self.conv, math.sqrt(2.0) if act else 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.top_pad:
            x = F.pad(x, (0, 0, self.top_pad, 0))
        x = self.conv(x)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.act else x


class Pool(nn.Module):
    """2×2 max-pool, stride 2; in blind mode the map is first shifted down one row."""

    def __init__(self, blind: bool = False):
        super().__init__()
        self.blind = blind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.blind:
            x = shift_down(x, 1)
        return F.max_pool2d(x, 2)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2 upsampling."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def head(cin: int, widths: list[int], cout: int) -> nn.Sequential:
    """1×1 conv stack: LeakyReLU after every layer but the last, which is linear (gain 1)."""
    layers: list[nn.Module] = []
    for w in widths:
        layers.append(Conv(cin, w, k=1))
        cin = w
    layers.append(Conv(cin, cout, k=1, act=False))
    return nn.Sequential(*layers)
