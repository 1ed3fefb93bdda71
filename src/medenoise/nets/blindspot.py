"""Blind-spot U-Net (Laine et al. 2019): four rotated upward-looking branches.

Each rotation of the input goes through the same upward-looking trunk; a final one-row
shift makes each branch see only pixels strictly above (in its own orientation). After
un-rotating, the four half-plane views together cover everything but the centre pixel.

A shift of s rows instead of one (`blind_square` = 2s − 1) leaves each branch only the rows
at least s above, so the four views miss the (2s − 1)² square around the pixel: a blind
spot for noise that is correlated between neighbours up to s − 1 pixels apart (a CT
reconstruction kernel, an interpolated MR matrix), at full resolution, with every pixel
outside the square still in view (pixel-shuffle sub-images keep only one in s²).
"""

from __future__ import annotations

import torch
from torch import nn

from medenoise.nets.layers import head, shift_down
from medenoise.nets.unet import UNetTrunk


def stack_rotations(x: torch.Tensor) -> torch.Tensor:
    """(N,C,S,S) → (4N,C,S,S): the input rotated by 0°, 90°, 180°, 270° along the batch."""
    return torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)], dim=0)


def merge_rotations(h: torch.Tensor) -> torch.Tensor:
    """(4N,F,S,S) → (N,4F,S,S): un-rotate each quarter and concatenate on channels."""
    parts = torch.chunk(h, 4, dim=0)
    return torch.cat([torch.rot90(p, -k, dims=(2, 3)) for k, p in enumerate(parts)], dim=1)


class BlindSpotUNet(nn.Module):
    """(N, C, H, W) → (N, out_channels, H, W); output at a pixel never sees that pixel.

    H must equal W and be a multiple of 32 (callers pad; see `medenoise.api`).
    Merge head: 1×1 convs 8w → 8w → 2w → out_channels (384 → 384 → 96 → K at w = 48).
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 48, blind_square: int = 1):
        super().__init__()
        if blind_square < 1 or blind_square % 2 == 0:
            raise ValueError(f"blind_square must be an odd side length, got {blind_square}")
        self.blind_square = blind_square
        self.trunk = UNetTrunk(in_channels, width, blind=True)
        d = self.trunk.out_channels
        self.head = head(4 * d, [4 * d, d], out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"blind-spot input must be square, got {tuple(x.shape[-2:])}")
        h = shift_down(self.trunk(stack_rotations(x)), (self.blind_square + 1) // 2)
        return self.head(merge_rotations(h))
