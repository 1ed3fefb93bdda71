"""The estimators recover known noise: Poisson-Gaussian (a, b), the correlation of filtered
white noise, white noise as white, clipping, and volumes; all on generated images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import convolve2d
from skimage import data, filters

from medenoise.inspection.correlation import correlation_map, solve_correlation
from medenoise.inspection.estimate import haar_sigma, measure


def smooth_scene() -> np.ndarray:
    """A clean image with a spread of intensities (0.1-0.9) and edges: camera, smoothed."""
    return filters.gaussian(data.camera() / 255.0, 3) * 0.8 + 0.1


def kernel_correlation(kernel: np.ndarray, dy: int, dx: int) -> float:
    """True correlation at lag (dy, dx) of white noise convolved with `kernel`."""
    k = np.asarray(kernel, dtype=np.float64)
    h, w = k.shape
    padded = np.zeros((h + 2 * abs(dy), w + 2 * abs(dx)))
    padded[abs(dy) : abs(dy) + h, abs(dx) : abs(dx) + w] = k
    shifted = np.roll(np.roll(padded, dy, 0), dx, 1)
    return float((padded * shifted).sum() / (k * k).sum())


@pytest.mark.parametrize("a, b", [(0.01, 0.001), (0.002, 0.0002), (0.004, -0.0003)])
def test_poisson_gaussian_parameters_within_ten_percent(a, b):
    rng = np.random.default_rng(1)
    clean = smooth_scene()
    if b >= 0:
        noisy = rng.poisson(clean / a) * a + rng.normal(0.0, np.sqrt(b), clean.shape)
    else:  # a pedestal c: photons counted above it, so variance = a·(x - c) = a·x + b
        c = -b / a
        noisy = rng.poisson((clean - c) / a) * a + c
    p = measure(noisy[..., None])
    assert p.pg_a == pytest.approx(a, rel=0.1)
    assert p.pg_b == pytest.approx(b, rel=0.1)
    assert p.pg_fit_r2 > 0.9
    assert len(p.bins) >= 8


def test_a_few_photons_over_a_narrow_span_still_fit_a_slope():
    # A widefield plane at a few photons per pixel: its intensities span less than two noise
    # std's, yet the variance changes 3x across them. That is signal-dependent noise, not one
    # grey level, and must not be reported as a = 0.
    rng = np.random.default_rng(4)
    a, b = 0.15, -0.01  # photons counted above a pedestal c = 0.067
    clean = np.tile(np.linspace(0.1, 0.3, 512), (512, 1))
    noisy = rng.poisson((clean + b / a) / a) * a - b / a
    p = measure(noisy[..., None])
    span = np.ptp([x for x, _ in p.bins])
    assert span < 2 * np.sqrt(np.median([v for _, v in p.bins]))  # the narrow case
    assert p.pg_a == pytest.approx(a, rel=0.15)
    assert p.pg_fit_r2 > 0.9


def test_white_noise_is_white():
    rng = np.random.default_rng(2)
    noisy = 0.5 + rng.normal(0.0, 0.05, (256, 256))
    p = measure(noisy[..., None])
    for lag in (*p.corr_x, *p.corr_y):
        assert abs(lag) < 0.05
    assert p.sigma == pytest.approx(0.05, rel=0.05)
    assert p.extra["noise_std"] == pytest.approx(0.05, rel=0.05)
    # one grey level: no slope to fit, the whole variance is the offset b
    assert p.pg_a == 0.0
    assert p.pg_b == pytest.approx(0.05**2, rel=0.1)


@pytest.mark.parametrize(
    "kernel",
    [np.array([[1.0, 1.0]]), np.ones((3, 3)), np.array([[1.0, 2.0, 1.0]]).T @ [[1.0, 1.0]]],
)
def test_filtered_noise_correlation_recovered(kernel):
    rng = np.random.default_rng(3)
    white = rng.normal(size=(300, 300))
    noise = convolve2d(white, kernel / np.sqrt((kernel**2).sum()), mode="valid")[:256, :256]
    p = measure((0.5 + 0.03 * noise)[..., None])
    for k in (1, 2, 3):
        assert p.corr_x[k - 1] == pytest.approx(kernel_correlation(kernel, 0, k), abs=0.05)
        assert p.corr_y[k - 1] == pytest.approx(kernel_correlation(kernel, k, 0), abs=0.05)
    # the noise std is corrected for the correlation (a white-noise formula would be low)
    assert p.extra["noise_std"] == pytest.approx(0.03, rel=0.1)


def test_correlation_on_a_scene_is_measured_in_flat_areas_only():
    rng = np.random.default_rng(4)
    noise = convolve2d(rng.normal(size=(520, 520)), np.ones((1, 2)) / np.sqrt(2), mode="valid")
    noisy = smooth_scene() + 0.04 * noise[:512, :512]
    p = measure(noisy[..., None])
    assert p.corr_x[0] == pytest.approx(0.5, abs=0.1)
    assert abs(p.corr_y[0]) < 0.1


def test_detrending_bias_is_removed_exactly():
    # white noise: the raw lag products of detrended blocks are negative; the solve undoes it
    rng = np.random.default_rng(5)
    from medenoise.inspection.correlation import detrend_matrix, raw_lag_products

    blocks = rng.normal(size=(4000, 256)) @ detrend_matrix(16)
    products = raw_lag_products(blocks.reshape(-1, 16, 16))
    assert products[1] / products[0] < -0.01
    rho, variance = solve_correlation(products, 16)
    cmap = correlation_map(rho)
    assert np.abs(cmap - np.eye(7)[3][None, :] * np.eye(7)[3][:, None]).max() < 0.02
    assert variance == pytest.approx(1.0, rel=0.02)


def test_clipping_counted_at_range_ends_and_pileups():
    rng = np.random.default_rng(6)
    clean = np.linspace(0.02, 0.98, 256)[None, :].repeat(256, 0)
    noisy = np.clip(clean + rng.normal(0.0, 0.05, clean.shape), 0.0, 1.0)
    p = measure(noisy[..., None])
    assert p.clipped_low == pytest.approx(np.mean(noisy == 0.0), abs=1e-9)
    assert p.clipped_high == pytest.approx(np.mean(noisy == 1.0), abs=1e-9)
    assert p.clipped_low > 0.01
    # a pile-up inside the range (a scanner's clip) counts too; padding far below does not
    y = (np.round((0.5 + 0.02 * rng.normal(size=(256, 256))) * 4000) / 4000).astype(np.float32)
    floor = np.float32(np.round(0.49 * 4000) / 4000)
    y = np.maximum(y, floor)
    y[:, :40] = 0.1  # constant padding, far from the data
    q = measure(y[..., None])
    assert q.clipped_low == pytest.approx(np.mean(y == floor), abs=1e-9)
    assert 0.2 < q.clipped_low < 0.4


def test_volume_planes_sampled_and_pooled():
    rng = np.random.default_rng(7)
    volume = 0.5 + rng.normal(0.0, 0.04, (40, 96, 96, 1))
    p = measure(volume)
    assert p.shape == (40, 96, 96, 1)
    assert p.sigma == pytest.approx(0.04, rel=0.05)
    assert p.extra["blocks"] == 12 * 36  # 12 planes of 6 × 6 blocks


def test_flat_and_tiny_images_measure_nothing():
    flat = measure(np.full((64, 64, 1), 0.3))
    assert flat.sigma == 0.0 and flat.extra["blocks"] == 0
    tiny = measure(np.random.default_rng(8).normal(0.5, 0.1, (12, 12, 1)))
    assert tiny.extra["flat_blocks"] == 0


def test_haar_sigma_is_the_classical_estimator():
    from medenoise.methods.classical import estimate_sigma

    image = np.random.default_rng(9).normal(0.5, 0.07, (64, 64))
    blocks = image.reshape(4, 16, 4, 16).swapaxes(1, 2).reshape(-1, 16, 16)
    assert haar_sigma(blocks) == pytest.approx(estimate_sigma(image), rel=1e-12)


def test_fast_on_a_slice():
    import time

    noisy = smooth_scene() + np.random.default_rng(10).normal(0, 0.02, (512, 512))
    measure(noisy[..., None])  # warm the cached matrices
    start = time.perf_counter()
    measure(noisy[..., None])
    assert time.perf_counter() - start < 1.0
