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

import torch

View = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def _rot(k: int, flip: bool) -> View:
    """(forward, inverse) of 'rotate k quarter turns, after a left-right mirror if `flip`'."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = torch.flip(x, dims=(-1,)) if flip else x
        return torch.rot90(x, k, dims=(-2, -1)) if k else x

    def inverse(y: torch.Tensor) -> torch.Tensor:
        y = torch.rot90(y, -k, dims=(-2, -1)) if k else y
        return torch.flip(y, dims=(-1,)) if flip else y

    return forward, inverse


def ensemble_views(blind_spot: bool, student: bool = False) -> list[View]:
    """Identity and mirror for blind-spot nets and students; the 8 symmetries otherwise."""
    if blind_spot or student:
        return [_rot(0, False), _rot(0, True)]
    return [_rot(k, flip) for flip in (False, True) for k in range(4)]


def ensembled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, views: list[View]):
    """Mean over `views` of inverse(fn(forward(x))), accumulated in float32."""
    total = None
    for forward, inverse in views:
        y = inverse(fn(forward(x))).float()  # fn lays its input out (runners.to_device)
        total = y if total is None else total + y
    return total / len(views)
