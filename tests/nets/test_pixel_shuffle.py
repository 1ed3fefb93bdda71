"""Pixel-shuffle downsampling: exact round trip, sub-image layout, stride from measured noise."""

import numpy as np
import pytest
import torch

from medenoise.correlated import (
    PixelShuffleDenoiser,
    grid_shifts,
    stride_for,
    stride_from_profile,
    struct_extent,
)
from medenoise.errors import UserError
from medenoise.inference.denoiser import ArrayDenoiser
from medenoise.inspection.profile import NoiseProfile
from medenoise.nets.pixel_shuffle import pd_merge, pd_split


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (1, 3, 37, 50), (3, 1, 5, 7), (1, 1, 2, 3)])
def test_round_trip_is_exact(k, shape):
    x = torch.randn(shape)
    sub = pd_split(x, k)
    assert sub.shape == (shape[0] * k * k, shape[1], -(-shape[2] // k), -(-shape[3] // k))
    assert torch.equal(pd_merge(sub, k, *shape[-2:]), x)


def test_sub_images_hold_every_kth_pixel():
    x = torch.arange(2 * 2 * 6 * 9, dtype=torch.float32).reshape(2, 2, 6, 9)
    sub = pd_split(x, 3)
    for n in range(2):
        for i in range(3):
            for j in range(3):
                assert torch.equal(sub[n * 9 + i * 3 + j], x[n, :, i::3, j::3])


def test_padding_is_a_reflection():
    x = torch.arange(5.0).reshape(1, 1, 1, 5).expand(1, 1, 5, 5).contiguous()
    sub = pd_split(x, 2)  # 5 → 6 columns: the sixth is column 3 reflected about column 4
    assert torch.equal(sub[1, 0, 0], torch.tensor([1.0, 3.0, 3.0]))


def test_split_rejects_bad_input():
    with pytest.raises(ValueError, match="N,C,H,W"):
        pd_split(torch.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="stride"):
        pd_split(torch.zeros(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match="multiple"):
        pd_merge(torch.zeros(3, 1, 2, 2), 2, 4, 4)


def profile(corr_x, corr_y):
    return NoiseProfile(
        source="synthetic", shape=(64, 64, 1), value_range=(0.0, 1.0), range_source="[0, 1]",
        sigma=0.1, pg_a=0.0, pg_b=0.01, pg_fit_r2=1.0, corr_x=corr_x, corr_y=corr_y,
        clipped_low=0.0, clipped_high=0.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    "corr_x,corr_y,stride,extent",
    [
        ((0.02, -0.01, 0.0), (0.03, 0.0, 0.01), 1, (0, 0)),  # white
        ((0.2, 0.02, 0.0), (0.05, 0.0, 0.0), 2, (0, 1)),  # sharp-kernel CT, along x only
        ((0.67, 0.33, 0.0), (0.67, 0.33, 0.0), 3, (2, 2)),  # 3×3 box
        ((0.8, 0.4, 0.15), (0.3, 0.05, 0.0), 4, (1, 3)),  # interpolated MR, lag 3 still 0.15
        ((-0.3, 0.05, 0.0), (0.0, 0.0, 0.0), 2, (0, 1)),  # anticorrelated counts too
        ((0.09, 0.0, 0.0), (0.1, 0.0, 0.0), 2, (1, 0)),  # the threshold itself is correlated
    ],
)
def test_stride_and_extent_from_the_profile(corr_x, corr_y, stride, extent):
    p = profile(corr_x, corr_y)
    assert stride_from_profile(p) == stride
    assert stride_for(corr_x, corr_y) == stride
    assert struct_extent(p) == extent


def test_grid_shifts_are_distinct_and_start_unshifted():
    assert grid_shifts(2, 1) == [(0, 0)]
    assert grid_shifts(2, 2) == [(0, 0), (1, 1)]
    assert sorted(grid_shifts(3, 99)) == [(a, b) for a in range(3) for b in range(3)]


class Recorder(ArrayDenoiser):
    """Records the planes it is given and returns them times two (a known, pointwise map)."""

    config = None
    source = "recorder"

    def __init__(self):
        self.seen = []

    def denoise_planes(self, planes, noise=None):
        self.seen.append(planes.copy())
        return planes * 2


@pytest.mark.parametrize("k,shifts", [(1, 1), (2, 1), (2, 4), (3, 3)])
def test_wrapper_sends_sub_images_and_merges_back(k, shifts):
    inner = Recorder()
    planes = np.random.default_rng(0).random((2, 20, 23, 1), dtype=np.float32)
    out = PixelShuffleDenoiser(inner, k, shifts).denoise_planes(planes)
    np.testing.assert_allclose(out, planes * 2, rtol=1e-6)
    assert len(inner.seen) == (1 if k == 1 else shifts)
    assert inner.seen[0].shape == (2 * k * k, -(-20 // k), -(-23 // k), 1)
    if k > 1:  # sub-image 1 holds columns 1, 1+k, ... of the first plane
        want = planes[0, ::k, 1::k, 0]
        np.testing.assert_array_equal(inner.seen[0][1, : want.shape[0], : want.shape[1], 0], want)


def test_auto_stride_follows_the_image_noise():
    from scipy.ndimage import uniform_filter

    from medenoise.data.io import from_array

    rng = np.random.default_rng(0)
    white = rng.normal(0.5, 0.05, (256, 256)).astype(np.float32)
    boxed = (0.5 + uniform_filter(rng.normal(0, 0.15, (256, 256)), 3, mode="wrap")).astype(
        np.float32
    )
    den = PixelShuffleDenoiser(Recorder(), None)
    for arr, stride in ((white, 1), (boxed, 3)):
        den.denoise_image(from_array(arr))
        assert den.last_stride == stride


def test_r3_refine_averages_the_prior_mean_over_noisy_replacements(tiny_model):
    from medenoise.correlated import R3_FRACTION, prior_mean, r3_refine
    from medenoise.inference.denoiser import Denoiser

    den = Denoiser(tiny_model("ssdn", noise="gaussian:5-50", noise_param="per-image"), "m")
    rng = np.random.default_rng(0)
    noisy = rng.random((1, 40, 36, 1), dtype=np.float32)
    smooth = np.full_like(noisy, 0.5)
    mu = prior_mean(den, noisy)
    assert mu.shape == noisy.shape and not np.allclose(mu, noisy)
    # first estimate equal to the noisy input: every round is the same, the mean is μ(noisy)
    np.testing.assert_allclose(r3_refine(den, noisy, noisy, 3), mu, atol=1e-6)
    one = r3_refine(den, noisy, smooth, 1, seed=5)
    keep = np.random.default_rng(5).random((1, 40, 36, 1)) < R3_FRACTION
    np.testing.assert_allclose(one, prior_mean(den, np.where(keep, noisy, smooth)), atol=1e-6)
    out = PixelShuffleDenoiser(den, 2, refine=2).denoise_planes(noisy)
    assert out.shape == noisy.shape and np.isfinite(out).all()
    with pytest.raises(UserError, match="blind-spot"):
        r3_refine(Denoiser(tiny_model("n2v"), "p"), noisy, noisy, 1)
