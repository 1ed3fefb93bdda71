"""Rician (MR magnitude) noise: y = |x + n₁ + i·n₂|, n ~ N(0, σ²), σ = s/255 ("rician:25").

Likelihood: Rice(y; x, σ) = (y/σ²)·exp(−(y² + x²)/(2σ²))·I₀(xy/σ²), y ≥ 0; it depends on |x|.
SSDN needs the marginal of y under the blind-spot prior x ~ N(μ, σ_x²), which has no closed
form: it is integrated by Gauss-Hermite quadrature around the Gaussian-approximation posterior
N(m_p, v_p) (noise treated as N(x, σ²)), widened 1.5× for the Rician posterior's shift, and
around its mirror image −m_p (the Rician is even in x, so where the prior reaches below 0 a
second mode sits there). The Gaussian approximation N(x, σ²) suffices from SNR 2 up but
not in the background, where E[y] − x approaches 1.25σ (benchmarks/rician_gaussian.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from medenoise.noise.base import NoiseModel, normal_like, per_image
from medenoise.noise.likelihood import Prior

NODES = 48  # per mode: within 1e-7 of adaptive quadrature on the grid of tests/noise
WIDEN = 1.5  # node spread, in std of the Gaussian-approximation posterior
MIN_SIGMA = 1e-3


def log_rice(y: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """log Rice(y; x, σ), stable for large xy/σ² via the scaled Bessel i0e."""
    y = y.clamp_min(1e-12)  # y = 0 has density 0 (log −28 per unit): never −inf in training
    ax = x.abs()
    var = sigma**2
    z = ax * y / var
    return torch.log(y / var) - (y - ax) ** 2 / (2 * var) + torch.log(torch.special.i0e(z))


def _nodes(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t, w = np.polynomial.hermite.hermgauss(NODES)
    t = torch.as_tensor(t, dtype=torch.float64, device=like.device)
    logw = torch.as_tensor(np.log(w) - 0.5 * math.log(math.pi), dtype=torch.float64)
    return t, logw.to(like.device)


def _log_normal(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)


def _weighted_nodes(y: torch.Tensor, prior: Prior, sigma: torch.Tensor):
    """Quadrature nodes x_k (2K,N,C,H,W) and log weights of N(x; μ, σ_x²)·Rice(y; x, σ)."""
    if not prior.diagonal:
        raise ValueError("the Rician likelihood needs a diagonal prior (mono or diag)")
    y = y.to(torch.float64)
    var_x = prior.cov.clamp_min(1e-12)
    var_n = (sigma**2).expand_as(var_x)
    mean_p = (var_n * prior.mu + var_x * y) / (var_x + var_n)
    std_q = WIDEN * (var_x * var_n / (var_x + var_n)).sqrt()
    t, logw = _nodes(y)
    shape = (-1,) + (1,) * y.dim()
    t, logw = t.view(shape), logw.view(shape)
    # proposal q = ½N(m_p, s_q²) + ½N(−m_p, s_q²): Rice(y; x, σ) is even in x, so its mode at
    # −x also carries weight where the prior reaches below 0; ∫ f = Σ_± ½ E_{q±}[f/q]
    x = torch.cat([mean_p + math.sqrt(2.0) * std_q * t, -mean_p + math.sqrt(2.0) * std_q * t])
    log_q = torch.logaddexp(_log_normal(x, mean_p, std_q), _log_normal(x, -mean_p, std_q))
    log_q = log_q - math.log(2.0)
    log_f = _log_normal(x, prior.mu, var_x.sqrt()) + log_rice(y, x, sigma)
    return x, torch.cat([logw, logw]) - math.log(2.0) + log_f - log_q


def rician_nll(y: torch.Tensor, prior: Prior, sigma: torch.Tensor) -> torch.Tensor:
    """−log ∫ N(x; μ, σ_x²)·Rice(y; x, σ) dx per pixel (N,H,W), summed over channels."""
    _, logf = _weighted_nodes(y, prior, sigma)
    return -torch.logsumexp(logf, dim=0).sum(dim=1)


def rician_posterior_mean(y: torch.Tensor, prior: Prior, sigma: torch.Tensor) -> torch.Tensor:
    """E[x | y] under the prior and the Rician likelihood (N,C,H,W), float64."""
    x, logf = _weighted_nodes(y, prior, sigma)
    return (torch.softmax(logf, dim=0) * x).sum(dim=0)


class RicianNoise(NoiseModel):
    """MRI magnitude noise: y = |x + n₁ + i·n₂|, n ~ N(0, σ²), σ = s/255."""

    kind = "rician"
    param_names = ("sigma",)
    regularised = True

    def from_spec_values(self, values):
        return (values["sigma"] / 255.0).reshape(-1, 1)

    def add(self, x, params, generator=None):
        s = per_image(params, 0).to(x.dtype)
        real = x + s * normal_like(x, generator)
        imag = s * normal_like(x, generator)
        return torch.sqrt(real**2 + imag**2)

    def variance(self, mu_x, params):
        """σ² of the complex components (what the level regulariser and balancing use)."""
        sigma = per_image(params, 0).to(torch.float64).clamp_min(MIN_SIGMA)
        return (sigma**2).expand(mu_x.shape)

    def nll(self, y, prior, var_n, params, recording):
        sigma = per_image(params, 0).to(torch.float64).clamp_min(MIN_SIGMA)
        return rician_nll(y, prior, sigma)

    def posterior_mean(self, y, prior, var_n, params, recording):
        sigma = per_image(params, 0).to(torch.float64).clamp_min(MIN_SIGMA)
        return rician_posterior_mean(y, prior, sigma)
