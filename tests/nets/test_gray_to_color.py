"""Colour networks started from a gray model (nets/gray_to_color.py, `train --init`)."""

from __future__ import annotations

import pytest
import torch

from medenoise.config import ModelConfig
from medenoise.errors import UserError
from medenoise.methods import build_method
from medenoise.modelfile import save_model
from medenoise.nets.gray_to_color import head_row_sources
from medenoise.noise.likelihood import prior_from_head
from medenoise.train import init_weights


def _trained_like(module: torch.nn.Module) -> torch.nn.Module:
    """Nonzero biases and shifted weights, so a misplaced row or column changes the output."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return module


def _gray_and_colour(tmp_path, **fields):
    torch.manual_seed(0)
    gray = _trained_like(build_method(ModelConfig(width=8, **fields)))
    path = save_model(gray, tmp_path / "gray.safetensors")
    colour = build_method(ModelConfig(width=8, channels=3, **fields))
    init_weights(colour, str(path))
    return gray.eval(), colour.eval()


def test_full_covariance_head_rows():
    # μ from row 0; T's upper triangle (0,0) (0,1) (0,2) (1,1) (1,2) (2,2): last column from
    # the gray std row, the rest fresh
    assert head_row_sources(2, 3, "full") == [0, 0, 0, None, None, 1, None, 1, 1]
    assert head_row_sources(2, 3, "diag") == [0, 0, 0, 1, 1, 1]
    assert head_row_sources(1, 3, "full") == [0, 0, 0]  # a plain denoiser's one output
    assert head_row_sources(1, 3, None) == [0]  # a level estimator's one output


def test_ssdn_on_replicated_gray_keeps_the_gray_prior(tmp_path, capsys):
    gray, colour = _gray_and_colour(tmp_path, method="ssdn", noise="gaussian:25")
    assert "laid out for 3 channels" in capsys.readouterr().err
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        g = prior_from_head(gray.net(x), 1, "full")
        c = prior_from_head(colour.net(x.expand(-1, 3, -1, -1)), 3, "full")
    for ch in range(3):
        torch.testing.assert_close(c.mu[:, ch], g.mu[:, 0], atol=1e-5, rtol=1e-5)
    # every covariance entry with the last channel is the gray variance s² (rank-1 part);
    # the fresh entries of T add to the others only, and start small: Σ ≈ s²·11ᵀ, the prior
    # of three identical channels, so the posterior pools the three noisy looks
    var = g.cov[:, 0]
    for j in range(3):
        torch.testing.assert_close(c.cov[..., 2, j], var, atol=1e-5, rtol=1e-4)
    extra = c.cov - var[..., None, None]
    assert extra.abs().max() > 0  # the fresh entries are not zero: they can learn
    assert extra.abs().max() < 0.01 * var.max() + 1e-6


def test_per_image_level_estimator_is_carried_over(tmp_path):
    gray, colour = _gray_and_colour(
        tmp_path, method="ssdn", noise="gaussian:5-50", noise_param="per-image"
    )
    x = torch.rand(1, 1, 32, 32)
    gray_est, colour_est = gray.noise_param.estimator.net, colour.noise_param.estimator.net
    with torch.no_grad():
        torch.testing.assert_close(
            colour_est(x.expand(-1, 3, -1, -1)), gray_est(x), atol=1e-5, rtol=1e-5
        )


def test_plain_denoiser_copies_its_output_to_every_channel(tmp_path):
    gray, colour = _gray_and_colour(tmp_path, method="n2c", noise="gaussian:25")
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        out = colour.net(x.expand(-1, 3, -1, -1))
        ref = gray.net(x)
    torch.testing.assert_close(out, ref.expand(-1, 3, -1, -1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_narrower_per_image_model_is_widened_with_its_level_estimator(tmp_path, channels):
    # the study's warm start: a width-32 gray zoo model into a width-48 (colour) variant;
    # at test scale width 8 into 12
    torch.manual_seed(0)
    fields = {"method": "ssdn", "noise": "gaussian:5-50", "noise_param": "per-image"}
    gray = _trained_like(build_method(ModelConfig(width=8, **fields))).eval()
    path = save_model(gray, tmp_path / "gray.safetensors")
    run = build_method(ModelConfig(width=12, channels=channels, **fields)).eval()
    init_weights(run, str(path))
    x = torch.rand(1, 1, 32, 32)
    xc = x.expand(-1, channels, -1, -1)
    with torch.no_grad():
        torch.testing.assert_close(
            run.noise_param.estimator(xc), gray.noise_param.estimator(x), atol=1e-5, rtol=1e-5
        )
        mu = prior_from_head(run.net(xc), channels, "full").mu
        ref = prior_from_head(gray.net(x), 1, "full").mu
    torch.testing.assert_close(mu, ref.expand(-1, channels, -1, -1), atol=1e-5, rtol=1e-5)


def test_a_colour_model_cannot_start_a_gray_one(tmp_path):
    torch.manual_seed(0)
    colour = build_method(ModelConfig(method="ssdn", width=8, channels=3))
    path = save_model(colour, tmp_path / "c.safetensors")
    with pytest.raises(UserError, match="channels=3"):
        init_weights(build_method(ModelConfig(method="ssdn", width=8)), str(path))
