"""The bm3d-psd baseline: BM3D given the noise power spectrum, exact from a correlated spec or
built from the inspector's measured correlation, and scored by `evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from medenoise.errors import UserError
from medenoise.methods.baselines import BASELINES, measured_psd, noise_psd
from medenoise.noise import make_noise_model
from medenoise.noise.kernels import normalised_psd


def correlated(clean: np.ndarray, spec: str, seed: int = 0) -> np.ndarray:
    """clean (H, W) plus the spec's noise, as an (H, W, 1) plane."""
    x = torch.from_numpy(clean.astype(np.float32))[None, None]
    y, _ = make_noise_model(spec).sample(x, torch.Generator().manual_seed(seed))
    return y[0, 0].numpy()[..., None]


def test_spec_psd_is_the_exact_spectrum_in_bm3d_units():
    plane = np.zeros((48, 64, 1), np.float32)
    psd, source = noise_psd(plane, "gaussian:20,kernel=box3")
    sigma = 20 / 255
    # bm3d's convention: white noise of std σ has PSD σ²·H·W at every frequency
    assert np.allclose(psd, sigma**2 * 48 * 64 * normalised_psd("box3", 48, 64))
    assert psd.mean() == pytest.approx(sigma**2 * 48 * 64)
    assert "box3" in source
    white, _ = noise_psd(plane, "gaussian:20")
    assert np.allclose(white, sigma**2 * 48 * 64)


def test_measured_psd_follows_the_true_spectrum():
    plane = correlated(np.full((256, 256), 0.5), "gaussian:20,kernel=box3")
    psd = measured_psd(plane)
    exact = (20 / 255) ** 2 * 256 * 256 * normalised_psd("box3", 256, 256)
    assert psd.min() >= 0
    assert psd.mean() == pytest.approx(exact.mean(), rel=0.15)
    assert np.corrcoef(psd.ravel(), exact.ravel())[0, 1] > 0.95
    _, source = noise_psd(plane, None)
    assert source.startswith("measured")


def test_bm3d_psd_refuses_signal_dependent_specs():
    with pytest.raises(UserError, match="use vst-bm3d"):
        BASELINES["bm3d-psd"](np.full((32, 32, 1), 0.5, np.float32), "pg:a=0.01,b=0")


def test_evaluate_scores_bm3d_psd_above_plain_bm3d_on_correlated_noise(cli, tmp_path):
    from skimage import data

    folder = tmp_path / "clean"
    folder.mkdir()
    crop = data.camera()[100:196, 100:196].astype(np.float32) / 255
    tifffile.imwrite(folder / "cam.tif", crop)
    args = ["evaluate", "--clean", folder, "--noise", "gaussian:25,kernel=box3", "--json"]
    result = cli(*args, "--model", "bm3d", "--model", "bm3d-psd")
    assert result.exit_code == 0, result.output
    rows = {m["model"]: m["mean"] for m in json.loads(result.stdout)["models"]}
    # BM3D told only σ_eff takes the correlated noise's blotches for signal and keeps them
    assert rows["bm3d-psd"]["psnr"] > rows["bm3d"]["psnr"] + 2.0
    assert rows["bm3d-psd"]["psnr"] > rows["bm3d"]["psnr_noisy"] + 5.0
