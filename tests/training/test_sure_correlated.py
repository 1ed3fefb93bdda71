"""SURE under spatially correlated noise: the neighbour term (noise/sure.py) is what the
prior's view of its neighbours' shared noise adds to the error, and `--adapt` carries it in
its loss and guard when the planes' noise is measured correlated."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medenoise.noise.sure import neighbour_kernel, neighbour_term, sure_risk
from tiny_models import make_tiny_model

SIGMA = 25 / 255
RHO_X = 0.5  # lag-1 correlation along x of noise filtered by [1, 1] / √2


def _correlated(shape, seed: int) -> np.ndarray:
    """Noise of std SIGMA whose neighbours along x correlate by RHO_X (and nothing else)."""
    white = np.random.default_rng(seed).normal(0, SIGMA, (shape[0], shape[1] + 1))
    return ((white[:, 1:] + white[:, :-1]) / np.sqrt(2)).astype(np.float32)


def _kernel(rho_x: float = RHO_X, rho_y: float = 0.0) -> torch.Tensor:
    k = torch.zeros(7, 7, dtype=torch.float64)
    k[3, 3], k[3, 2], k[3, 4], k[2, 3], k[4, 3] = 1.0, rho_x, rho_x, rho_y, rho_y
    return k


def test_the_kernel_drops_lag_zero_and_lags_white_noise_measures():
    k = neighbour_kernel(_kernel(0.4, 0.05))
    assert k[3, 3] == 0 and k[3, 4] == pytest.approx(0.4) and k[4, 3] == 0
    assert neighbour_kernel(_kernel(0.05, -0.04)) is None


def test_the_term_equals_the_exact_sum_for_a_linear_estimate():
    """For x̂ = w ⋆ y the Jacobian is w itself: the term is 2σ²·Σ_d ρ(d)·w(d), d ≠ 0."""
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 1, 1], w[0, 0, 1, 2], w[0, 0, 2, 1] = 0.2, 0.5, 0.3  # centre, x+1, y+1

    def estimate(v):
        return F.conv2d(v, w, padding=1)

    y = torch.rand(1, 1, 192, 192)
    variance = torch.full_like(y, SIGMA**2, dtype=torch.float64)
    kernel = neighbour_kernel(_kernel(0.4, 0.2))
    gen = torch.Generator().manual_seed(0)
    terms = [
        neighbour_term(estimate, y, estimate(y), variance, kernel, gen)[..., 2:-2, 2:-2].mean()
        for _ in range(8)
    ]
    want = 2 * SIGMA**2 * (0.4 * 0.5 + 0.2 * 0.3)
    assert float(sum(terms) / len(terms)) == pytest.approx(want, rel=0.05)


def test_with_the_term_sure_estimates_a_blind_spot_filters_error_under_correlated_noise():
    """A blind-spot estimate (the mean of the 4 neighbours) never sees its own pixel, yet
    under correlated noise it shares noise with it: plain SURE then reads the error too
    low by about 2σ²·ρ/2, the term puts it back."""
    side = 256
    yy, xx = np.mgrid[0:side, 0:side] / side
    clean = (0.3 + 0.4 * np.sin(3 * xx) * np.cos(2 * yy)).astype(np.float32)
    noisy = clean + _correlated(clean.shape, seed=1)
    cross = torch.tensor([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]])[None, None]

    def estimate(v):
        return F.conv2d(v, cross, padding=1)

    y = torch.from_numpy(noisy)[None, None]
    x = estimate(y)
    inner = (..., slice(4, -4), slice(4, -4))
    true = float(((x - torch.from_numpy(clean)) ** 2)[inner].mean())
    variance = torch.full_like(y, SIGMA**2, dtype=torch.float64)
    plain = sure_risk(x.double(), y, variance, torch.zeros_like(variance))[inner].mean()
    term = neighbour_term(estimate, y, x, variance, neighbour_kernel(_kernel()))[inner].mean()
    assert float(plain) < true - 0.4 * SIGMA**2  # the shared noise looks like a gain
    assert float(plain + term) == pytest.approx(true, abs=0.05 * SIGMA**2)


def _smooth_planes(seed: int, correlated: bool) -> list[np.ndarray]:
    side = 256
    yy, xx = np.mgrid[0:side, 0:side] / side
    clean = (0.4 + 0.2 * xx + 0.1 * yy).astype(np.float32)
    rng = np.random.default_rng(seed)
    noise = _correlated(clean.shape, seed) if correlated else rng.normal(0, SIGMA, clean.shape)
    return [(clean + noise).astype(np.float32)]


@pytest.mark.parametrize("correlated", [True, False])
def test_adapt_measures_the_correlation_where_it_measures_the_level(tmp_path, correlated):
    """A model with one learned level adapts at the level and correlation measured on the
    planes: the x-lag the noise has, nothing along y; white noise gives no term."""
    from medenoise.adaptation import adapt
    from medenoise.modelfile import save_model

    model = make_tiny_model("ssdn", noise="gaussian", noise_param="global")
    path = save_model(model, tmp_path / "m.st")
    tuned = adapt(str(path), _smooth_planes(3, correlated), 2)
    assert tuned.module.train_config.method_options.objective == "sure"
    kernel = tuned.module.sure_kernel
    if not correlated:
        assert kernel is None
        return
    assert kernel[3, 4] == pytest.approx(RHO_X, abs=0.1) and kernel[4, 3] == 0


def test_a_given_level_is_taken_as_white(tmp_path):
    """The user's spec is taken as stated: white without `kernel=`, even over correlated
    planes (the measurement misreads texture on small textured slices)."""
    from medenoise.adaptation import adapt
    from medenoise.modelfile import save_model

    path = save_model(make_tiny_model("ssdn", noise="gaussian:5-50"), tmp_path / "m.st")
    planes = _smooth_planes(3, correlated=True)
    assert adapt(str(path), planes, 2, noise="gaussian:25").module.sure_kernel is None
