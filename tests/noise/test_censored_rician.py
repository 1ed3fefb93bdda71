"""The Rician SSDN likelihood: its Gauss-Hermite marginal and posterior mean against
quadrature over the clean value, its gradients, and its wiring into an SSDN model."""

import math

import pytest
import torch
from pydantic import ValidationError
from scipy import integrate, stats

from medenoise.config import ModelConfig
from medenoise.noise.likelihood import Prior
from medenoise.noise.rician import log_rice, rician_nll, rician_posterior_mean
from tiny_models import make_tiny_model


def t(v):
    return torch.tensor(v, dtype=torch.float64).reshape(1, 1, 1, 1)


def quadrature(y, mu, var_x, sigma):
    """(−log p(y), E[x | y]) by scipy quadrature of N(x; μ, σ_x²)·Rice(y; x, σ) over x."""
    sx = math.sqrt(var_x)

    def f(x):
        return stats.norm.pdf(x, mu, sx) * stats.rice.pdf(y, abs(x) / sigma, scale=sigma)

    lo, hi = mu - 12 * sx, mu + 12 * sx
    pts = [p for p in (0.0, y, mu) if lo < p < hi]
    mass = integrate.quad(f, lo, hi, points=pts, limit=500, epsabs=0, epsrel=1e-12)[0]
    first = integrate.quad(lambda x: x * f(x), lo, hi, points=pts, limit=500, epsabs=0)[0]
    return -math.log(mass), first / mass


def test_log_rice_equals_scipy():
    y = torch.tensor([1e-4, 0.01, 0.1, 0.5, 0.9], dtype=torch.float64)
    x = torch.tensor([0.0, 0.02, -0.1, 0.45, 0.95], dtype=torch.float64)
    s = torch.tensor(0.05, dtype=torch.float64)
    ref = [
        stats.rice.logpdf(a, abs(b) / 0.05, scale=0.05)
        for a, b in zip(y.tolist(), x.tolist(), strict=True)
    ]
    assert log_rice(y, x, s).tolist() == pytest.approx(ref, rel=1e-10)


# (y, μ, σ_x², σ): background (SNR 0-1), SNR 2-5, sharp and vague priors
GRID = [
    (0.02, 0.0, 0.01**2, 0.02),
    (0.05, 0.01, 0.03**2, 0.04),
    (0.01, 0.03, 0.02**2, 0.03),
    (0.12, 0.1, 0.02**2, 0.05),
    (0.3, 0.25, 0.1**2, 0.05),
    (0.6, 0.62, 0.005**2, 0.1),
    (0.4, 0.2, 0.3**2, 0.02),
    (0.001, 0.0, 0.05**2, 0.01),
]


@pytest.mark.parametrize("y,mu,var_x,sigma", GRID)
def test_marginal_and_posterior_mean_equal_quadrature(y, mu, var_x, sigma):
    prior = Prior(t(mu), t(var_x), diagonal=True)
    nll_ref, mean_ref = quadrature(y, mu, var_x, sigma)
    assert rician_nll(t(y), prior, t(sigma)).item() == pytest.approx(nll_ref, abs=1e-6)
    assert rician_posterior_mean(t(y), prior, t(sigma)).item() == pytest.approx(
        mean_ref, abs=1e-6 + 1e-4 * math.sqrt(var_x)
    )


def test_background_posterior_is_not_the_gaussian_one():
    """At SNR 0 the magnitude is biased by ≈1.25σ: the Rician posterior mean corrects for it,
    the Gaussian one (which takes y at face value) does not."""
    sigma, var_x = 0.05, 0.05**2
    y = t(1.2533 * sigma)  # E[y] at x = 0
    post = rician_posterior_mean(y, Prior(t(0.0), t(var_x), True), t(sigma)).item()
    gauss = (var_x * y.item()) / (var_x + sigma**2)
    assert abs(post) < 0.5 * gauss


def test_gradients_are_finite_and_match_finite_differences():
    g = torch.Generator().manual_seed(0)
    mu = (torch.rand(1, 1, 2, 3, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    a = (torch.rand(1, 1, 2, 3, generator=g, dtype=torch.float64) * 0.1 + 0.01).requires_grad_()
    s = torch.tensor(0.04, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 0.01, 0.05, 0.2, 0.3, 0.6], dtype=torch.float64).reshape(1, 1, 2, 3)
    assert torch.autograd.gradcheck(
        lambda m, a, s: rician_nll(y, Prior(m, a**2, True), s), (mu, a, s)
    )


def test_ssdn_trains_and_denoises_with_rician_noise():
    m = make_tiny_model("ssdn", noise="rician:10")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 32, 32, generator=g) * 0.3
    y, params = m.noise.sample(x, g)
    loss, _ = m.training_loss({"noisy": y, "params": params})
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    with torch.no_grad():
        out = m.denoise(y)
    assert out.shape == y.shape and torch.isfinite(out).all()
    with pytest.raises(ValidationError):
        ModelConfig(method="ssdn", noise="rician:10", channels=3, covariance="full")
    with pytest.raises(ValidationError):
        ModelConfig(method="ssdn", noise="rician:10", clip=(0, 1))
    ModelConfig(method="n2v", noise="rician:10", channels=3)  # synthesis only: allowed
