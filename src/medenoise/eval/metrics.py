"""PSNR / SSIM / relative-gain metrics, each tied to a named protocol so tables stay comparable."""

from __future__ import annotations

import numpy as np

PROTOCOL: dict[str, str] = {
    "psnr": "float inputs, peak = data_range (1.0 for [0,1] images), no clipping",
    "psnr_8bit": "SSDN paper: both images -> clip(255*v + 0.5, 0, 255) as uint8, peak 255",
    "ssim": (
        "Wang et al. 2004: Gaussian window sigma=1.5 (11x11), K1=0.01, K2=0.03, "
        "population covariance, explicit data_range; RGB averaged over channels"
    ),
    "relative_gain": "(metric_denoised - metric_noisy) / metric_noisy (PSNR_var, SSIM_var)",
    "affine": (
        "optional: each image is first mapped by its least-squares a*x + b onto the "
        "reference, per channel (for references recorded at another gain or offset)"
    ),
}
"""Human-readable description of each metric's protocol, for report headers."""


def _pair(x, ref) -> tuple[np.ndarray, np.ndarray]:
    """Convert both inputs to float64 arrays of identical shape (shape mismatch is an error)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    return a, b


def affine_fit(x, ref) -> np.ndarray:
    """`x` mapped by the least-squares a·x + b onto `ref`, per channel of (H, W, C) arrays:
    scores that ignore a reference's different gain and offset (CARE's protocol)."""
    a, b = _pair(x, ref)
    flat_a = a.reshape(-1, a.shape[-1] if a.ndim == 3 else 1)
    flat_b = b.reshape(flat_a.shape)
    da, db = flat_a - flat_a.mean(axis=0), flat_b - flat_b.mean(axis=0)
    spread = (da**2).mean(axis=0)
    gain = np.divide((da * db).mean(axis=0), spread, out=np.zeros_like(spread), where=spread > 0)
    return (gain * da + flat_b.mean(axis=0)).reshape(a.shape)


def psnr(x, ref, data_range: float = 1.0) -> float:
    """PSNR in dB of float images with peak ``data_range``; inf when identical."""
    a, b = _pair(x, ref)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def to_uint8(v) -> np.ndarray:
    """Quantise a [0,1] float image as the SSDN paper does: clip(255*v + 0.5, 0, 255) -> uint8."""
    return np.clip(255.0 * np.asarray(v, dtype=np.float64) + 0.5, 0.0, 255.0).astype(np.uint8)


def psnr_8bit(x, ref) -> float:
    """PSNR of both images after 8-bit quantisation (SSDN protocol), peak 255."""
    return psnr(to_uint8(x).astype(np.float64), to_uint8(ref).astype(np.float64), 255.0)


def ssim(x, ref, data_range: float = 1.0) -> float:
    """Wang et al. 2004 SSIM (Gaussian sigma=1.5, K1=0.01, K2=0.03, population cov)."""
    from skimage.metrics import structural_similarity

    a, b = _pair(x, ref)
    if a.ndim == 3 and a.shape[-1] == 1:
        a, b = a[..., 0], b[..., 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"expected (H,W) or (H,W,C) arrays, got shape {a.shape}")
    kwargs = {"channel_axis": -1} if a.ndim == 3 else {}
    return float(
        structural_similarity(
            a,
            b,
            data_range=data_range,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            K1=0.01,
            K2=0.03,
            **kwargs,
        )
    )


def relative_gain(denoised: float, noisy: float) -> float:
    """Relative improvement (denoised - noisy) / noisy, i.e. the report's PSNR_var / SSIM_var."""
    if noisy == 0:
        raise ZeroDivisionError("relative_gain undefined for a zero noisy metric")
    return float((denoised - noisy) / noisy)
