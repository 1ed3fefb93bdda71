"""The Noise2Noise U-Net backbone (Lehtinen et al. 2018), plain or with blind-spot convolutions."""

from __future__ import annotations

import torch
from torch import nn

from medenoise.nets.layers import Conv, Pool, head, upsample

DEPTH = 5  # five poolings: H and W must be multiples of 32
MULTIPLE = 2**DEPTH


class UNetTrunk(nn.Module):
    """Encoder-decoder up to (and including) the last 3×3 decoder conv.

    Output has `2 * width` channels at input resolution. With ``blind=True`` every conv
    and pool only looks upwards, so output row i depends on input rows ≤ i only.
    """

    def __init__(self, in_channels: int, width: int = 48, blind: bool = False):
        super().__init__()
        w, d = width, 2 * width
        self.in_channels = in_channels
        self.enc0 = nn.Sequential(Conv(in_channels, w, blind=blind), Conv(w, w, blind=blind))
        self.enc = nn.ModuleList([Conv(w, w, blind=blind) for _ in range(DEPTH - 1)])
        self.pool = Pool(blind)
        self.bottom = Conv(w, w, blind=blind)
        cins = [w + w] + [d + w] * (DEPTH - 2) + [d + in_channels]
        self.dec = nn.ModuleList(
            [nn.Sequential(Conv(c, d, blind=blind), Conv(d, d, blind=blind)) for c in cins]
        )
        self.out_channels = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % MULTIPLE or x.shape[-2] % MULTIPLE:
            raise ValueError(f"U-Net input H, W must be multiples of {MULTIPLE}, got {x.shape}")
        skips = [x]
        h = self.pool(self.enc0(x))
        for conv in self.enc:
            skips.append(h)
            h = self.pool(conv(h))
        h = self.bottom(h)
        for block, skip in zip(self.dec, reversed(skips), strict=True):
            h = block(torch.cat([upsample(h), skip], dim=1))
        return h


class UNet(nn.Module):
    """Plain U-Net (N2C, N2N, N2V): trunk + 1×1 head 2w → 2w → 2w → out_channels."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 48):
        super().__init__()
        self.trunk = UNetTrunk(in_channels, width, blind=False)
        d = self.trunk.out_channels
        self.head = head(d, [d, d], out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))
