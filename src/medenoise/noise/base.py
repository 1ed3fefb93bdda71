"""Shared interface of the noise models: synthesis, noise covariance, learned-parameter mapping.

Parameters travel as a tensor of shape (N, P), one row per image, in the model's canonical
units on the [0, 1] intensity scale (Gaussian σ; Poisson c = 1/λ; Poisson-Gaussian a, b).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from medenoise.errors import UserError
from medenoise.noise.censored import recorded_nll, recorded_posterior_mean
from medenoise.noise.spec import NoiseSpec

# Learned values: softplus(θ − 4) + 1e-3, always positive; ≈ 4.9/255 at θ = 0.
THETA_OFFSET = 4.0
THETA_FLOOR = 1e-3


def softplus_map(theta: torch.Tensor) -> torch.Tensor:
    return F.softplus(theta - THETA_OFFSET) + THETA_FLOOR


class NoiseModel:
    """One physical noise model. Subclasses set `kind`, `param_names`, and implement the
    conversion from spec values, synthesis and the per-pixel noise variance."""

    kind: str = ""
    param_names: tuple[str, ...] = ()
    has_likelihood: bool = True
    regularised: bool = False  # learned level: the loss gets −0.1·σ̂_n (`regulariser`)

    def __init__(self, spec: NoiseSpec):
        self.spec = spec

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    # --- parameters -------------------------------------------------------------------
    def from_spec_values(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Spec units (σ in 1/255, λ photons, a, b) → canonical (N, P) tensor."""
        raise NotImplementedError

    def draw_params(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """Per-image parameters drawn uniformly from the spec's ranges, shape (n, P)."""
        if not self.spec.has_level:
            raise UserError(
                f"noise spec {str(self.spec)!r} has no level; give e.g. "
                f"{self.kind}:25 to synthesise noise"
            )
        values = {}
        for key, (lo, hi) in self.spec.ranges.items():
            dev = "cpu" if generator is None else generator.device
            u = torch.rand(n, generator=generator, dtype=torch.float64, device=dev).cpu()
            values[key] = lo + (hi - lo) * u
        return self.from_spec_values(values).to(device)

    def fixed_params(self, n: int = 1) -> torch.Tensor:
        """The single parameter value of a fixed spec (for 'known' mode at inference)."""
        if not self.spec.is_fixed:
            raise UserError(
                f"noise level of {str(self.spec)!r} is not a single value; "
                f"pass the level of your images with --noise, e.g. {self.kind}:25"
            )
        values = {
            k: torch.full((n,), lo, dtype=torch.float64) for k, (lo, _) in self.spec.ranges.items()
        }
        return self.from_spec_values(values)

    def map_learned(self, theta: torch.Tensor) -> torch.Tensor:
        """Raw learned θ (N, P) → canonical parameters (N, P)."""
        return softplus_map(theta)

    # --- physics ----------------------------------------------------------------------
    def add(
        self, x: torch.Tensor, params: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Noisy version of clean x (N, C, H, W) with per-image params (N, P); never clipped."""
        raise NotImplementedError

    def sample(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw per-image parameters from the spec and add noise: returns (y, params)."""
        params = self.draw_params(x.shape[0], generator, "cpu")
        return self.add(x, params.to(x.device), generator), params.to(x.device)

    def variance(self, mu_x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Per-pixel, per-channel noise variance (diagonal Σ_n), float64, shape like mu_x."""
        raise NotImplementedError

    def observed_variance(self, y: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """An unbiased per-pixel estimate of the noise variance from the noisy values y
        themselves (E over the noise equals `variance` at the clean value), float64. Signal-
        dependent models leave it unclamped: a·y + b goes below 0 on some dark pixels, and
        clamping them would lift its mean above the noise's (BENCHMARKS.md)."""
        return self.variance(y, params)

    def nll(self, y, prior, var_n: torch.Tensor, params: torch.Tensor, recording) -> torch.Tensor:
        """SSDN NLL of y per pixel (N,H,W): the Gaussian predictive N(μ_x, Σ_x + Σ_n), with
        clipped / quantised values as interval masses (`recording`, noise/censored.py)."""
        return recorded_nll(y, prior, var_n, recording)

    def posterior_mean(
        self, y, prior, var_n: torch.Tensor, params: torch.Tensor, recording
    ) -> torch.Tensor:
        """E[x | y] (N,C,H,W), float64, matching `nll`."""
        return recorded_posterior_mean(y, prior, var_n, recording)

    def regulariser(self, var_n: torch.Tensor) -> torch.Tensor:
        """Term subtracted from the loss when the level is learned: 0.1·mean σ̂_n."""
        return 0.1 * var_n.sqrt().mean()


def per_image(params: torch.Tensor, i: int) -> torch.Tensor:
    """Column i of (N, P) params as (N, 1, 1, 1) for broadcasting over images."""
    return params[:, i].reshape(-1, 1, 1, 1)


def _rng_device(x: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    return x.device if generator is None else generator.device


def normal_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like x, drawn on the generator's device (so a seed gives
    the same noise wherever the data live), then moved to x's device."""
    n = torch.randn(
        x.shape, generator=generator, dtype=torch.float32, device=_rng_device(x, generator)
    )
    return n.to(device=x.device, dtype=x.dtype)


def uniform_like(
    shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """U[0,1) noise of the given shape, drawn like `normal_like`."""
    u = torch.rand(shape, generator=generator, device=_rng_device(x, generator))
    return u.to(device=x.device, dtype=x.dtype)


def poisson_like(rate: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Poisson counts with the given (clamped ≥ 0) rate, drawn like `normal_like`."""
    r = rate.detach().to(_rng_device(rate, generator), torch.float64).clamp_min(0.0)
    return torch.poisson(r, generator=generator).to(device=rate.device, dtype=rate.dtype)
