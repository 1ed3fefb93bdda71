"""Clipped and quantised likelihoods against numerical integration of the Gaussian predictive,
their posterior means against quadrature over the clean value, and the pedestal (b < 0)."""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from medenoise.noise import make_noise_model
from medenoise.noise.censored import (
    Recording,
    log_ndtr_diff,
    recorded_nll,
    recorded_posterior_mean,
    truncated_mean,
)
from medenoise.noise.likelihood import Prior, negative_log_likelihood, posterior_mean

mpmath.mp.dps = 40
MS = [-0.3, 0.0, 0.02, 0.4, 0.97, 1.3]  # predictive means, in and beyond [0, 1]
SS = [0.003, 0.04, 0.5]  # predictive stds


def log_mass_by_quadrature(m, s, lo, hi):
    """log ∫_lo^hi N(t; m, s²) dt by mpmath quadrature, splitting the range where the density
    lives (so deep tails, down to 1e-40000, are integrated, not underflowed)."""

    def pdf(t):
        return mpmath.exp(-((t - m) ** 2) / (2 * s**2)) / (s * mpmath.sqrt(2 * mpmath.pi))

    lo = mpmath.mpf(lo) if lo is not None else -mpmath.inf
    hi = mpmath.mpf(hi) if hi is not None else mpmath.inf
    near = min(max(mpmath.mpf(m), lo), hi)  # where in [lo, hi] the density peaks
    scale = s / max(1, abs(near - m) / s)  # its width there
    pts = [near + k * scale for k in (-200, -20, -3, 0, 3, 20, 200)]
    pts = [lo] + [p for p in pts if lo < p < hi] + [hi]
    return float(mpmath.log(mpmath.quad(pdf, pts)))


def scalar_prior(m, s, frac_x=0.5):
    """A 1×1×1×1 prior and noise variance whose predictive is N(m, s²)."""
    t = lambda v: torch.tensor(v, dtype=torch.float64).reshape(1, 1, 1, 1)  # noqa: E731
    return Prior(t(m), t(frac_x * s**2), diagonal=True), t((1 - frac_x) * s**2)


def nll_of(y, m, s, rec):
    prior, var_n = scalar_prior(m, s)
    y = torch.tensor(float(y), dtype=torch.float64).reshape(1, 1, 1, 1)
    return recorded_nll(y, prior, var_n, rec).item()


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("s", SS)
def test_censored_nll_equals_integrated_tail_mass(m, s):
    rec = Recording(clip=(0.0, 1.0))
    assert nll_of(0.0, m, s, rec) == pytest.approx(
        -log_mass_by_quadrature(m, s, None, 0.0), rel=1e-9, abs=1e-9
    )
    assert nll_of(1.0, m, s, rec) == pytest.approx(
        -log_mass_by_quadrature(m, s, 1.0, None), rel=1e-9, abs=1e-9
    )
    # interior values keep the density
    ref = -stats.norm(m, s).logpdf(0.5)
    assert nll_of(0.5, m, s, rec) == pytest.approx(ref, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("lo,hi", [(0.0, 1.0), (0.1, 0.8)])
def test_censoring_bounds_other_than_the_range_ends(lo, hi):
    rec = Recording(clip=(lo, hi))
    for m, s in [(0.2, 0.05), (0.85, 0.02)]:
        assert nll_of(lo, m, s, rec) == pytest.approx(
            -log_mass_by_quadrature(m, s, None, lo), rel=1e-9
        )
        assert nll_of(hi, m, s, rec) == pytest.approx(
            -log_mass_by_quadrature(m, s, hi, None), rel=1e-9
        )


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("s", SS)
def test_quantised_bin_mass_equals_integral_over_the_bin(m, s):
    q = 1 / 255
    clipped, open_ = Recording(clip=(0.0, 1.0), step=q), Recording(step=q)
    for k in (0, 1, 7, 128, 254, 255):
        y = k / 255
        ref = -log_mass_by_quadrature(m, s, y - q / 2, y + q / 2)
        assert nll_of(y, m, s, open_) == pytest.approx(ref, rel=1e-8, abs=1e-9)
        lo = None if k == 0 else y - q / 2  # the end bins reach to ∓∞ when clipped
        hi = None if k == 255 else y + q / 2
        ref = -log_mass_by_quadrature(m, s, lo, hi)
        assert nll_of(y, m, s, clipped) == pytest.approx(ref, rel=1e-8, abs=1e-9)


def test_narrow_bins_approach_density_times_step():
    m, s, q = 0.4, 0.1, 1e-4
    for y in (0.1, 0.4, 0.55):
        dens = -stats.norm(m, s).logpdf(y) - math.log(q)
        assert nll_of(y, m, s, Recording(step=q)) == pytest.approx(dens, abs=1e-6)


def test_log_ndtr_diff_in_both_tails_and_mirrored():
    a = torch.tensor([-60.0, -3.0, 2.0, 39.0, -0.001], dtype=torch.float64)
    b = torch.tensor([-59.9, 1.0, 2.5, 40.0, 0.001], dtype=torch.float64)
    got = log_ndtr_diff(a, b)
    for i in range(len(a)):
        ref = log_mass_by_quadrature(0.0, 1.0, a[i].item(), b[i].item())
        assert got[i].item() == pytest.approx(ref, rel=1e-9)
    assert torch.allclose(log_ndtr_diff(-b, -a), got, rtol=0, atol=1e-12)


def numerical_recorded_mean(mu, var_x, var_n, lo, hi):
    """E[x | lo < Y ≤ hi], Y = x + n: Simpson quadrature over the clean value x of
    x·N(x; μ, σ_x²)·P(lo < x + n ≤ hi), weights in logs (a far bound's weight peaks many σ_x
    from μ, where the plain product underflows), on a fine grid from μ to the bounds."""
    sx, sn = math.sqrt(var_x), math.sqrt(var_n)
    ends = [mu] + [v for v in (lo, hi) if v is not None]
    s = math.sqrt(var_x + var_n)
    x = np.linspace(min(ends) - 12 * s, max(ends) + 12 * s, 200_001)
    if lo is None:
        log_p = special.log_ndtr((hi - x) / sn)
    elif hi is None:
        log_p = special.log_ndtr((x - lo) / sn)
    else:
        with np.errstate(divide="ignore"):  # zero mass far from the bin: weight 0
            log_p = np.log(special.ndtr((hi - x) / sn) - special.ndtr((lo - x) / sn))
    log_w = stats.norm.logpdf(x, mu, sx) + log_p
    w = np.exp(log_w - log_w.max())
    return integrate.simpson(x * w, x=x) / integrate.simpson(w, x=x)


@pytest.mark.parametrize(
    "mu,var_x,var_n",
    [
        (0.05, 0.03**2, 0.02**2),
        (-0.02, 0.01**2, 0.05**2),
        (0.3, 0.1**2, 0.04**2),
        (0.95, 0.05**2, 0.03**2),
    ],
)
def test_recorded_posterior_mean_equals_quadrature(mu, var_x, var_n):
    q = 1 / 255
    prior = Prior(
        torch.full((1, 1, 1, 1), mu, dtype=torch.float64),
        torch.full((1, 1, 1, 1), var_x, dtype=torch.float64),
        True,
    )
    vn = torch.full((1, 1, 1, 1), var_n, dtype=torch.float64)

    def est(y, rec):
        return recorded_posterior_mean(
            torch.full((1, 1, 1, 1), y, dtype=torch.float64), prior, vn, rec
        ).item()

    cens, quant = Recording(clip=(0.0, 1.0)), Recording(clip=(0.0, 1.0), step=q)
    assert est(0.0, cens) == pytest.approx(
        numerical_recorded_mean(mu, var_x, var_n, None, 0.0), abs=1e-7
    )
    assert est(1.0, cens) == pytest.approx(
        numerical_recorded_mean(mu, var_x, var_n, 1.0, None), abs=1e-7
    )
    assert est(0.0, quant) == pytest.approx(
        numerical_recorded_mean(mu, var_x, var_n, None, q / 2), abs=1e-7
    )
    y = 20 / 255
    ref = numerical_recorded_mean(mu, var_x, var_n, y - q / 2, y + q / 2)
    assert est(y, quant) == pytest.approx(ref, abs=1e-7)
    # continuous interior values keep the usual posterior mean
    plain = posterior_mean(torch.full((1, 1, 1, 1), 0.5), prior, vn).item()
    assert est(0.5, cens) == pytest.approx(plain, abs=1e-12)


def test_truncated_mean_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2_000_000, generator=g, dtype=torch.float64)
    for a, b in [(-1e6, -1.0), (0.5, 1e6), (-0.3, 0.2), (1.5, 1.6)]:
        sel = z[(z > a) & (z <= b)]
        got = truncated_mean(
            torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
        ).item()
        assert got == pytest.approx(
            sel.mean().item(), abs=4 * sel.std().item() / math.sqrt(len(sel)) + 1e-4
        )


def test_inactive_recording_is_the_plain_likelihood_and_posterior():
    g = torch.Generator().manual_seed(1)
    y = torch.rand(2, 1, 4, 4, generator=g, dtype=torch.float64)
    prior = Prior(
        torch.rand(2, 1, 4, 4, generator=g, dtype=torch.float64),
        torch.rand(2, 1, 4, 4, generator=g, dtype=torch.float64) * 0.01,
        True,
    )
    vn = torch.full_like(y, 0.002)
    assert torch.equal(
        recorded_nll(y, prior, vn, Recording()), negative_log_likelihood(y, prior, vn)
    )
    assert torch.equal(
        recorded_posterior_mean(y, prior, vn, Recording()), posterior_mean(y, prior, vn)
    )


def test_negative_b_keeps_variance_positive_and_gradients_finite():
    """A pedestal (b < 0) drives a·x + b below zero at dark pixels: the variance is floored,
    and the clipped, quantised NLL and its gradients stay finite, even for wild priors."""
    pg = make_noise_model("pg")
    theta = torch.tensor([[0.5, -3.0]], dtype=torch.float64, requires_grad=True)  # b = −0.003
    params = pg.map_learned(theta)
    assert params[0, 1].item() < 0
    g = torch.Generator().manual_seed(2)
    head = torch.randn(1, 2, 8, 8, generator=g, dtype=torch.float64)
    head[0, 0, :2] = torch.tensor([-5.0, 6.0]).reshape(2, 1)  # far outside [0, 1]
    head[0, 1, 0] = 0.0  # zero prior variance
    head.requires_grad_(True)
    prior = Prior(head[:, :1], head[:, 1:] ** 2, diagonal=True)
    var_n = pg.variance(prior.mu, params)
    assert (var_n > 0).all() and (var_n[:, :, :2] == var_n.min()).any()
    y = (torch.rand(1, 1, 8, 8, generator=g, dtype=torch.float64) * 255).round() / 255
    y[0, 0, 0, :4], y[0, 0, 1, :4] = 0.0, 1.0
    for rec in (
        Recording(clip=(0.0, 1.0)),
        Recording(step=1 / 255),
        Recording((0.0, 1.0), 1 / 255),
    ):
        nll = recorded_nll(y, prior, var_n, rec)
        assert torch.isfinite(nll).all()
        gh, gt = torch.autograd.grad(nll.sum(), (head, theta), retain_graph=True)
        assert torch.isfinite(gh).all() and torch.isfinite(gt).all() and gt.abs().sum() > 0
        assert torch.isfinite(recorded_posterior_mean(y, prior, var_n, rec)).all()


def test_recorded_nll_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(3)
    mu = (torch.rand(1, 1, 3, 3, generator=g, dtype=torch.float64) * 0.4 - 0.05).requires_grad_()
    a = (torch.rand(1, 1, 3, 3, generator=g, dtype=torch.float64) * 0.1 + 0.01).requires_grad_()
    y = torch.tensor(
        [0.0, 1 / 255, 0.2, 0.0, 1.0, 0.5, 0.9, 0.0, 0.1], dtype=torch.float64
    ).reshape(1, 1, 3, 3)
    rec = Recording((0.0, 1.0), 1 / 255)

    def f(mu, a):
        return recorded_nll(y, Prior(mu, a**2, True), torch.full_like(y, 0.02**2), rec)

    assert torch.autograd.gradcheck(f, (mu, a))


def test_diagonal_prior_required():
    full = Prior(
        torch.zeros(1, 3, 2, 2, dtype=torch.float64),
        torch.eye(3, dtype=torch.float64).expand(1, 2, 2, 3, 3),
        False,
    )
    with pytest.raises(ValueError, match="diagonal"):
        recorded_nll(
            torch.zeros(1, 3, 2, 2), full, torch.ones(1, 3, 2, 2), Recording(clip=(0.0, 1.0))
        )
