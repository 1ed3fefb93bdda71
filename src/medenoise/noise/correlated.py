"""Spatially correlated additive Gaussian noise: y = x + σ·(h ⊛ n), n white, h a named kernel.

The white noise is filtered in the Fourier domain on each image's periodic grid by √P, P the
kernel's power spectrum normalised to mean 1 (noise/kernels.py), so the added noise has
per-pixel std exactly σ (σ_eff = s/255 of the range for "gaussian:s,kernel=..."), the
autocorrelation IFFT(P) and the power spectrum σ²·H·W·P in bm3d's convention.
"""

from __future__ import annotations

import torch

from medenoise.noise.base import normal_like, per_image
from medenoise.noise.gaussian import GaussianNoise
from medenoise.noise.kernels import normalised_psd

# Methods whose training assumes noise independent from pixel to pixel (a blind spot
# predicts a pixel from its neighbours, whose noise would then reveal the pixel's own).
BLIND_SPOT_METHODS = ("ssdn", "n2v")


class CorrelatedGaussianNoise(GaussianNoise):
    """Gaussian noise with the spec's correlation kernel; the level σ is the marginal std."""

    # The SSDN likelihood is per pixel (diagonal covariance): it does not describe this noise.
    has_likelihood = False

    @property
    def kernel(self) -> str:
        return str(self.spec.kernel)

    def psd(self, height: int, width: int) -> torch.Tensor:
        """Normalised power spectrum (mean 1, FFT layout) on a height×width grid, float64."""
        return torch.from_numpy(normalised_psd(self.kernel, height, width).copy())

    def add(self, x, params, generator=None):
        white = normal_like(x, generator).to(torch.float64)
        gain = self.psd(x.shape[-2], x.shape[-1]).sqrt().to(x.device)
        coloured = torch.fft.ifft2(torch.fft.fft2(white) * gain).real
        return x + per_image(params, 0).to(x.dtype) * coloured.to(x.dtype)


def blind_spot_refusal(method: str, noise) -> str | None:
    """Why `method` cannot train on this noise model, or None when it can."""
    if method in BLIND_SPOT_METHODS and isinstance(noise, CorrelatedGaussianNoise):
        return (
            f"{method} trains with a blind spot, which needs noise independent from pixel to "
            f"pixel; --noise {noise.spec} is spatially correlated: use n2n or n2c"
        )
    return None
