"""A Gaussian noise level measured on each noisy training patch, to teach SSDN's per-image
level estimator on real data, where no true level exists and the likelihood alone leaves the
level unidentified (the prior's variance can absorb any part of the noise)."""

from __future__ import annotations

import torch

from medenoise.noise.likelihood import CLIP_TOLERANCE

MAD_TO_STD = 0.6744897501960817  # median |z| of a standard normal: σ = median|d| / this
MIN_BLOCKS = 64  # fewer uncut 2×2 blocks than this: no measurement


def _haar_diagonal(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(|d| (N, C, H/2, W/2) float64, whether each 2×2 block has no value at the range's
    ends): the finest diagonal Haar coefficient d = (a − b − c + e)/2 of y (N, C, H, W)."""
    y = y.to(torch.float64)
    h, w = y.shape[-2] // 2 * 2, y.shape[-1] // 2 * 2
    a, b = y[..., 0:h:2, 0:w:2], y[..., 0:h:2, 1:w:2]
    c, e = y[..., 1:h:2, 0:w:2], y[..., 1:h:2, 1:w:2]
    corners = torch.stack([a, b, c, e])
    uncut = ((corners > CLIP_TOLERANCE) & (corners < 1 - CLIP_TOLERANCE)).all(0)
    return ((a - b - c + e) / 2).abs(), uncut


def haar_level(y: torch.Tensor) -> torch.Tensor:
    """Per sample (N, 1) float64: the noise std from the median absolute finest diagonal Haar
    coefficient, d = (a − b − c + e)/2 over 2×2 blocks (std σ for white noise; smooth signal
    cancels in it), over blocks with no value at the range's ends. NaN where too few are left.
    The estimator of `methods.classical.estimate_sigma` (Donoho 1995), batched and masked.

    On pixel-shuffle sub-images of correlated noise (neighbours k pixels apart, where it has
    decorrelated) this reads the per-pixel std; at full resolution it would read low."""
    d, uncut = _haar_diagonal(y)
    d, uncut = d.flatten(1), uncut.flatten(1)
    median = d.masked_fill(~uncut, float("nan")).nanmedian(dim=1).values / MAD_TO_STD
    enough = uncut.sum(dim=1) >= MIN_BLOCKS
    return median.masked_fill(~enough, float("nan")).unsqueeze(1)


def haar_level_map(views: torch.Tensor, tile: int = 16) -> torch.Tensor:
    """(1, 1, H, W) float64: the noise std over the image, from the median |d| in each tile of
    tile × tile Haar blocks pooled over `views` (K, 1, H, W), the K pixel-shuffle sub-images of
    one plane, which share their positions; bilinear between tile centres. A tile with fewer
    uncut blocks than a full one's worth (air clipped at the range's end) takes the whole
    plane's level. CT noise is not one level per slice: air and soft tissue differ."""
    import torch.nn.functional as F

    d, uncut = _haar_diagonal(views)
    d = d.masked_fill(~uncut, float("nan"))[:, 0]  # (K, H/2, W/2)
    k, rows, cols = d.shape[0], d.shape[1] // tile, d.shape[2] // tile
    if rows == 0 or cols == 0:
        raise ValueError(f"a level map needs at least {2 * tile}² pixels per view")
    cells = d[:, : rows * tile, : cols * tile].reshape(k, rows, tile, cols, tile)
    cells = cells.permute(1, 3, 0, 2, 4).reshape(rows, cols, -1)
    level = cells.nanmedian(dim=-1).values / MAD_TO_STD
    whole = haar_level(views).nanmean()
    full = (~cells.isnan()).sum(dim=-1) >= tile * tile
    level = torch.where(full, level, whole)
    return F.interpolate(level[None, None], size=tuple(views.shape[-2:]), mode="bilinear")
