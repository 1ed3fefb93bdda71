"""Noise2Void masking (Krull et al. 2019): stratified picks, neighbour swap, masked-only loss.

Default density: ``DEFAULT_FRACTION = 1/64`` (1.5625 %), i.e. one masked pixel per 8x8 grid
cell.  That is exactly the density of the N2V paper (64 pixels per 64x64 patch), sits inside
the 0.2-2 % range N2V implementations use, and the integer cell size 8 divides the
32-multiple tiles the U-Net needs, so every tile gets the same number of masked pixels.
Lower densities (the ``n2v`` package uses 0.198 %) give fewer loss terms per step; higher
ones let masked pixels crowd each other's receptive fields.
"""

from __future__ import annotations

import math

import torch

DEFAULT_FRACTION = 1.0 / 64.0
"""Fraction of pixels masked per image: N2V paper density (64 px per 64x64 patch)."""

DEFAULT_WINDOW = 5
"""Side of the square neighbourhood the replacement value is drawn from."""


def grid_cell(fraction: float) -> int:
    """Side of the stratification cell that yields about ``fraction`` masked pixels (1 per cell)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, round(1.0 / math.sqrt(fraction)))


def _randint(high: int, size: tuple[int, ...], generator, device) -> torch.Tensor:
    """Uniform integers in [0, high) drawn with an optional generator on its own device."""
    return torch.randint(0, high, size, generator=generator, device=device)


def n2v_positions(
    shape: tuple[int, int, int],
    fraction: float = DEFAULT_FRACTION,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stratified sample of (batch, row, col) indices: one random pixel per ``cell x cell`` square.

    Cells hanging over the bottom/right edge keep their sample only if it falls inside the
    image, so the expected density is ``1/cell**2`` everywhere.
    """
    n, h, w = shape
    s = grid_cell(fraction)
    gh, gw = math.ceil(h / s), math.ceil(w / s)
    rows = torch.arange(gh, device=device).view(1, gh, 1) * s + _randint(
        s, (n, gh, gw), generator, device
    )
    cols = torch.arange(gw, device=device).view(1, 1, gw) * s + _randint(
        s, (n, gh, gw), generator, device
    )
    batch = torch.arange(n, device=device).view(n, 1, 1).expand(n, gh, gw)
    keep = (rows < h) & (cols < w)
    return batch[keep], rows[keep], cols[keep]


def _neighbour_offsets(k: int, window: int, generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw k offsets uniformly from the window x window square minus its centre (0, 0)."""
    r = window // 2
    centre = r * window + r
    idx = _randint(window * window - 1, (k,), generator, device)
    idx = idx + (idx >= centre).long()  # skip the centre: offset (0, 0) is never drawn
    return idx // window - r, idx % window - r


def _mirror_into(p: torch.Tensor, d: torch.Tensor, size: int) -> torch.Tensor:
    """Apply offset d to coordinate p, flipping its sign when p + d leaves [0, size)."""
    q = p + d
    out = (q < 0) | (q >= size)
    q = torch.where(out, p - d, q)
    return q.clamp(0, size - 1)  # only matters when size < window


def n2v_mask(
    y: torch.Tensor,
    fraction: float = DEFAULT_FRACTION,
    window: int = DEFAULT_WINDOW,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask a (N,C,H,W) batch the Noise2Void way; returns (masked_input, bool mask (N,1,H,W)).

    Each selected pixel (all channels together) takes the original value of a random other
    pixel within Chebyshev distance ``window // 2``.  Offsets that would leave the image are
    mirrored (the non-zero component keeps its magnitude), so the replacement is never the
    pixel itself, including at borders.
    """
    if y.ndim != 4:
        raise ValueError(f"expected (N,C,H,W), got shape {tuple(y.shape)}")
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be odd and >= 3, got {window}")
    n, _, h, w = y.shape
    if h * w < 2:
        raise ValueError("need at least two pixels per image to swap in a neighbour")
    dev = generator.device if generator is not None else y.device
    b, py, px = n2v_positions((n, h, w), fraction, generator, dev)
    dy, dx = _neighbour_offsets(b.numel(), window, generator, dev)
    qy = _mirror_into(py, dy, h)
    qx = _mirror_into(px, dx, w)
    # Tiny images (side < window) may clamp both axes back onto the pixel: step sideways.
    same = (qy == py) & (qx == px)
    if bool(same.any()):
        if w > 1:
            qx = torch.where(same, torch.where(px + 1 < w, px + 1, px - 1), qx)
        else:
            qy = torch.where(same, torch.where(py + 1 < h, py + 1, py - 1), qy)
    b, py, px, qy, qx = (t.to(y.device) for t in (b, py, px, qy, qx))
    masked = y.clone()
    masked[b, :, py, px] = y[b, :, qy, qx]
    mask = torch.zeros((n, 1, h, w), dtype=torch.bool, device=y.device)
    mask[b, 0, py, px] = True
    return masked, mask


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over masked pixels only (mask broadcasts over channels)."""
    m = mask.to(torch.bool).expand_as(pred)
    sq = torch.where(m, (pred - target) ** 2, torch.zeros((), dtype=pred.dtype, device=pred.device))
    count = m.sum()
    return sq.sum() / count.clamp_min(1).to(pred.dtype)


def footprint(extent: tuple[int, int]) -> list[tuple[int, int]]:
    """Offsets (dy, dx) of a structured blind spot: the rectangle |dy| ≤ ey, |dx| ≤ ex."""
    ey, ex = extent
    if ey < 0 or ex < 0:
        raise ValueError(f"struct extent must be non-negative, got {extent}")
    return [(dy, dx) for dy in range(-ey, ey + 1) for dx in range(-ex, ex + 1)]


def struct_mask(
    y: torch.Tensor,
    extent: tuple[int, int],
    fraction: float = DEFAULT_FRACTION,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """structN2V masking (Broaddus et al. 2020) for noise correlated up to lag (ey, ex).

    Each selected pixel and every pixel of its rectangle of half-extent ``extent`` (rows,
    columns) take uniform random values in the image's range, so neither the pixel nor the
    neighbours that share its noise reach the network. Unlike plain N2V the centre is not
    given a neighbour's value: with correlated noise that value carries the centre's noise.
    Returns (masked_input, bool mask (N,1,H,W) of the selected pixels, where the loss goes).
    """
    if y.ndim != 4:
        raise ValueError(f"expected (N,C,H,W), got shape {tuple(y.shape)}")
    n, c, h, w = y.shape
    offsets = footprint(extent)
    dev = generator.device if generator is not None else y.device
    b, py, px = (t.to(y.device) for t in n2v_positions((n, h, w), fraction, generator, dev))
    cover = torch.zeros((n, 1, h, w), dtype=torch.bool, device=y.device)
    for dy, dx in offsets:
        qy, qx = py + dy, px + dx
        ok = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        cover[b[ok], 0, qy[ok], qx[ok]] = True
    flat = y.detach().reshape(n, -1)
    lo, hi = flat.min(1).values.view(n, 1, 1, 1), flat.max(1).values.view(n, 1, 1, 1)
    noise = torch.rand(y.shape, generator=generator, device=dev).to(y.device, y.dtype)
    masked = torch.where(cover, lo + (hi - lo) * noise, y)
    mask = torch.zeros((n, 1, h, w), dtype=torch.bool, device=y.device)
    mask[b, 0, py, px] = True
    return masked, mask
