"""NLL against scipy, and the posterior mean against numerical integration (float64)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from medenoise.noise import make_noise_model
from medenoise.noise.likelihood import (
    head_channels,
    negative_log_likelihood,
    paper_loss,
    posterior_mean,
    prior_from_head,
)

SPECS = {
    "gaussian:25": lambda mu: np.full_like(mu, (25 / 255) ** 2),
    "poisson:30": lambda mu: np.maximum(mu, 1e-3) / 30,
    "pg:a=0.02,b=0.001": lambda mu: np.maximum(0.02 * np.maximum(mu, 1e-3) + 0.001, 1e-6),
}


def random_head(channels, covariance, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = (
        torch.randn(2, head_channels(channels, covariance), 3, 4, generator=g, dtype=torch.float64)
        * 0.3
    )
    out[:, :channels] = torch.rand(2, channels, 3, 4, generator=g, dtype=torch.float64)
    y = out[:, :channels] + 0.1 * torch.randn(2, channels, 3, 4, generator=g, dtype=torch.float64)
    return out, y


def reference_cov_x(head, channels, covariance, n, i, j):
    a = head[n, channels:, i, j].numpy()
    if covariance == "diag" or channels == 1:
        return np.diag(a**2)
    tri = np.zeros((channels, channels))
    tri[np.triu_indices(channels)] = a
    return tri @ tri.T


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("channels,covariance", [(1, "full"), (3, "full"), (3, "diag")])
def test_nll_equals_scipy_log_density(spec, channels, covariance):
    head, y = random_head(channels, covariance)
    model = make_noise_model(spec)
    prior = prior_from_head(head, channels, covariance)
    var_n = model.variance(prior.mu, model.fixed_params(2))
    nll = negative_log_likelihood(y, prior, var_n)
    for n in range(2):
        for i in range(3):
            for j in range(4):
                mu = head[n, :channels, i, j].numpy()
                cov = reference_cov_x(head, channels, covariance, n, i, j)
                cov = cov + np.diag(SPECS[spec](mu))
                ref = -stats.multivariate_normal(mu, cov).logpdf(y[n, :, i, j].numpy())
                assert nll[n, i, j].item() == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_paper_loss_scaling():
    nll = torch.tensor([1.0, 2.0], dtype=torch.float64)
    mono = paper_loss(nll, 1)
    assert torch.allclose(mono, 2 * (nll - 0.5 * math.log(2 * math.pi)))
    rgb = paper_loss(nll, 3)
    assert torch.allclose(rgb, nll - 1.5 * math.log(2 * math.pi))


def numerical_posterior_mean(y, mu, var_x, var_n):
    def weight(x):
        return stats.norm.pdf(x, mu, math.sqrt(var_x)) * stats.norm.pdf(y, x, math.sqrt(var_n))

    lo, hi = mu - 12 * math.sqrt(var_x), mu + 12 * math.sqrt(var_x)
    num = integrate.quad(lambda x: x * weight(x), lo, hi, points=[y], limit=200)[0]
    den = integrate.quad(weight, lo, hi, points=[y], limit=200)[0]
    return num / den


@pytest.mark.parametrize("spec", ["gaussian:25", "pg:a=0.02,b=0.001"])
def test_posterior_mean_matches_numerical_integration(spec):
    model = make_noise_model(spec)
    g = torch.Generator().manual_seed(3)
    mu = torch.rand(1, 1, 2, 3, generator=g, dtype=torch.float64)
    a = 0.02 + 0.2 * torch.rand(1, 1, 2, 3, generator=g, dtype=torch.float64)
    y = mu + 0.15 * torch.randn(1, 1, 2, 3, generator=g, dtype=torch.float64)
    prior = prior_from_head(torch.cat([mu, a], dim=1), 1, "full")
    var_n = model.variance(prior.mu, model.fixed_params(1))
    est = posterior_mean(y, prior, var_n)
    for i in range(2):
        for j in range(3):
            ref = numerical_posterior_mean(
                y[0, 0, i, j].item(),
                mu[0, 0, i, j].item(),
                a[0, 0, i, j].item() ** 2,
                var_n[0, 0, i, j].item(),
            )
            assert est[0, 0, i, j].item() == pytest.approx(ref, abs=1e-5)


def test_rgb_posterior_reduces_to_mono_formula_for_diagonal_covariances():
    g = torch.Generator().manual_seed(4)
    c = 3
    mu = torch.rand(1, c, 2, 2, generator=g, dtype=torch.float64)
    a_diag = 0.05 + torch.rand(1, c, 2, 2, generator=g, dtype=torch.float64) * 0.1
    # full layout with off-diagonals zero: a0, a1, a2, a3, a4, a5 = A[0,0], A[0,1], A[0,2], ...
    tri = torch.zeros(1, 6, 2, 2, dtype=torch.float64)
    tri[:, 0], tri[:, 3], tri[:, 5] = a_diag[:, 0], a_diag[:, 1], a_diag[:, 2]
    y = mu + 0.1 * torch.randn(1, c, 2, 2, generator=g, dtype=torch.float64)
    var_n = torch.full_like(mu, 0.01)
    full = posterior_mean(y, prior_from_head(torch.cat([mu, tri], 1), c, "full"), var_n)
    diag = posterior_mean(y, prior_from_head(torch.cat([mu, a_diag], 1), c, "diag"), var_n)
    assert torch.allclose(full, diag, atol=1e-6)


def test_posterior_pulls_towards_the_noisy_pixel_when_the_prior_is_vague():
    mu = torch.zeros(1, 1, 1, 1, dtype=torch.float64)
    y = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    vague = prior_from_head(torch.cat([mu, torch.full_like(mu, 10.0)], 1), 1, "full")
    sharp = prior_from_head(torch.cat([mu, torch.full_like(mu, 1e-3)], 1), 1, "full")
    var_n = torch.full_like(mu, 0.01)
    assert posterior_mean(y, vague, var_n).item() > 0.99
    assert posterior_mean(y, sharp, var_n).item() < 0.01
