"""How wrong is the Gaussian approximation of Rician (MR magnitude) noise, by SNR?

y = |x + n₁ + i·n₂|, n ~ N(0, σ²), at SNR = x/σ. The SSDN likelihood would treat y as
N(x, σ²). Per SNR this prints, in units of σ: the bias E[y] − x, the std ratio
sd[y]/σ, and two NLL gaps (nats per pixel, the expected log-density difference
E[log Rice(y) − log N(y)], i.e. a KL divergence): to N(x, σ²), the fixed approximation, and
to N(E[y], Var[y]), the best a Gaussian can do once a learned prior absorbs the bias. Moments
are closed form (Laguerre L_½), the KLs are quadratures, and a Monte Carlo run checks the
moments. Last, with a known prior x ~ N(SNR, 0.5²) (the SSDN setting with a perfect prior
network), the RMSE of the posterior mean under the Rician likelihood (noise/rician.py) and
under the Gaussian one. Scale-free: σ = 1.

    PYTHONPATH=src python benchmarks/rician_gaussian.py [--samples 1000000]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy import integrate, special, stats

SNRS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0)


def rician_moments(snr: float) -> tuple[float, float]:
    """E[y] and Var[y] of a Rician with ν = snr, σ = 1."""
    t = -(snr**2) / 2
    # L_½(t) = e^{t/2}[(1 − t) I₀(−t/2) − t I₁(−t/2)], via scaled Bessels (i0e = e^{−|z|} I₀)
    lag = (1 - t) * special.i0e(-t / 2) - t * special.i1e(-t / 2)
    mean = math.sqrt(math.pi / 2) * lag
    return mean, 2 + snr**2 - mean**2


def kl_to_gaussian(snr: float, mean: float, var: float) -> float:
    """E_Rice[log Rice(y) − log N(y; mean, var)] by quadrature over y ≥ 0."""
    rice = stats.rice(max(snr, 1e-12))
    gauss = stats.norm(mean, math.sqrt(var))

    def integrand(y: float) -> float:
        lp = rice.logpdf(y)
        return math.exp(lp) * (lp - gauss.logpdf(y)) if y > 0 else 0.0

    hi = snr + 12
    return integrate.quad(integrand, 0, hi, points=[max(snr - 3, 0), snr, snr + 3], limit=200)[0]


def oracle_rmse(snr: float, samples: int, rng: np.random.Generator) -> tuple[float, float]:
    """RMSE/σ of the posterior mean under the Rician and under the Gaussian likelihood, for
    clean values drawn from the prior they both use, x ~ N(snr, 0.5²) (σ = 1)."""
    import torch

    from medenoise.noise.likelihood import Prior
    from medenoise.noise.rician import rician_posterior_mean

    x = snr + 0.5 * rng.standard_normal(samples)
    y = np.hypot(x + rng.standard_normal(samples), rng.standard_normal(samples))
    shape = (1, 1, 1, samples)
    prior = Prior(
        torch.full(shape, snr, dtype=torch.float64),
        torch.full(shape, 0.25, dtype=torch.float64),
        diagonal=True,
    )
    yt = torch.from_numpy(y).reshape(shape)
    rice = rician_posterior_mean(yt, prior, torch.tensor(1.0, dtype=torch.float64))
    gauss = (0.25 * y + 1.0 * snr) / 1.25  # (σ_x² y + σ² μ) / (σ_x² + σ²)
    return _rmse(rice.reshape(-1).numpy(), x), _rmse(gauss, x)


def _rmse(est: np.ndarray, x: np.ndarray) -> float:
    return float(np.sqrt(np.mean((est - x) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(
        "| SNR x/σ | bias (E[y]−x)/σ | sd[y]/σ | MC bias / sd | NLL gap to N(x, σ²) | "
        "NLL gap to N(E y, Var y) | RMSE/σ, Rician posterior | RMSE/σ, Gaussian posterior |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for snr in SNRS:
        mean, var = rician_moments(snr)
        y = np.hypot(snr + rng.standard_normal(args.samples), rng.standard_normal(args.samples))
        fixed = kl_to_gaussian(snr, snr, 1.0)
        matched = kl_to_gaussian(snr, mean, var)
        rice, gauss = oracle_rmse(snr, args.samples // 10, rng)
        print(
            f"| {snr:g} | {mean - snr:+.3f} | {math.sqrt(var):.3f} | "
            f"{y.mean() - snr:+.3f} / {y.std():.3f} | {fixed:.4f} | {matched:.4f} | "
            f"{rice:.3f} | {gauss:.3f} |"
        )


if __name__ == "__main__":
    main()
