"""Pixel-shuffle downsampling (PD, as in AP-BSN, Lee et al. CVPR 2022) and its exact inverse.

`pd_split(x, k)` cuts each image into the k² sub-images of every k-th pixel (sub-image
(i, j) holds rows i, i+k, ... and columns j, j+k, ...). Neighbours inside a sub-image are k
pixels apart in the original, so spatially correlated noise whose correlation has died out
by lag k is close to white there, which is what a blind-spot network assumes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, k: int) -> torch.Tensor:
    """Pad (N,C,H,W) at the bottom/right to multiples of k: reflect, replicate if too small."""
    ph, pw = -x.shape[-2] % k, -x.shape[-1] % k
    if ph == 0 and pw == 0:
        return x
    small = ph >= x.shape[-2] or pw >= x.shape[-1]
    return F.pad(x, (0, pw, 0, ph), mode="replicate" if small else "reflect")


def pd_split(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N,C,H,W) → (N·k², C, ⌈H/k⌉, ⌈W/k⌉); sub-image n·k² + i·k + j is x[n, :, i::k, j::k]."""
    if x.ndim != 4:
        raise ValueError(f"expected (N,C,H,W), got shape {tuple(x.shape)}")
    if k < 1:
        raise ValueError(f"stride must be at least 1, got {k}")
    if k == 1:
        return x
    x = pad_to_multiple(x, k)
    n, c, h, w = x.shape
    sub = x.reshape(n, c, h // k, k, w // k, k).permute(0, 3, 5, 1, 2, 4)
    return sub.reshape(n * k * k, c, h // k, w // k)


def pd_merge(sub: torch.Tensor, k: int, height: int, width: int) -> torch.Tensor:
    """Inverse of `pd_split`: (N·k², C, h, w) → (N, C, height, width), padding cropped off."""
    if k == 1:
        return sub[..., :height, :width]
    nk, c, h, w = sub.shape
    if nk % (k * k):
        raise ValueError(f"{nk} sub-images is not a multiple of k² = {k * k}")
    n = nk // (k * k)
    x = sub.reshape(n, k, k, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * k, w * k)
    return x[..., :height, :width]
