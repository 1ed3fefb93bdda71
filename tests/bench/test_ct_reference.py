"""The semi-synthetic CT benchmark's noise: measured texture in, the same texture out."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
ct_reference = pytest.importorskip("ct_reference")

R = ct_reference.RADIUS


def _acov_of_blur(sigma_px: float, std: float) -> np.ndarray:
    """Exact (2R+1)² autocovariance of white noise blurred by a Gaussian, scaled to std."""
    lags = np.arange(-R, R + 1)
    d2 = lags[:, None] ** 2 + lags[None, :] ** 2
    return std**2 * np.exp(-d2 / (4 * sigma_px**2))


def test_correlated_noise_has_the_requested_autocovariance():
    acov = _acov_of_blur(1.0, 20.0)
    noise = ct_reference.correlated_noise(acov, (512, 512), seed=0)
    assert noise.std() == pytest.approx(20.0, rel=1e-6)  # scaled to the lag-0 value exactly
    f = np.fft.fft2(noise)
    emp = np.real(np.fft.ifft2(f * np.conj(f))) / noise.size
    for dy, dx in [(0, 1), (1, 0), (0, 2), (2, 2), (0, 4)]:
        assert emp[dy, dx] / emp[0, 0] == pytest.approx(acov[R + dy, R + dx] / acov[R, R], abs=0.02)


def test_measured_autocovariance_recovers_the_noise_of_a_flat_phantom():
    """A soft-tissue phantom (40 HU on a gentle ramp, which the local mean removes) plus noise of a
    known texture: the measure reads that texture back from the flat tiles."""
    acov = _acov_of_blur(1.2, 15.0)
    yy, xx = np.mgrid[:256, :256]
    phantom = 40.0 + 0.05 * xx + 0.03 * yy
    noisy = phantom + ct_reference.correlated_noise(acov, (256, 256), seed=1)
    rho_true = acov[R, R + 1 : R + 4] / acov[R, R]
    wide = ct_reference.measured_autocovariance(noisy, smooth=16.0)
    assert np.sqrt(wide[R, R]) == pytest.approx(15.0, rel=0.05)
    assert wide[R, R + 1 : R + 4] / wide[R, R] == pytest.approx(rho_true, abs=0.05)
    # the default 4-px mean takes part of the noise's slow part: low, never high
    narrow = ct_reference.measured_autocovariance(noisy)
    assert 0.8 * 15.0 < np.sqrt(narrow[R, R]) < np.sqrt(wide[R, R])
    assert np.all(narrow[R, R + 1 : R + 4] / narrow[R, R] < rho_true)


def test_flat_phantom_with_white_noise_measures_no_correlation():
    rng = np.random.default_rng(2)
    plane = 40.0 + rng.normal(0, 10.0, (256, 256))
    measured = ct_reference.measured_autocovariance(plane)
    assert np.sqrt(measured[R, R]) == pytest.approx(10.0, rel=0.03)
    assert abs(measured[R, R + 1] / measured[R, R]) < 0.05
    assert abs(measured[R + 1, R] / measured[R, R]) < 0.05
