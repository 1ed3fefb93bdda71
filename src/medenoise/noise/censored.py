"""Likelihood and posterior mean of recorded values: clipped at the range ends, quantised.

A detector or an 8-bit export records y = clip(round(Y / q)·q, lo, hi), not the Gaussian
predictive Y ~ N(m, s²) itself (m = μ_x, s² = σ_x² + σ_n², per channel). A recorded value is
then an interval of Y: y = lo means Y ≤ lo (+ q/2 when quantised), y = hi means Y ≥ hi
(− q/2), and an interior quantised y means y − q/2 < Y ≤ y + q/2. Its likelihood is the
predictive mass of that interval, P = Φ(β) − Φ(α) with α, β the standardised ends, and the
posterior mean of the clean value is that of a truncated joint Gaussian:
E[x | α < Z ≤ β] = μ_x + (σ_x² / s)·(φ(α) − φ(β)) / (Φ(β) − Φ(α)), Z = (Y − m)/s.
Continuous interior values keep the density and the usual posterior mean. Diagonal priors
only (mono, or per-channel variances): a full covariance couples the channels' intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from medenoise.noise.likelihood import Prior, negative_log_likelihood, posterior_mean

# standing in for ±∞ at an open interval end (z-units): log Φ(−1e6) ≈ −5e11 is finite in
# float64, Φ(β) − Φ(−1e6) equals Φ(β) exactly, and no inf ever reaches autograd
OPEN = 1.0e6
VAR_FLOOR = 1e-10  # predictive variance floor (s ≥ 1e-5) before standardising
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class Recording:
    """How the noisy values were recorded: clipped to `clip` = (lo, hi) on the [0, 1] scale
    (None: never clipped) and quantised with step `step` (0: continuous)."""

    clip: tuple[float, float] | None = None
    step: float = 0.0

    @property
    def active(self) -> bool:
        return self.clip is not None or self.step > 0

    @classmethod
    def of(cls, config) -> Recording:
        """The recording a ModelConfig declares (`clip`, `quant_levels`)."""
        clip = getattr(config, "clip", None)
        levels = getattr(config, "quant_levels", 0) or 0
        return cls(tuple(clip) if clip is not None else None, 1.0 / levels if levels else 0.0)


def log_ndtr_diff(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """log(Φ(β) − Φ(α)) for α < β, stable in both tails and for narrow intervals.

    Intervals in the upper tail are mirrored (Φ(β) − Φ(α) = Φ(−α) − Φ(−β)), so the upper end
    is ≤ 0 where log Φ is accurate; then log Φ(β) + log(1 − exp(log Φ(α) − log Φ(β)))."""
    flip = alpha > 0
    lo = torch.where(flip, -beta, alpha)
    hi = torch.where(flip, -alpha, beta)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log(-torch.expm1(log_lo - log_hi))


def truncated_mean(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """E[Z | α < Z ≤ β] for Z ~ N(0, 1): (φ(α) − φ(β)) / (Φ(β) − Φ(α)), computed in logs."""
    flip = alpha > 0  # mirrored like log_ndtr_diff: E over (α, β] = −E over (−β, −α]
    lo = torch.where(flip, -beta, alpha)
    hi = torch.where(flip, -alpha, beta)
    log_mass = log_ndtr_diff(lo, hi)
    mean = torch.exp(-0.5 * lo**2 - LOG_SQRT_2PI - log_mass) - torch.exp(
        -0.5 * hi**2 - LOG_SQRT_2PI - log_mass
    )
    return torch.where(flip, -mean, mean)


def _intervals(
    y: torch.Tensor, m: torch.Tensor, s: torch.Tensor, rec: Recording
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Standardised interval (α, β) of each recorded value and a mask of the values that are
    intervals (all of them when quantised; only those at a bound when continuous)."""
    half = 0.5 * rec.step
    alpha, beta = (y - half - m) / s, (y + half - m) / s
    interval = torch.full_like(y, rec.step > 0, dtype=torch.bool)
    if rec.clip is not None:
        lo, hi = rec.clip
        # a value within half a step (or 1e-6 when continuous) of a bound was clipped there
        tol = max(half, 1e-6)
        at_lo, at_hi = y <= lo + tol, y >= hi - tol
        open_ = torch.full_like(y, OPEN)
        alpha = torch.where(at_lo, -open_, alpha)
        beta = torch.where(at_lo, (lo + half - m) / s, beta)
        alpha = torch.where(at_hi, (hi - half - m) / s, alpha)
        beta = torch.where(at_hi, open_, beta)
        interval = interval | at_lo | at_hi
    # continuous interior values: a dummy unit interval keeps the unused branch finite
    beta = torch.where(interval, beta, alpha + 1.0)
    return alpha, beta, interval


def _predictive(y: torch.Tensor, prior: Prior, var_n: torch.Tensor):
    if not prior.diagonal:
        raise ValueError("clipped/quantised likelihoods need a diagonal prior (mono or diag)")
    var_y = (prior.cov + var_n).clamp_min(VAR_FLOOR)
    return y.to(torch.float64), prior.mu, var_y.sqrt()


def recorded_nll(
    y: torch.Tensor, prior: Prior, var_n: torch.Tensor, rec: Recording
) -> torch.Tensor:
    """−log likelihood per pixel (N,H,W), summed over channels: −log of the interval's
    predictive mass for clipped or quantised values, −log density for continuous ones."""
    if not rec.active:
        return negative_log_likelihood(y, prior, var_n)
    y64, m, s = _predictive(y, prior, var_n)
    alpha, beta, interval = _intervals(y64, m, s, rec)
    log_mass = log_ndtr_diff(alpha, beta)
    log_density = -0.5 * alpha**2 - torch.log(s) - LOG_SQRT_2PI  # α = (y − m)/s when step 0
    return -torch.where(interval, log_mass, log_density).sum(dim=1)


def recorded_posterior_mean(
    y: torch.Tensor, prior: Prior, var_n: torch.Tensor, rec: Recording
) -> torch.Tensor:
    """E[x | recorded y] (N,C,H,W), float64: truncated-Gaussian means for interval values."""
    plain = posterior_mean(y, prior, var_n)
    if not rec.active:
        return plain
    y64, m, s = _predictive(y, prior, var_n)
    alpha, beta, interval = _intervals(y64, m, s, rec)
    shifted = m + prior.cov / s * truncated_mean(alpha, beta)
    return torch.where(interval, shifted, plain)
