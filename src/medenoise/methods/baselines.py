"""Training-free baselines from methods/classical.py as named models ("bm3d", "bm3d-psd",
"vst-bm3d", "nlm", "identity"): each maps a plane (H, W, C) in [0, 1] and a noise spec to its
estimate.

The noise spec (as `--noise` gives it) sets the level; without one, or with a bare kind
such as "gaussian", the level is estimated from each image. Any channel count works.
"bm3d" always models white noise of one std (σ_eff for a correlated spec); "bm3d-psd" is
given the noise's power spectrum: the spec's exact one, or one built from the correlation
that the inspector measures on the image when no level is given.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from medenoise.capabilities import LevelCapabilities
from medenoise.errors import UserError
from medenoise.methods import classical
from medenoise.noise import NoiseModel, make_noise_model

Baseline = Callable[[np.ndarray, str | None], np.ndarray]


@dataclass(frozen=True)
class BaselineConfig(LevelCapabilities):
    """What a baseline's `Denoiser.config` says: the method name, no weights, any channels."""

    # a baseline takes its level from `noise` or estimates it itself: LevelCapabilities'
    # defaults (no level input, no estimator net) hold

    method: str
    channels: int | None = None  # None: any channel count
    noise: str | None = None  # None: the level is estimated from each image
    noise_param: str = "known"
    covariance: str | None = None
    training: dict[str, Any] = field(default_factory=dict)


def _level(noise: str | None, method: str) -> NoiseModel | None:
    """Noise model of a spec that names a level; None when the level is to be estimated."""
    if noise is None:
        return None
    model = make_noise_model(noise)
    if model.kind == "impulse":
        raise UserError(f"{method} has no model of impulse noise; use a trained model")
    return model if model.spec.has_level else None


def gaussian_sigma(plane: np.ndarray, noise: str | None, method: str = "bm3d") -> float | None:
    """Noise std for BM3D/NLM: σ of gaussian/rician specs; for poisson/pg the root of the
    image's mean noise variance (a Gaussian approximation: vst-bm3d models it properly)."""
    model = _level(noise, method)
    if model is None:
        return None
    params = model.fixed_params(1)
    if model.kind in ("gaussian", "rician"):
        return float(params[0, 0])
    y = torch.from_numpy(np.asarray(plane, dtype=np.float64))[None]
    return float(model.variance(y, params).mean().sqrt())


def poisson_gaussian(plane: np.ndarray, noise: str | None) -> tuple[float | None, float | None]:
    """(a, σ_g) of Var[y] = a·x + σ_g² for the GAT; (None, None) asks vst_bm3d to fit them."""
    model = _level(noise, "vst-bm3d")
    if model is None:
        if noise is not None and make_noise_model(noise).kind in ("gaussian", "rician"):
            return 0.0, classical.estimate_sigma(plane)
        return None, None
    params = model.fixed_params(1)[0].tolist()
    if model.kind in ("gaussian", "rician"):
        a, sigma_g = 0.0, params[0]
    elif model.kind == "poisson":
        a, sigma_g = params[0], 0.0
    else:  # pg: a negative b (pedestal) is clamped, as vst_bm3d does for fitted values
        a, sigma_g = params[0], float(np.sqrt(max(params[1], 0.0)))
    if a <= 0 and sigma_g <= 0:
        raise UserError(f"--noise {noise} has zero variance: nothing to denoise")
    return a, sigma_g


def _bm3d(plane: np.ndarray, noise: str | None) -> np.ndarray:
    """BM3D (CBM3D for RGB) at the spec's or the estimated Gaussian level."""
    return classical.bm3d_denoise(plane, gaussian_sigma(plane, noise, "bm3d"))


def noise_psd(plane: np.ndarray, noise: str | None) -> tuple[np.ndarray, str]:
    """The noise power spectrum for bm3d-psd, (H, W) in bm3d's convention, and its source."""
    h, w = plane.shape[:2]
    model = _level(noise, "bm3d-psd")
    if model is not None and model.kind in ("poisson", "pg"):
        raise UserError(
            f"bm3d-psd models additive Gaussian noise; for --noise {noise} use vst-bm3d"
        )
    if model is not None:
        sigma = float(model.fixed_params(1)[0, 0])
        kernel = model.spec.kernel
        shape = kernel_psd(kernel, h, w) if kernel else np.ones((h, w))
        return sigma**2 * h * w * shape, f"spec {model.spec}"
    return measured_psd(plane), "measured: inspector's lag 0-3 correlation"


def kernel_psd(kernel: str, h: int, w: int) -> np.ndarray:
    """Unit-variance PSD of a named correlation kernel (mean 1), noise/kernels.py."""
    from medenoise.noise.kernels import normalised_psd

    return np.array(normalised_psd(kernel, h, w))


def measured_psd(plane: np.ndarray) -> np.ndarray:
    """PSD from the inspector's measurement of this image: noise variance times its lag -3..3
    correlation map, placed around lag (0, 0) on the periodic grid, FFT, clipped to ≥ 0.
    Falls back to white noise at the Haar-MAD σ when no flat blocks can be measured."""
    from medenoise.inspection.estimate import measure

    h, w = plane.shape[:2]
    arr = np.asarray(plane, dtype=np.float64)
    profile = measure(arr if arr.ndim == 3 else arr[..., None])
    cmap, std = profile.extra.get("corr_map"), profile.extra.get("noise_std", 0.0)
    if cmap is None or not std > 0:
        return np.full((h, w), classical.estimate_sigma(arr) ** 2 * h * w)
    cmap = np.asarray(cmap, dtype=np.float64)
    r = cmap.shape[0] // 2
    acov = np.zeros((h, w))
    lags = np.arange(-r, r + 1)
    np.add.at(acov, ((lags % h)[:, None], (lags % w)[None, :]), std**2 * cmap)
    psd = np.maximum(np.real(np.fft.fft2(acov)), 0.0) * h * w
    if psd.max() <= 0:
        return np.full((h, w), std**2 * h * w)
    return psd


def _bm3d_psd(plane: np.ndarray, noise: str | None) -> np.ndarray:
    """BM3D for correlated noise, given the spec's exact or the measured noise spectrum."""
    psd, source = noise_psd(plane, noise)
    if source.startswith("measured"):
        _note_measured()
    return classical.bm3d_psd_denoise(plane, psd)


@functools.cache
def _note_measured() -> None:
    """Say once per run that bm3d-psd's spectrum is measured, not given."""
    logging.getLogger(__name__).warning(
        "note: bm3d-psd: no noise level given, so each image's noise spectrum is built from "
        "the correlation (lags 0-3) and noise std that `inspect` measures on it"
    )


def _vst_bm3d(plane: np.ndarray, noise: str | None) -> np.ndarray:
    """GAT → BM3D → exact unbiased inverse, for Poisson-Gaussian (signal-dependent) noise."""
    a, sigma_g = poisson_gaussian(plane, noise)
    return classical.vst_bm3d(plane, a, sigma_g)


def _nlm(plane: np.ndarray, noise: str | None) -> np.ndarray:
    """Non-local means at the spec's or the estimated Gaussian level."""
    return classical.nlm_denoise(plane, gaussian_sigma(plane, noise, "nlm"))


def _identity(plane: np.ndarray, noise: str | None) -> np.ndarray:
    """The noisy input itself: the floor every table compares against."""
    return np.array(plane, copy=True)


BASELINES: dict[str, Baseline] = {
    "bm3d": _bm3d,
    "bm3d-psd": _bm3d_psd,
    "vst-bm3d": _vst_bm3d,
    "nlm": _nlm,
    "identity": _identity,
}
"""Named training-free models usable wherever a model file is (`load_model("bm3d")`)."""
