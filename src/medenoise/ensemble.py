"""Geometric self-ensemble: denoise mirrored/rotated copies of the input and average the
un-transformed estimates (EDSR+'s "+", DnCNN-style test-time augmentation).

The blind-spot network already looks in 4 directions (its rotated branches), so rotating its
input mostly re-orders what the merge head sees; the mirror is the view worth its cost
(benchmarks/ensemble_views.py measures every choice; see BENCHMARKS.md). So SSDN gets the
mirror pair; a plain U-Net gets all 8 (cheap), except a distilled student, whose point is
speed: it gets the mirror pair too (two passes keep it several times faster than BM3D, and
the pair recovers most of the 8 views' gain: BENCHMARKS.md, "Distilled students").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# Views work on torch tensors and numpy arrays alike (the torch-free ONNX path runs numpy):
# both are (..., H, W) and the transforms below pick the library by the array's type.
View = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _mirror(x):
    """Left-right mirror of the last axis."""
    return np.flip(x, -1) if isinstance(x, np.ndarray) else x.flip(-1)


def _turn(x, k: int):
    """Rotate the last two axes by k quarter turns."""
    return np.rot90(x, k, axes=(-2, -1)) if isinstance(x, np.ndarray) else x.rot90(k, (-2, -1))


def _rot(k: int, flip: bool) -> View:
    """(forward, inverse) of 'rotate k quarter turns, after a left-right mirror if `flip`'."""

    def forward(x):
        x = _mirror(x) if flip else x
        return _turn(x, k) if k else x

    def inverse(y):
        y = _turn(y, -k) if k else y
        return _mirror(y) if flip else y

    return forward, inverse


def ensemble_views(blind_spot: bool, student: bool = False) -> list[View]:
    """Identity and mirror for blind-spot nets and students; the 8 symmetries otherwise."""
    if blind_spot or student:
        return [_rot(0, False), _rot(0, True)]
    return [_rot(k, flip) for flip in (False, True) for k in range(4)]


def ensembled(fn: Callable[[Any], Any], x, views: list[View]):
    """Mean over `views` of inverse(fn(forward(x))), accumulated in float32."""
    total = None
    for forward, inverse in views:
        y = inverse(fn(forward(x)))  # fn lays its input out (runners.to_device)
        y = y.astype(np.float32) if isinstance(y, np.ndarray) else y.float()
        total = y if total is None else total + y
    return total / len(views)
