"""A Gaussian noise level measured on each noisy training patch, to teach SSDN's per-image
level estimator on real data, where no true level exists and the likelihood alone leaves the
level unidentified (the prior's variance can absorb any part of the noise)."""

from __future__ import annotations

import torch

from medenoise.noise.likelihood import CLIP_TOLERANCE

MAD_TO_STD = 0.6744897501960817  # median |z| of a standard normal: σ = median|d| / this
MIN_BLOCKS = 64  # fewer uncut 2×2 blocks than this: no measurement


def haar_level(y: torch.Tensor) -> torch.Tensor:
    """Per sample (N, 1) float64: the noise std from the median absolute finest diagonal Haar
    coefficient, d = (a − b − c + e)/2 over 2×2 blocks (std σ for white noise; smooth signal
    cancels in it), over blocks with no value at the range's ends. NaN where too few are left.
    The estimator of `methods.classical.estimate_sigma` (Donoho 1995), batched and masked.

    On pixel-shuffle sub-images of correlated noise (neighbours k pixels apart, where it has
    decorrelated) this reads the per-pixel std; at full resolution it would read low."""
    y = y.to(torch.float64)
    h, w = y.shape[-2] // 2 * 2, y.shape[-1] // 2 * 2
    a, b = y[..., 0:h:2, 0:w:2], y[..., 0:h:2, 1:w:2]
    c, e = y[..., 1:h:2, 0:w:2], y[..., 1:h:2, 1:w:2]
    d = ((a - b - c + e) / 2).flatten(1).abs()
    corners = torch.stack([a, b, c, e]).flatten(2)
    uncut = ((corners > CLIP_TOLERANCE) & (corners < 1 - CLIP_TOLERANCE)).all(0)
    median = d.masked_fill(~uncut, float("nan")).nanmedian(dim=1).values / MAD_TO_STD
    enough = uncut.sum(dim=1) >= MIN_BLOCKS
    return median.masked_fill(~enough, float("nan")).unsqueeze(1)
