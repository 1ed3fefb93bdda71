"""Tests for medenoise.eval.metrics: agreement with skimage and hand-checked values."""

import math

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from medenoise.eval.metrics import PROTOCOL, psnr, psnr_8bit, relative_gain, ssim, to_uint8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_matches_skimage(seed):
    rng = np.random.default_rng(seed)
    ref = rng.random((32, 40))
    x = ref + rng.normal(0, 0.1, ref.shape)
    assert psnr(x, ref) == pytest.approx(peak_signal_noise_ratio(ref, x, data_range=1.0))
    assert psnr(x, ref, 2.0) == pytest.approx(peak_signal_noise_ratio(ref, x, data_range=2.0))


def test_psnr_identical_is_inf():
    a = np.zeros((4, 4))
    assert psnr(a, a) == math.inf


def test_psnr_8bit_hand_checked():
    ref = np.array([[0.0, 0.5], [1.0, 0.2]])
    x = np.array([[0.01, 0.5], [1.2, -0.3]])
    # ref -> [0, 128, 255, 51]; x -> [3, 128, 255, 0]: squared errors 9, 0, 0, 2601.
    assert to_uint8(ref).tolist() == [[0, 128], [255, 51]]
    assert to_uint8(x).tolist() == [[3, 128], [255, 0]]
    expected = 10 * math.log10(255**2 / ((9 + 2601) / 4))
    assert psnr_8bit(x, ref) == pytest.approx(expected)


def _textured_pair():
    clean = data.camera()[100:228, 100:228].astype(np.float64) / 255.0
    noisy = clean + np.random.default_rng(0).normal(0, 0.1, clean.shape)
    return noisy, clean


def test_ssim_matches_skimage_with_wang_settings():
    noisy, clean = _textured_pair()
    want = structural_similarity(
        noisy,
        clean,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        K1=0.01,
        K2=0.03,
    )
    assert ssim(noisy, clean) == pytest.approx(want)
    default = structural_similarity(noisy, clean, data_range=1.0)  # uniform 7x7 window
    assert abs(ssim(noisy, clean) - default) > 1e-3


def test_ssim_channel_handling():
    noisy, clean = _textured_pair()
    assert ssim(noisy[..., None], clean[..., None]) == pytest.approx(ssim(noisy, clean))
    rgb_n = np.stack([noisy, noisy[::-1], noisy.T], -1)
    rgb_c = np.stack([clean, clean[::-1], clean.T], -1)
    per_channel = np.mean([ssim(rgb_n[..., c], rgb_c[..., c]) for c in range(3)])
    assert ssim(rgb_n, rgb_c) == pytest.approx(per_channel)
    assert ssim(clean, clean) == pytest.approx(1.0)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        psnr(np.zeros((3, 3)), np.zeros((3, 4)))


def test_relative_gain_and_protocol():
    assert relative_gain(30.0, 20.0) == pytest.approx(0.5)
    assert relative_gain(0.6, 0.8) == pytest.approx(-0.25)
    assert {"psnr", "psnr_8bit", "ssim", "relative_gain"} <= set(PROTOCOL)


def test_affine_fit_undoes_another_gain_and_offset_per_channel():
    from medenoise.eval.metrics import affine_fit

    rng = np.random.default_rng(3)
    ref = rng.random((32, 40, 2))
    scaled = ref * np.array([0.55, 1.7]) + np.array([0.07, -0.2])
    np.testing.assert_allclose(affine_fit(scaled, ref), ref, atol=1e-12)
    noisy = ref + rng.normal(0, 0.05, ref.shape)
    fitted = affine_fit(noisy, ref)
    # least squares: the fit is never farther from the reference than the input itself
    assert np.mean((fitted - ref) ** 2) <= np.mean((noisy - ref) ** 2)
    assert affine_fit(np.full((8, 8), 0.3), np.arange(64.0).reshape(8, 8)).std() == 0.0
