"""Padding planes to the sizes the networks accept (multiples of 32; square for blind spot)."""

from __future__ import annotations

import numpy as np

from medenoise.data.tiling import MULTIPLE


def padded_size(h: int, w: int, square: bool) -> tuple[int, int]:
    """Smallest (H', W') ≥ (h, w) that are multiples of 32 (and equal when square)."""
    up = lambda v: -(-v // MULTIPLE) * MULTIPLE  # noqa: E731
    if square:
        s = up(max(h, w))
        return s, s
    return up(h), up(w)


def pad_reflect(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pad (..., H, W, C) at bottom/right to (h, w): reflect, or edge for 1-pixel sides."""
    hh, ww = a.shape[-3:-1]
    mode = "reflect" if min(hh, ww) > 1 else "edge"
    lead = ((0, 0),) * (a.ndim - 3)
    return np.pad(a, (*lead, (0, h - hh), (0, w - ww), (0, 0)), mode=mode)
