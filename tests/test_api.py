"""`load_model` for training-free baselines: same interface as a model file, same numbers as
calling methods/classical.py directly, and usable from `medenoise denoise --model bm3d`."""

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage import data
from typer.testing import CliRunner

from medenoise.api import load_model
from medenoise.cli import app
from medenoise.errors import UserError
from medenoise.eval.metrics import psnr
from medenoise.methods.classical import bm3d_denoise

SIGMA = 25 / 255
LAM = 30.0


@pytest.fixture(scope="module")
def clean():
    return data.camera()[100:196, 100:196].astype(np.float64) / 255


@pytest.fixture(scope="module")
def noisy(clean):
    return (clean + np.random.default_rng(0).normal(0, SIGMA, clean.shape)).astype(np.float32)


def test_bm3d_model_matches_calling_bm3d_directly(clean, noisy):
    model = load_model("bm3d")
    assert model.config.method == "bm3d" and model.source == "bm3d"
    assert model.config.channels is None  # any channel count
    ours = model.denoise(noisy, noise="gaussian:25")
    direct = bm3d_denoise(noisy, SIGMA)
    assert ours.shape == noisy.shape and ours.dtype == noisy.dtype
    p_ours, p_direct, p_noisy = psnr(ours, clean), psnr(direct, clean), psnr(noisy, clean)
    print(f"noisy {p_noisy:.2f} dB, load_model('bm3d') {p_ours:.2f} dB, direct {p_direct:.2f} dB")
    assert abs(p_ours - p_direct) < 0.01
    assert p_ours > p_noisy + 5
    # uint8 in → uint8 out, same denoising up to rounding
    noisy8 = np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)
    out8 = model.denoise(noisy8, noise="gaussian:25")
    assert out8.dtype == np.uint8 and out8.shape == noisy8.shape
    assert abs(psnr(out8 / 255, clean) - psnr(bm3d_denoise(noisy8 / 255, SIGMA), clean)) < 0.1


def test_bm3d_estimates_the_level_when_none_is_given(clean, noisy):
    known = psnr(load_model("bm3d").denoise(noisy, noise="gaussian:25"), clean)
    guessed = psnr(load_model("BM3D").denoise(noisy), clean)
    assert abs(known - guessed) < 0.5


def test_vst_bm3d_beats_bm3d_on_poisson_noise(clean):
    y = (np.random.default_rng(1).poisson(LAM * clean) / LAM).astype(np.float32)
    vst = psnr(load_model("vst-bm3d").denoise(y, noise=f"poisson:{LAM:g}"), clean)
    plain = psnr(load_model("bm3d").denoise(y, noise=f"poisson:{LAM:g}"), clean)
    pg = psnr(load_model("vst-bm3d").denoise(y, noise=f"pg:a={1 / LAM},b=0"), clean)
    print(f"noisy {psnr(y, clean):.2f}, vst-bm3d {vst:.2f}, pg spec {pg:.2f}, bm3d {plain:.2f}")
    assert vst > plain + 0.5
    assert abs(pg - vst) < 1e-6  # poisson:λ is pg with a = 1/λ, b = 0


def test_baselines_take_any_channel_count_and_stacks():
    rgb = data.astronaut()[200:264, 200:264].astype(np.float32) / 255
    y = rgb + np.random.default_rng(2).normal(0, 0.1, rgb.shape).astype(np.float32)
    for name in ("bm3d", "nlm", "vst-bm3d"):
        out = load_model(name).denoise(y, noise="gaussian:25.5")
        assert out.shape == y.shape and psnr(out, rgb) > psnr(y, rgb) + 2, name
    stack = y[None, ..., :1].repeat(2, axis=0)  # (S, H, W, 1)
    out = load_model("identity").denoise_planes(stack)
    assert np.array_equal(out, stack)


def test_bad_noise_specs_are_user_errors(noisy):
    with pytest.raises(UserError, match="impulse"):
        load_model("bm3d").denoise(noisy, noise="impulse:0.2")
    with pytest.raises(UserError, match="single value"):
        load_model("bm3d").denoise(noisy, noise="gaussian:5-50")
    with pytest.raises(UserError, match="nothing to denoise"):
        load_model("vst-bm3d").denoise(noisy, noise="pg:a=0,b=0")


def test_cli_denoise_with_a_baseline_model(tmp_path, clean, noisy):
    src = tmp_path / "x.png"
    PILImage.fromarray(np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)).save(src)
    args = ["denoise", str(src), "-o", str(tmp_path / "out"), "--model", "bm3d"]
    result = CliRunner().invoke(app, [*args, "--noise", "gaussian:25"])
    assert result.exit_code == 0, result.output
    den = np.asarray(PILImage.open(tmp_path / "out" / "x.png"))
    assert den.dtype == np.uint8 and psnr(den / 255, clean) > psnr(noisy, clean) + 5
