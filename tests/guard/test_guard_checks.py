"""The guard's checks on synthetic cases: silent when what was removed is the measured noise,
a finding when too much, coarse structure or edges were removed, when the output leaves the
input's range, and when a blind-spot model met correlated noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medenoise.data.io.meta import Scaling
from medenoise.guard import (
    ModelInfo,
    check_output,
    checks,
    derivation_note,
    to_profile_scale,
    warning_line,
)
from medenoise.inspection.profile import NoiseProfile, Verdict

SSDN = ModelInfo("ssdn-gauss5-50-gray", "ssdn")
BM3D = ModelInfo("bm3d", "bm3d")


def profile(sigma, corr=(0.0, 0.0, 0.0), pg_a=0.0, verdict=None) -> NoiseProfile:
    """A profile with noise variance pg_a·x + sigma² and the same correlation along x and y."""
    return NoiseProfile(
        source="test", shape=(128, 128, 1), value_range=(0.0, 1.0), range_source="test",
        sigma=sigma, pg_a=pg_a, pg_b=sigma**2, pg_fit_r2=1.0, corr_x=corr, corr_y=corr,
        clipped_low=0.0, clipped_high=0.0, verdict=verdict,
    )  # fmt: skip


def textured(seed=0, n=128) -> np.ndarray:
    """A clean image with edges and texture on [0.2, 0.8]: smooth blobs plus a checkerboard."""
    rng = np.random.default_rng(seed)
    blobs = ndimage.gaussian_filter(rng.normal(size=(n, n)), 4)
    blobs = (blobs - blobs.min()) / np.ptp(blobs)
    y, x = np.mgrid[:n, :n]
    checker = ((y // 8 + x // 8) % 2) * 0.2
    return 0.2 + 0.4 * blobs + checker


def test_silent_when_the_output_is_the_clean_image():
    rng = np.random.default_rng(1)
    clean = textured()
    noisy = clean + rng.normal(0, 0.05, clean.shape)
    result = check_output(noisy, clean, profile(0.05), SSDN)
    assert not result.flagged, result.findings
    assert result.figures["energy_ratio"] == pytest.approx(1.0, abs=0.05)
    assert result.figures["low_freq_share"] == pytest.approx(0.05, abs=0.02)
    assert abs(result.figures["edge_correlation"]) < 0.1
    assert warning_line("a.png", result) == ""


def test_silent_on_signal_dependent_noise_with_its_fit():
    rng = np.random.default_rng(2)
    clean = textured()
    a = 0.01
    noisy = clean + rng.normal(size=clean.shape) * np.sqrt(a * clean)
    fitted = profile(0.0, pg_a=a)
    assert not check_output(noisy, clean, fitted, SSDN).flagged
    # the same image judged with the noise level of its darkest part removes "too much"
    dark = profile(float(np.sqrt(a * 0.05)))
    assert check_output(noisy, clean, dark, BM3D).figures["energy_ratio"] > 2


def test_heavy_blur_of_a_textured_image_is_flagged():
    rng = np.random.default_rng(3)
    noisy = textured() + rng.normal(0, 0.01, (128, 128))
    blurred = ndimage.gaussian_filter(noisy, 3)
    result = check_output(noisy, blurred, profile(0.01), BM3D)
    assert result.flagged
    assert result.figures["energy_ratio"] > checks.ENERGY_LIMIT
    line = warning_line("scan.dcm", result)
    assert line.startswith("warning: scan.dcm: the denoiser removed ")
    assert "more than the measured noise" in line and "diagnosis" in line
    assert "\n" not in line


def test_detail_removed_along_the_edges_is_flagged():
    rng = np.random.default_rng(8)
    y, x = np.mgrid[:128, :128]
    discs = 0.3 + 0.4 * ((y - 64) ** 2 + (x - 40) ** 2 < 30**2) + 0.2 * (np.abs(x - 100) < 8)
    noisy = discs + rng.normal(0, 0.02, discs.shape)
    blurred = ndimage.gaussian_filter(noisy, 1.5)  # edges softened, the noise removed
    result = check_output(noisy, blurred, profile(0.02), BM3D)
    assert result.figures["edge_correlation"] > checks.EDGE_LIMIT
    assert any("edges" in f for f in result.findings)
    assert not check_output(noisy, discs, profile(0.02), BM3D).flagged


def test_removed_coarse_structure_is_flagged_as_not_noise_like():
    rng = np.random.default_rng(4)
    clean = textured()
    noise = rng.normal(0, 0.02, clean.shape)
    y, x = np.mgrid[:128, :128]
    shading = 0.05 * np.sin(2 * np.pi * x / 64) * np.cos(2 * np.pi * y / 48)  # "anatomy"
    result = check_output(clean + noise, clean - shading, profile(0.02), BM3D)
    assert result.figures["low_freq_share"] > checks.LOW_FREQ_LIMIT
    assert result.flagged and "coarse structure" in result.findings[0]


def test_output_far_outside_the_input_range_is_flagged():
    rng = np.random.default_rng(5)
    clean = textured()
    noisy = clean + rng.normal(0, 0.02, clean.shape)
    stripes = clean.copy()
    stripes[::8] = 3.0  # three times the input's range
    result = check_output(noisy, stripes, profile(0.02), BM3D)
    assert result.figures["range_excess"] > 1.0
    assert any("beyond" in f for f in result.findings)
    assert "--range" in warning_line("nm.dcm", result)
    slightly = check_output(noisy, np.clip(clean * 1.05, 0, 1), profile(0.02), BM3D)
    assert slightly.figures["range_excess"] < checks.RANGE_LIMIT


def test_correlated_noise_with_a_blind_spot_model_is_flagged():
    rng = np.random.default_rng(6)
    clean = textured()
    kernel = np.array([0.5, 1.0, 0.5])
    white = rng.normal(size=clean.shape)
    noise = ndimage.convolve1d(ndimage.convolve1d(white, kernel, 0), kernel, 1)
    noise *= 0.02 / noise.std()
    rho = (1.0 / 1.5, 0.25 / 1.5, 0.0)  # that kernel's correlation at lags 1-3
    noisy, corr = clean + noise, profile(0.02, rho)
    flagged = check_output(noisy, clean, corr, SSDN)
    assert flagged.flagged and "correlated" in flagged.findings[0]
    assert "bm3d" in warning_line("mr.dcm", flagged)
    # the correlated spectrum makes its own low frequencies expected, not structure
    assert flagged.figures["low_freq_share"] < checks.LOW_FREQ_LIMIT
    assert not check_output(noisy, clean, corr, BM3D).flagged  # BM3D is not blind-spot
    unsafe = profile(0.02, verdict=Verdict("correlated", "...", "bm3d", blind_spot_safe=False))
    assert check_output(noisy, clean, unsafe, SSDN).flagged  # the verdict alone suffices
    # run on stride-k sub-images the model sees neighbours k pixels apart: silent where the
    # correlation has died out at lag k, flagged where it has not
    at_stride_3 = ModelInfo(SSDN.name, "ssdn", stride=3)
    assert not check_output(noisy, clean, corr, at_stride_3).flagged
    at_stride_2 = ModelInfo(SSDN.name, "ssdn", stride=2)
    still = check_output(noisy, clean, profile(0.02, (0.6, 0.4, 0.05)), at_stride_2)
    assert still.flagged and "2 pixels apart" in still.findings[0]
    assert "--pd 3" in warning_line("ct.dcm", still)
    # a blind square of side 5 hides lags 1-2: its nearest inputs are 3 pixels away
    square_5 = ModelInfo(SSDN.name, "ssdn", reach=3)
    assert not check_output(noisy, clean, profile(0.02, (0.6, 0.4, 0.05)), square_5).flagged
    late = check_output(noisy, clean, profile(0.02, (0.6, 0.5, 0.4)), square_5)
    assert late.flagged and "3 pixels apart" in late.findings[0]
    assert "--pd" not in warning_line("ct.dcm", late)  # no stride to raise: another model


def test_stacks_and_colour_planes_are_checked_and_tiny_images_skipped():
    rng = np.random.default_rng(7)
    clean = np.stack([textured(s) for s in range(3)])[..., None].repeat(3, axis=-1)
    noisy = clean + rng.normal(0, 0.03, clean.shape)
    assert not check_output(noisy, clean, profile(0.03), SSDN).flagged
    assert check_output(noisy, clean + 2.0, profile(0.03), SSDN).flagged
    tiny = check_output(noisy[0, :4, :4], clean[0, :4, :4], profile(0.03), SSDN)
    assert not tiny.flagged and "not checked" in tiny.skipped
    assert "not checked" in derivation_note(tiny)


def test_profile_scale_conversion():
    scaling = Scaling(dtype="int16", lo=-32768.0, hi=32767.0)
    hu = np.array([-1024.0, 0.0, 3071.0])
    working = (hu + 32768) / 65535
    p = profile(0.01)
    p = NoiseProfile(**{**p.__dict__, "value_range": (-1024.0, 3071.0)})
    np.testing.assert_allclose(to_profile_scale(working, scaling, p), [0.0, 1024 / 4095, 1.0])


def test_unmeasured_noise_checks_only_the_range():
    clean = textured()
    none = profile(0.0)  # the inspector found nothing to measure
    smooth = check_output(clean, ndimage.gaussian_filter(clean, 2), none, BM3D)
    assert not smooth.flagged and "only the output's range" in smooth.skipped
    assert check_output(clean, clean * 3, none, BM3D).flagged


def test_photon_noise_under_a_failed_flat_fit_does_not_read_as_erased_edges():
    # Bright cells on a dark ground, photon noise (variance grows with brightness), and a
    # noise fit that failed flat (one level everywhere): removing exactly the noise leaves
    # more energy on the bright cells, hence on their edges. Brightness explains it, so the
    # edge check must not count it; blurring the cells away is still flagged.
    rng = np.random.default_rng(4)
    n = 160
    y, x = np.mgrid[:n, :n]
    cells = sum(
        np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 6.0**2))
        for cy, cx in rng.integers(15, n - 15, (25, 2))
    )
    clean = 0.05 + 0.9 * np.clip(cells, 0, 1)
    noisy = clean + rng.normal(0, 1, clean.shape) * np.sqrt(0.02 * clean)
    flat_fit = profile(float(np.sqrt(0.02 * clean.mean())))
    good = check_output(noisy, clean, flat_fit, BM3D)
    assert good.figures["edge_correlation"] < checks.EDGE_LIMIT, good.figures
    assert not good.flagged, good.findings
    blurred = check_output(noisy, ndimage.gaussian_filter(clean, 3), flat_fit, BM3D)
    assert blurred.flagged


def test_large_planes_are_judged_in_windows_with_the_same_verdicts(monkeypatch):
    # a plane wider than WINDOW_SIDE is cut into equal windows (bounded memory on any size);
    # the windows are the plane's own pixels, and the verdicts stay what whole planes give
    planes = np.arange(2 * 130 * 200, dtype=float).reshape(2, 130, 200)
    monkeypatch.setattr(checks, "WINDOW_SIDE", 64)
    windows = [planes[i, sy, sx] for i, sy, sx in checks._windows(planes.shape)]
    assert len(windows) == 2 * 3 * 4 and {w.shape for w in windows} == {(43, 50)}
    assert np.array_equal(windows[5], planes[0, 43:86, 50:100])  # plane 0, row 1, column 1
    rng = np.random.default_rng(11)
    clean = np.tile(textured(), (2, 2))  # 256², four 128² windows at WINDOW_SIDE 128
    noisy = clean + rng.normal(0, 0.05, clean.shape)
    monkeypatch.setattr(checks, "WINDOW_SIDE", 128)
    quiet = check_output(noisy, clean, profile(0.05), SSDN)
    assert not quiet.flagged and quiet.figures["low_freq_share"] == pytest.approx(0.05, abs=0.02)
    assert check_output(noisy, ndimage.gaussian_filter(noisy, 3), profile(0.05), BM3D).flagged
