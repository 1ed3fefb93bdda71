"""The clip / quant_levels options in an SSDN model: config checks, the training loss and the
denoised output use them, they survive a model file, and shipped models are unchanged."""

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from medenoise.config import ModelConfig
from medenoise.modelfile import load_module, save_model
from medenoise.noise.censored import Recording
from tiny_models import make_tiny_model


def test_config_accepts_diagonal_ssdn_and_rejects_the_rest():
    cfg = ModelConfig(method="ssdn", noise="pg", clip=(0, 1), quant_levels=255)
    assert Recording.of(cfg) == Recording((0.0, 1.0), 1 / 255)
    assert not Recording.of(ModelConfig()).active
    ModelConfig(method="ssdn", channels=3, covariance="diag", clip=(0, 1))
    for bad in (
        dict(method="n2v", clip=(0, 1)),
        dict(method="ssdn", covariance="mu", quant_levels=255),
        dict(method="ssdn", channels=3, covariance="full", clip=(0, 1)),
        dict(method="ssdn", clip=(0.5, 0.2)),
        dict(method="ssdn", clip=(-0.1, 1)),
    ):
        with pytest.raises(ValidationError):
            ModelConfig(**bad)


def _zero_heavy_batch():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(2, 1, 32, 32, generator=g) * 0.3 - 0.1).clamp(0, 1)  # ~1/3 zeros
    return (y * 255).round() / 255


def test_training_loss_and_output_use_the_recording(tmp_path):
    plain = make_tiny_model("ssdn", noise="gaussian:10")
    rec = make_tiny_model("ssdn", noise="gaussian:10", clip=(0, 1), quant_levels=255)
    rec.load_state_dict(plain.state_dict())
    y = _zero_heavy_batch()
    zeros = y == 0
    with torch.no_grad():
        a, b = plain.denoise(y), rec.denoise(y)
    # the censored posterior mean lies below the prior mean at zeros; elsewhere a bin's mean
    # is close to the point posterior mean
    assert (a[zeros] - b[zeros]).abs().max() > 1e-3
    assert (a[~zeros] - b[~zeros]).abs().max() < 1e-3
    loss_plain, _ = plain.training_loss({"noisy": y})
    loss_rec, _ = rec.training_loss({"noisy": y})
    assert torch.isfinite(loss_rec) and not torch.isclose(loss_plain, loss_rec)
    loss_rec.backward()
    assert all(torch.isfinite(p.grad).all() for p in rec.parameters() if p.grad is not None)
    path = save_model(rec, tmp_path / "rec.safetensors")
    again = load_module(path)
    assert Recording.of(again.model_config) == Recording((0.0, 1.0), 1 / 255)
    with torch.no_grad():
        assert torch.equal(again.eval().denoise(y), b)


def test_shipped_pg_model_output_unchanged(one_thread):
    """ssdn-pg-fmd (no clip, no quantisation) gives the output it gave before recordings
    existed: values measured on this crop with the code of the shipped release."""
    from skimage import data

    from medenoise.api import load_model

    m = load_model("ssdn-pg-fmd").module.eval()
    clean = data.cell()[100:164, 100:164].astype(np.float64) / 255 * 0.3
    noise = np.random.default_rng(0).standard_normal(clean.shape)
    y = torch.from_numpy(clean + np.sqrt(0.0142 * clean + 1e-4) * noise).float()[None, None]
    with torch.no_grad():
        out = m.denoise(y)[0, 0].double().numpy()
    assert out.mean() == pytest.approx(0.07873767325872905, abs=1e-6)
    assert out.std() == pytest.approx(0.012130933703864897, abs=1e-6)
    ref = [0.09855488687753677, 0.07468675822019577, 0.07575004547834396, 0.08604038506746292]
    got = [out[i, j] for i, j in ((0, 0), (10, 37), (63, 63), (31, 5))]
    assert got == pytest.approx(ref, abs=1e-6)
