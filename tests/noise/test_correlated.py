"""Correlated Gaussian noise (`gaussian:s,kernel=...`): autocorrelation, level, CT spectrum,
spec grammar, the refusal of blind-spot training, and BM3D given the noise spectrum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
import torch

from medenoise.config import TrainConfig, validated
from medenoise.errors import UserError
from medenoise.eval.samples import draw_level
from medenoise.noise import make_noise_model, parse_noise_spec
from medenoise.noise.kernels import autocorrelation, ct_radial, normalised_psd


def noise_of(spec: str, n: int = 4, size: int = 256, seed: int = 0) -> np.ndarray:
    """Pure noise (clean image 0.5 removed), (n, size, size), float64."""
    x = torch.full((n, 1, size, size), 0.5)
    y, _ = make_noise_model(spec).sample(x, torch.Generator().manual_seed(seed))
    return (y[:, 0] - 0.5).double().numpy()


def lag_correlation(noise: np.ndarray, dy: int, dx: int) -> float:
    """Sample correlation of noise with itself shifted by (dy, dx), over all images."""
    h, w = noise.shape[1:]
    a = noise[:, : h - dy, : w - dx]
    b = noise[:, dy:, dx:]
    return float(np.mean(a * b) / np.mean(noise**2))


# Theory: box3 blurs white noise with a 3×3 mean, so neighbours share 6 of 9 (lag 1) or
# 3 of 9 (lag 2) samples; a Gaussian blur of std s gives correlation exp(-d²/(4s²)).
THEORY = {
    "box3": {(0, 1): 2 / 3, (0, 2): 1 / 3, (1, 0): 2 / 3, (2, 0): 1 / 3, (1, 1): 4 / 9},
    "gauss:1": {(0, 1): math.exp(-0.25), (0, 2): math.exp(-1.0), (1, 0): math.exp(-0.25)},
    "gauss2": {(0, 1): math.exp(-1 / 16), (2, 0): math.exp(-0.25), (0, 3): math.exp(-9 / 16)},
}


@pytest.mark.parametrize("kernel", sorted(THEORY))
def test_correlated_noise_has_the_stated_std_and_autocorrelation(kernel):
    noise = noise_of(f"gaussian:25,kernel={kernel}")
    exact = autocorrelation(kernel, 256, 256)
    # σ is σ_eff, the std of the noise actually added; the sample variance of correlated
    # Gaussian noise has relative std sqrt(2·Σρ²/N): allow 4 of them (on σ, half that)
    rel = 4 * 0.5 * math.sqrt(2 * np.sum(exact**2) / noise.size)
    assert noise.std() * 255 == pytest.approx(25, rel=rel)
    for (dy, dx), rho in THEORY[kernel].items():
        assert exact[dy, dx] == pytest.approx(rho, abs=2e-3)  # periodic grid vs theory
        assert lag_correlation(noise, dy, dx) == pytest.approx(rho, abs=0.02), (dy, dx)


def test_white_gaussian_stays_white_and_kernel_noise_is_seeded():
    assert abs(lag_correlation(noise_of("gaussian:25"), 0, 1)) < 0.01
    a, b = noise_of("gaussian:10,kernel=box3", n=1), noise_of("gaussian:10,kernel=box3", n=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, noise_of("gaussian:10,kernel=box3", n=1, seed=1))


def test_ranges_draw_per_image_effective_levels():
    x = torch.full((32, 1, 64, 64), 0.5)
    model = make_noise_model("gaussian:5-50,kernel=gauss:1")
    y, params = model.sample(x, torch.Generator().manual_seed(0))
    per_image = (y - 0.5).std(dim=(1, 2, 3))
    assert torch.allclose(per_image, params[:, 0].float(), rtol=0.12)
    assert params[:, 0].std() * 255 > 5


@pytest.mark.parametrize("window", ["hann", "shepp", "ramlak"])
def test_ct_spectrum_rises_from_zero_then_falls_to_the_cutoff(window):
    f = np.linspace(0, 0.5, 501)
    p = ct_radial(window, f)
    peak = int(np.argmax(p))
    assert p[0] == 0 and peak > 0
    assert np.all(np.diff(p[: peak + 1]) > 0)
    if window == "ramlak":  # a bare ramp peaks at the cutoff itself
        assert peak == len(f) - 1
    else:
        assert peak < len(f) - 1 and np.all(np.diff(p[peak:]) < 0)
    assert ct_radial(window, np.array([0.3]), fc=0.25)[0] == 0  # nothing beyond the cutoff


def test_ct_noise_has_the_stated_std_and_the_model_spectrum():
    noise = noise_of("gaussian:15,kernel=ct:hann", n=2)
    assert noise.std() * 255 == pytest.approx(15, rel=0.01)
    psd = normalised_psd("ct:hann", 256, 256)
    assert psd.mean() == pytest.approx(1.0) and psd[0, 0] == 0
    measured = np.mean(np.abs(np.fft.fft2(noise)) ** 2, axis=0) / noise[0].size / noise.var()
    # radial average of the periodogram follows the model within sampling noise
    fy, fx = np.fft.fftfreq(256)[:, None], np.fft.fftfreq(256)[None, :]
    ring = np.round(np.hypot(fy, fx) * 20).astype(int)
    for r in range(1, 10):
        sel = ring == r
        assert measured[sel].mean() == pytest.approx(psd[sel].mean(), rel=0.15), r
    assert lag_correlation(noise, 0, 1) == pytest.approx(
        autocorrelation("ct:hann", 256, 256)[0, 1], abs=0.02
    )


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("gaussian:25,kernel=box3", "gaussian:25,kernel=box3"),
        ("gaussian:5-50,kernel=gauss1.5", "gaussian:5-50,kernel=gauss:1.5"),
        ("gaussian:kernel=ct,sigma=10", "gaussian:10,kernel=ct:hann"),
        ("Gaussian:15,kernel=CT:Shepp:0.4", "gaussian:15,kernel=ct:shepp:0.4"),
        ("gaussian:15,kernel=ct:ramlak:0.5", "gaussian:15,kernel=ct:ramlak"),
    ],
)
def test_kernel_specs_round_trip_through_str(text, canonical):
    spec = parse_noise_spec(text)
    assert str(spec) == canonical
    assert parse_noise_spec(str(spec)) == spec
    assert spec.kernel == canonical.split("kernel=")[1]


@pytest.mark.parametrize(
    "text,needle",
    [
        ("gaussian:25,kernel=box4", "odd size"),
        ("gaussian:25,kernel=blur", "not a known kernel"),
        ("gaussian:25,kernel=gauss:0", "std in (0, 64]"),
        ("gaussian:25,kernel=ct:cosine", "apodisation"),
        ("gaussian:25,kernel=ct:hann:0.9", "cutoff"),
        ("poisson:30,kernel=box3", "gaussian noise only"),
        ("gaussian:kernel=box3", "missing sigma"),
    ],
)
def test_bad_kernels_are_one_user_error_line_naming_the_spec(text, needle):
    with pytest.raises(UserError) as err:
        parse_noise_spec(text)
    message = str(err.value)
    assert needle in message and repr(text) in message and "\n" not in message


def test_noise_add_writes_correlated_noise_and_rejects_bad_kernels(cli, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "flat.tif", np.full((128, 128), 0.5, np.float32))
    out = tmp_path / "out"
    result = cli("noise", "add", "gaussian:20,kernel=box3", src, "-o", out, "--range", "0,1")
    assert result.exit_code == 0, result.output
    noise = tifffile.imread(out / "flat.tif").astype(np.float64)[None] - 0.5
    assert noise.std() * 255 == pytest.approx(20, rel=0.03)
    assert lag_correlation(noise, 0, 1) == pytest.approx(2 / 3, abs=0.03)
    bad = cli("noise", "add", "gaussian:20,kernel=box2", src, "-o", tmp_path / "o2")
    assert bad.exit_code == 2
    errors = [ln for ln in bad.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "box2" in errors[0], bad.output


def test_evaluate_levels_keep_the_kernel():
    model = make_noise_model("gaussian:5-50,kernel=box3")
    spec, params = draw_level(model, torch.Generator().manual_seed(0))
    assert spec.endswith(",kernel=box3") and parse_noise_spec(spec).is_fixed
    assert float(parse_noise_spec(spec).ranges["sigma"][0]) / 255 == pytest.approx(
        params[0, 0].item()
    )


@pytest.mark.parametrize("method", ["ssdn", "n2v"])
def test_blind_spot_training_refuses_correlated_noise(method):
    with pytest.raises(UserError, match="spatially correlated: use n2n or n2c"):
        validated(
            TrainConfig,
            {"data": ["d"], "method": method, "noise": "gaussian:25,kernel=box3"},
            "options",
        )


def test_n2n_trains_on_correlated_noise():
    cfg = validated(
        TrainConfig, {"data": ["d"], "method": "n2n", "noise": "gaussian:25,kernel=box3"}, "options"
    )
    assert make_noise_model(cfg.model.noise).spec.kernel == "box3"
