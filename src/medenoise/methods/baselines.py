"""Training-free baselines from methods/classical.py as named models ("bm3d", "vst-bm3d",
"nlm", "identity"): each maps a plane (H, W, C) in [0, 1] and a noise spec to its estimate.

The noise spec (as `--noise` gives it) sets the level; without one, or with a bare kind
such as "gaussian", the level is estimated from each image. Any channel count works.
"""

from __future__ import annotations

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
    "vst-bm3d": _vst_bm3d,
    "nlm": _nlm,
    "identity": _identity,
}
"""Named training-free models usable wherever a model file is (`load_model("bm3d")`)."""
