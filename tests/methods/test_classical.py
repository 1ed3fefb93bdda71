"""Tests for the training-free baselines: BM3D wrapper, GAT exact inverse, VST+BM3D, estimators."""

import numpy as np
import pytest
from skimage import data

from medenoise.eval.metrics import psnr
from medenoise.methods.classical import (
    bm3d_denoise,
    estimate_poisson_gaussian,
    estimate_sigma,
    gat,
    gat_inverse,
    gat_inverse_algebraic,
    gat_inverse_closed_form,
    nlm_denoise,
    vst_bm3d,
)

SIGMA = 25.0 / 255.0
LAM = 30.0


@pytest.fixture(scope="module")
def clean():
    return data.camera()[100:228, 100:228].astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def gaussian_noisy(clean):
    return clean + np.random.default_rng(0).normal(0.0, SIGMA, clean.shape)


@pytest.fixture(scope="module")
def poisson_noisy(clean):
    return np.random.default_rng(1).poisson(LAM * clean) / LAM


def test_bm3d_matches_reference_and_denoises(clean, gaussian_noisy):
    import bm3d

    ours = bm3d_denoise(gaussian_noisy, SIGMA)
    ref = bm3d.bm3d(gaussian_noisy, SIGMA)
    p_ours, p_ref, p_noisy = psnr(ours, clean), psnr(ref, clean), psnr(gaussian_noisy, clean)
    print(f"noisy {p_noisy:.2f} dB, bm3d_denoise {p_ours:.2f} dB, bm3d.bm3d {p_ref:.2f} dB")
    assert abs(p_ours - p_ref) < 0.3
    assert p_ours - p_noisy > 5.0
    assert ours.shape == clean.shape


def test_bm3d_shapes():
    rgb = data.astronaut()[200:264, 200:264].astype(np.float32) / 255.0
    noisy = rgb + np.random.default_rng(2).normal(0, 0.1, rgb.shape).astype(np.float32)
    out = bm3d_denoise(noisy, 0.1)
    assert out.shape == rgb.shape and out.dtype == np.float32
    assert psnr(out, rgb) > psnr(noisy, rgb) + 3
    gray = noisy[..., :1]
    out1 = bm3d_denoise(gray)  # sigma estimated
    assert out1.shape == gray.shape


def test_vst_bm3d_beats_plain_bm3d_on_poisson(clean, poisson_noisy):
    plain_sigma = float(np.sqrt(clean.mean() / LAM))
    vst = psnr(vst_bm3d(poisson_noisy, 1.0 / LAM, 0.0), clean)
    plain = psnr(bm3d_denoise(poisson_noisy, plain_sigma), clean)
    # also the best of a few constant sigmas, so the win is not an artefact of a bad sigma
    best_const = max(psnr(bm3d_denoise(poisson_noisy, s), clean) for s in (0.12, 0.15, 0.2))
    print(
        f"noisy {psnr(poisson_noisy, clean):.2f}, vst {vst:.2f}, bm3d {plain:.2f}, "
        f"best const {best_const:.2f}"
    )
    assert vst > plain + 1.0
    assert vst > best_const + 0.3


def test_vst_bm3d_with_estimated_parameters(clean, poisson_noisy):
    out = vst_bm3d(poisson_noisy)
    assert psnr(out, clean) > psnr(poisson_noisy, clean) + 8


@pytest.mark.parametrize("a, sigma", [(1.0, 0.0), (1.0, 0.5), (0.1, 0.02)])
def test_exact_inverse_is_unbiased(a, sigma):
    rng = np.random.default_rng(3)
    n = 400_000
    for counts in (0.2, 1.0, 3.0, 10.0):
        x = counts * a
        y = a * rng.poisson(counts, n) + rng.normal(0.0, sigma, n)
        mean_d = gat(y, a, sigma).mean()  # Monte Carlo E[f(y) | x]
        exact = float(gat_inverse(mean_d, a, sigma))
        assert exact == pytest.approx(x, abs=a * (0.02 + 0.01 * counts))
        if counts <= 1.0:  # algebraic inverse visibly biased at low counts
            assert abs(float(gat_inverse_algebraic(mean_d, a, sigma)) - x) > 0.04 * a


def test_closed_form_close_to_exact_for_poisson():
    d = np.linspace(1.5, 40.0, 50)
    assert np.allclose(gat_inverse_closed_form(d, 1.0), gat_inverse(d, 1.0), atol=0.02)
    # large values: algebraic, closed form and exact agree up to the constant offset 1/4
    big = np.array([200.0])
    assert gat_inverse(big, 1.0) == pytest.approx(gat_inverse_algebraic(big, 1.0) + 0.25, abs=1e-2)


def test_gat_stabilises_variance():
    rng = np.random.default_rng(4)
    for counts in (5.0, 20.0, 80.0):
        y = 0.5 * rng.poisson(counts, 200_000) + rng.normal(0, 0.3, 200_000)
        assert gat(y, 0.5, 0.3).std() == pytest.approx(1.0, abs=0.05)


def test_gaussian_limit_is_affine():
    y = np.array([-0.1, 0.3, 1.2])
    assert np.allclose(gat_inverse(gat(y, 0.0, 0.1), 0.0, 0.1), y)


def test_estimate_sigma(gaussian_noisy):
    assert estimate_sigma(gaussian_noisy) == pytest.approx(SIGMA, rel=0.15)


def test_estimate_poisson_gaussian(gaussian_noisy, poisson_noisy):
    a, b = estimate_poisson_gaussian(poisson_noisy)
    assert a == pytest.approx(1.0 / LAM, rel=0.25)
    assert abs(b) < 0.25 / LAM * 0.2  # small next to the Poisson variance at mid-grey
    a, b = estimate_poisson_gaussian(gaussian_noisy)
    assert b == pytest.approx(SIGMA**2, rel=0.2)
    assert a < 0.1 * SIGMA**2 / 0.5


def test_nlm_denoises(clean, gaussian_noisy):
    assert psnr(nlm_denoise(gaussian_noisy, SIGMA), clean) > psnr(gaussian_noisy, clean) + 5
