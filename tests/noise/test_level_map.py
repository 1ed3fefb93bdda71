"""The noise level measured on noisy data: one per image, and a map over the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medenoise.noise.measured_level import haar_level, haar_level_map


def _two_levels(seed: int = 0) -> torch.Tensor:
    """(1, 1, 256, 256): a smooth ramp with noise std 0.02 on the left half, 0.06 on the right."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.3, 0.7, 256)[None, :].repeat(256, 0)
    sigma = np.where(np.arange(256)[None, :] < 128, 0.02, 0.06)
    return torch.from_numpy(ramp + sigma * rng.normal(size=(256, 256)))[None, None]


def test_level_map_reads_each_region_at_its_own_level():
    level = haar_level_map(_two_levels())[0, 0].numpy()
    assert level.shape == (256, 256)
    assert level[:, :96].mean() == pytest.approx(0.02, rel=0.1)
    assert level[:, 160:].mean() == pytest.approx(0.06, rel=0.1)
    # one level for the whole image sits between the two and fits neither
    whole = float(haar_level(_two_levels())[0, 0])
    assert 0.025 < whole < 0.055


def test_level_map_pools_the_pixel_shuffle_views():
    plane = _two_levels(1)
    views = F.pixel_unshuffle(plane, 2).reshape(4, 1, 128, 128)
    level = haar_level_map(views, tile=8)[0, 0].numpy()
    assert level.shape == (128, 128)
    assert level[:, :48].mean() == pytest.approx(0.02, rel=0.1)
    assert level[:, 80:].mean() == pytest.approx(0.06, rel=0.1)


def test_clipped_tiles_take_the_whole_planes_level():
    plane = _two_levels(2)
    plane[..., :64, :64] = 0.0  # air at the range's end: nothing to measure there
    level = haar_level_map(plane)[0, 0].numpy()
    whole = float(haar_level(plane)[0, 0])
    assert level[8, 8] == pytest.approx(whole, rel=1e-6)
    with pytest.raises(ValueError, match="at least"):
        haar_level_map(plane[..., :16, :16])
