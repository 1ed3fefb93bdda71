"""Gaussian prior from the network head, the NLL of y, and the Bayesian posterior mean.

All arithmetic is float64: 3×3 inverses and log-determinants in float32 are
noisy enough to hurt training. Covariance layouts:
  * "full": Σ_x = A·Aᵀ, A upper-triangular from C(C+1)/2 outputs (mono: σ_x² = a²);
  * "diag": Σ_x = diag(a²), C outputs;
  * "mu":   μ-only ablation, no covariance (output used as is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

EPS = 1e-6  # added to the diagonal before each inverse (keeps Σ_y invertible)
COVARIANCES = ("full", "diag", "mu")


def head_channels(channels: int, covariance: str) -> int:
    """Number of network outputs K for C channels: full C + C(C+1)/2, diag 2C, mu C."""
    if covariance == "full":
        return channels + channels * (channels + 1) // 2
    if covariance == "diag":
        return 2 * channels
    if covariance == "mu":
        return channels
    raise ValueError(f"unknown covariance {covariance!r}; use one of {COVARIANCES}")


@dataclass
class Prior:
    """Per-pixel Gaussian prior over the clean value: μ (N,C,H,W) and Σ_x, where Σ_x is
    (N,C,H,W) per-channel variances when diagonal, else (N,H,W,C,C)."""

    mu: torch.Tensor
    cov: torch.Tensor
    diagonal: bool


def prior_from_head(out: torch.Tensor, channels: int, covariance: str) -> Prior:
    """Split the network output into μ_x and Σ_x (float64)."""
    out = out.to(torch.float64)
    mu, a = out[:, :channels], out[:, channels:]
    if covariance == "diag" or channels == 1:
        return Prior(mu, a**2, diagonal=True)
    n, _, h, w = out.shape
    tri = torch.zeros(n, h, w, channels, channels, dtype=out.dtype, device=out.device)
    rows, cols = torch.triu_indices(channels, channels)
    tri[..., rows, cols] = a.permute(0, 2, 3, 1)
    return Prior(mu, tri @ tri.transpose(-1, -2), diagonal=False)


def _eye(c: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(c, dtype=like.dtype, device=like.device)


def negative_log_likelihood(y: torch.Tensor, prior: Prior, var_n: torch.Tensor) -> torch.Tensor:
    """−log N(y; μ_x, Σ_x + Σ_n) per pixel (nats, summed over channels), shape (N,H,W).

    `var_n` is the diagonal noise variance (N,C,H,W), float64.
    """
    d = y.to(torch.float64) - prior.mu
    c = d.shape[1]
    log2pi = math.log(2 * math.pi)
    if prior.diagonal:
        var_y = prior.cov + var_n
        return 0.5 * (d**2 / var_y + torch.log(var_y) + log2pi).sum(dim=1)
    cov_y = prior.cov + torch.diag_embed(var_n.permute(0, 2, 3, 1))
    chol = torch.linalg.cholesky(cov_y)
    dv = d.permute(0, 2, 3, 1).unsqueeze(-1)
    z = torch.linalg.solve_triangular(chol, dv, upper=False).squeeze(-1)
    logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * ((z**2).sum(-1) + logdet + c * log2pi)


def paper_loss(nll: torch.Tensor, channels: int) -> torch.Tensor:
    """The SSDN training objective per pixel: the NLL without its constant, doubled for
    mono — mono (y−μ)²/σ_y² + log σ_y², RGB ½ quadratic + ½ log det. The scale
    matters only relative to the −0.1·σ̂_n regulariser, so we keep the paper's."""
    core = nll - 0.5 * channels * math.log(2 * math.pi)
    return 2.0 * core if channels == 1 else core


BALANCE_REF_STD = 25.0 / 255.0  # keeps a balanced loss on the scale of σ = 25 (8-bit)


def level_balance_weight(prior: Prior, var_n: torch.Tensor) -> torch.Tensor:
    """σ_y / (25/255) per pixel (N,H,W), detached, σ_y² = mean over channels of Σ_x + Σ_n.

    The NLL's gradient in μ scales as 1/σ_y, so over a level range (σ ∈ [5, 50]) the noisiest
    patches teach the prior ~8x less per step (mean 1/σ_y, stage-1 gauss5-50 prior on BSD400
    crops: σ_y ≈ 6 at σ=5, 51 at σ=50); weighting by σ_y evens that out. Detached and
    positive, it leaves each pixel's optimum (μ = E[x], Σ_y = E[d²]) where it was."""
    if prior.diagonal:
        var_x = prior.cov.mean(dim=1)
    else:
        var_x = torch.diagonal(prior.cov, dim1=-2, dim2=-1).mean(dim=-1)
    return ((var_x + var_n.mean(dim=1)).sqrt() / BALANCE_REF_STD).detach()


CLIP_TOLERANCE = 1e-6  # a value this close to 0 or 1 counts as cut off at the range's end


def unclipped_weight(y: torch.Tensor) -> torch.Tensor:
    """1 where no pixel of the 3×3 neighbourhood (any channel) sits at the range's ends, else
    0, (N,H,W). Values a scanner cut off there (CT air at −1024 HU: a fifth to a quarter of a
    body slice) have no spread, so their density pulls a learned noise level towards 0, and
    their neighbours are draws of a truncated, narrower distribution."""
    ends = ((y <= CLIP_TOLERANCE) | (y >= 1.0 - CLIP_TOLERANCE)).any(dim=1, keepdim=True)
    near = torch.nn.functional.max_pool2d(ends.float(), 3, stride=1, padding=1)
    return (1.0 - near[:, 0]).detach()


def posterior_mean(y: torch.Tensor, prior: Prior, var_n: torch.Tensor) -> torch.Tensor:
    """E[x | y, Ω_y] = (Σ_x⁻¹ + Σ_n⁻¹)⁻¹ (Σ_x⁻¹ μ_x + Σ_n⁻¹ y), shape (N,C,H,W), float64."""
    y64 = y.to(torch.float64)
    if prior.diagonal:
        var_x = prior.cov + EPS
        vn = var_n + EPS
        return (var_x * y64 + vn * prior.mu) / (var_x + vn)
    c = y.shape[1]
    eye = EPS * _eye(c, prior.cov)
    inv_x = torch.linalg.inv(prior.cov + eye)
    inv_n = torch.diag_embed(1.0 / (var_n.permute(0, 2, 3, 1) + EPS))
    mu = prior.mu.permute(0, 2, 3, 1).unsqueeze(-1)
    yv = y64.permute(0, 2, 3, 1).unsqueeze(-1)
    rhs = inv_x @ mu + inv_n @ yv
    x = torch.linalg.solve(inv_x + inv_n + eye, rhs).squeeze(-1)
    return x.permute(0, 3, 1, 2)
