"""The μ-only ablation: an SSDN network's prior mean without its posterior."""

import numpy as np
import pytest
import torch

from medenoise.errors import UserError
from medenoise.inference.denoiser import Denoiser
from medenoise.inference.options import InferenceOptions
from medenoise.inference.prior_mean import prior_mean_denoiser
from medenoise.noise.likelihood import prior_from_head


def test_the_prior_mean_is_the_heads_mu_and_not_the_posterior(tiny_model):
    module = tiny_model("ssdn", noise="gaussian:25", noise_param="known")
    den = Denoiser(module, "m")
    mu_den = prior_mean_denoiser(den)
    rng = np.random.default_rng(0)
    noisy = rng.random((1, 64, 64, 1), dtype=np.float32)
    with torch.no_grad():
        head = module.net(torch.from_numpy(noisy.transpose(0, 3, 1, 2)))
        want = prior_from_head(head, 1, module.model_config.covariance).mu
    got = mu_den.denoise_planes(noisy)
    np.testing.assert_allclose(got[0, ..., 0], want[0, 0].numpy(), atol=1e-5)
    posterior = den.denoise_planes(noisy)
    assert np.abs(posterior - got).max() > 1e-3  # the posterior pulls toward the noisy pixel
    assert (mu_den.tile, mu_den.overlap, mu_den.ensemble) == (den.tile, den.overlap, den.ensemble)


def test_the_prior_mean_keeps_the_self_ensemble(tiny_model):
    module = tiny_model("ssdn", noise="gaussian:25", noise_param="known")
    noisy = np.random.default_rng(1).random((1, 32, 32, 1), dtype=np.float32)
    plain = prior_mean_denoiser(Denoiser(module, "m")).denoise_planes(noisy)
    mirrored = prior_mean_denoiser(Denoiser(module, "m")).denoise_planes(noisy[:, :, ::-1].copy())
    both = prior_mean_denoiser(Denoiser(module, "m", InferenceOptions(ensemble=True)))
    np.testing.assert_allclose(
        both.denoise_planes(noisy), (plain + mirrored[:, :, ::-1]) / 2, atol=1e-5
    )


def test_only_ssdn_networks_have_a_prior_mean(tiny_model):
    with pytest.raises(UserError, match="not one"):
        prior_mean_denoiser(Denoiser(tiny_model("n2c"), "n2c-model"))
