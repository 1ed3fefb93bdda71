"""What the inspector measured on one image or volume, on the [0, 1] working scale."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

VerdictKind = Literal["white", "signal-dependent", "correlated", "clipped", "no-noise", "unknown"]


@dataclass(frozen=True)
class Verdict:
    """The inspector's conclusion in plain words, and what to run (model None: refuse)."""

    kind: VerdictKind
    message: str  # one or two sentences a clinician understands
    model: str | None  # recommended model (zoo name or baseline), None when nothing fits
    options: tuple[str, ...] = ()  # extra command-line options, e.g. ("--range", "-30,245")
    blind_spot_safe: bool = True  # False: blind-spot models would erase detail here


@dataclass(frozen=True)
class NoiseProfile:
    """Noise measurements of one image or volume; intensities on the [0, 1] working scale."""

    source: str
    shape: tuple[int, ...]
    value_range: tuple[float, float]  # the values (after any rescale) that map to 0 and 1
    range_source: str  # where that range came from, in words
    sigma: float  # Gaussian noise std estimate
    pg_a: float  # Poisson-Gaussian fit: noise variance = pg_a * intensity + pg_b
    pg_b: float
    pg_fit_r2: float  # quality of that fit (coefficient of determination over the bins)
    corr_x: tuple[float, float, float]  # noise correlation at lags 1, 2, 3 along x (columns)
    corr_y: tuple[float, float, float]  # ... and along y (rows)
    clipped_low: float  # fraction of values at the bottom of the range
    clipped_high: float  # fraction of values at the top of the range
    bins: tuple[tuple[float, float], ...] = ()  # (mean intensity, noise variance) per bin
    verdict: Verdict | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lag1_correlation(self) -> float:
        """The larger of the lag-1 correlations along x and y."""
        return max(self.corr_x[0], self.corr_y[0])

    def noise_std(self, intensity: np.ndarray) -> np.ndarray:
        """Expected noise std at each intensity from the Poisson-Gaussian fit (never below 0)."""
        var = self.pg_a * np.asarray(intensity, dtype=np.float64) + self.pg_b
        return np.sqrt(np.maximum(var, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists)."""
        return asdict(self)
