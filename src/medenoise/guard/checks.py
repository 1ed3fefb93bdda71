"""The guard's checks: after denoising, compare what was removed (input − output, the method noise)
with the inspector's noise measurement, and say in plain words when an output must not be
trusted (anatomy removed, stripes, a model that cannot represent this noise).

Arrays are on the profile's [0, 1] working scale (`to_profile_scale` converts an `Image`'s),
shaped (H, W), (H, W, C) or (S, H, W, C). Thresholds come from the calibration in
docs/guard.md (false alarms on images the tool denoises well, misses on known failures).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from medenoise.inspection.profile import NoiseProfile
from medenoise.inspection.verdict import CORR_LAG1

# Calibrated thresholds: docs/guard.md has the measurements they were chosen from. On images
# the tool denoises well (Set12/BSD68/demo σ 25, FMD raw, W2S) the energy ratio stays ≤ 1.06,
# the coarse share ≤ 0.04, the edge correlation ≤ 0.09 and the range excess ≤ 0.01; each
# limit keeps a margin above that.
ENERGY_LIMIT = 2.0  # removed rms / expected noise rms (interpolated MR: 3.4-5.5)
LOW_FREQ_LIMIT = 0.15  # share of the removed energy at frequencies the noise barely reaches
NOISE_LOW_SHARE = 0.05  # "barely reaches": the noise spectrum holds this share below the cutoff
EDGE_LIMIT = 0.15  # correlation of the removed local energy with the output's edge strength
RANGE_LIMIT = 0.05  # output beyond the input's min/max by this fraction of the input's span
CORRELATION_LIMIT = CORR_LAG1  # the inspector's: lag-1 noise correlation blind spots miss
BLIND_SPOT_METHODS = ("ssdn", "n2v")  # methods that assume noise independent between pixels
MAX_PLANES = 16  # planes of a stack or volume (spread evenly) the spatial figures look at
NOISE_FLOOR = 1e-7  # expected noise std below this (on [0, 1]) counts as this
# planes larger than this per side are cut into equal windows for the spatial figures (the
# spectrum and the edge correlation), averaged as planes are: a Welch-style estimate whose
# memory stays bounded on any image size (a 4096² plane's float64 FFT and filters cost GiBs)
WINDOW_SIDE = 2048
MIN_SIDE = 8  # planes smaller than this are not checked (too few pixels for the figures)


@dataclass(frozen=True)
class ModelInfo:
    """What the guard needs to know of the model: its name and method."""

    name: str
    method: str
    stride: int = 1  # pixel-shuffle stride a blind-spot model ran at (`--pd`; 1: none)
    reach: int = 1  # nearest lag its blind spot lets it see: (blind_square + 1) / 2

    @property
    def blind_spot(self) -> bool:
        """True for models that assume pixel-independent noise (they see no correlation)."""
        return self.method.lower() in BLIND_SPOT_METHODS


@dataclass
class GuardResult:
    """The guard's figures (floats), its findings in words, and what to try instead."""

    figures: dict[str, float] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the output was not checked (e.g. too small)

    @property
    def flagged(self) -> bool:
        """True when the output should not be trusted."""
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {**asdict(self), "flagged": self.flagged}


def model_info(denoiser, name: str | None = None) -> ModelInfo:
    """The `ModelInfo` of a loaded denoiser (its config names the method); `name`: what the
    user called it (default: its file name)."""
    from pathlib import Path

    method = str(getattr(denoiser.config, "method", "unknown"))
    stride = int(getattr(denoiser, "last_stride", None) or 1)  # a PixelShuffleDenoiser's
    reach = (int(getattr(denoiser.config, "blind_square", 1)) + 1) // 2
    name = name or Path(str(denoiser.source)).name
    return ModelInfo(name=name, method=method, stride=stride, reach=reach)


def to_profile_scale(array: np.ndarray, scaling, profile: NoiseProfile) -> np.ndarray:
    """An `Image` array (on its `Scaling`'s [0, 1]) on the profile's [0, 1] scale instead."""
    lo, hi = scaling.lo, scaling.hi
    plo, phi = profile.value_range
    x = np.asarray(array, dtype=np.float32)
    if getattr(scaling, "invert", False):  # MONOCHROME1: undo the flip to get value units
        x = 1.0 - x
    values = x * (hi - lo) + lo
    return (values - plo) / (phi - plo)


def _planes(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, C) or (S, H, W, C) → (N, H, W) float32 planes, channels split."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        return np.moveaxis(a, -1, 0)
    return np.moveaxis(a, -1, 1).reshape(-1, *a.shape[1:3])


def _windows(shape: tuple[int, int, int]) -> list[tuple[int, slice, slice]]:
    """(plane, rows, columns) of equal windows of at most WINDOW_SIDE per side covering each
    of `shape`'s (N, H, W) planes (a few edge pixels dropped): the figures read them as views."""
    n, h, w = shape
    a, b = -(-h // WINDOW_SIDE), -(-w // WINDOW_SIDE)
    hh, ww = h // a, w // b
    return [
        (i, slice(r * hh, (r + 1) * hh), slice(c * ww, (c + 1) * ww))
        for i in range(n)
        for r in range(a)
        for c in range(b)
    ]


def _spread(count: int) -> np.ndarray:
    """Indices of at most MAX_PLANES planes spread evenly over `count`."""
    return np.unique(np.linspace(0, count - 1, min(count, MAX_PLANES)).round().astype(int))


def noise_spectrum(profile: NoiseProfile, shape: tuple[int, int]) -> np.ndarray:
    """The noise's expected power spectrum on an fft2 grid of `shape` (sums to 1)."""

    # A stationary noise's spectrum is the Fourier transform of its autocorrelation; with the
    # measured lags 1-3 per axis and a separable model, S(fy, fx) = Sy(fy) · Sx(fx) with
    # S(f) = 1 + 2 Σ_k ρ_k cos(2π k f), clipped at 0 (measured lags need not be a valid one).
    def axis(n: int, rho) -> np.ndarray:
        f = np.fft.fftfreq(n)
        s = 1.0 + 2.0 * sum(r * np.cos(2 * np.pi * (k + 1) * f) for k, r in enumerate(rho))
        return np.maximum(s, 0.0)

    s = axis(shape[0], profile.corr_y)[:, None] * axis(shape[1], profile.corr_x)[None, :]
    total = s.sum()
    return s / total if total > 0 else np.full(shape, 1.0 / s.size)


def _low_frequency(residual: np.ndarray, profile: NoiseProfile) -> tuple[float, float]:
    """(share of the residual's energy below the cutoff, the noise's share there)."""
    # The cutoff is the radius below which the measured noise puts NOISE_LOW_SHARE of its
    # energy; a residual that is noise keeps about that share there, removed anatomy far more.
    h, w = residual[0].shape
    window = np.outer(np.hanning(h), np.hanning(w))  # no leakage from the plane's borders
    power = np.zeros((h, w))
    for plane in residual:  # one window at a time: bounded memory
        centred = plane - plane.mean(dtype=np.float64)
        power += np.abs(np.fft.fft2(centred * window)) ** 2
    radius = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    expected = noise_spectrum(profile, (h, w))
    order = np.argsort(radius, axis=None, kind="stable")
    cumulative = np.cumsum(expected.ravel()[order])
    cut = radius.ravel()[order][min(np.searchsorted(cumulative, NOISE_LOW_SHARE), h * w - 1)]
    low = radius <= cut
    total = power.sum()
    share = float(power[low].sum() / total) if total > 0 else 0.0
    return share, float(expected[low].sum())


def _edge_correlation(residual: np.ndarray, output: np.ndarray, std: np.ndarray) -> float:
    """Correlation of the removed local energy (in noise units) with the output's edges, with
    what brightness explains taken out of both (a partial correlation)."""
    # Noise removed evenly leaves local energy unrelated to edges; erased detail sits on them.
    # Signal-dependent noise that the noise fit under-predicts in bright areas (a fit that
    # failed on one image of real widefield microscopy) raises the energy on bright
    # structures, hence on their edges: brightness is controlled for so that is not counted.
    from scipy import ndimage

    values = []
    for r, out, s in zip(residual, output, std, strict=True):
        r, out, s = (np.asarray(v, dtype=np.float64) for v in (r, out, s))
        energy = ndimage.gaussian_filter((r / s) ** 2, 2.0).ravel()
        smooth = ndimage.gaussian_filter(out, 1.0)
        edges = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1)).ravel()
        level = ndimage.gaussian_filter(out, 2.0).ravel()
        basis = np.stack([np.ones_like(level), level, level**2], axis=1)
        energy = energy - basis @ np.linalg.lstsq(basis, energy, rcond=None)[0]
        edges = edges - basis @ np.linalg.lstsq(basis, edges, rcond=None)[0]
        if energy.std() > 1e-12 and edges.std() > 1e-12:
            values.append(float(np.corrcoef(energy, edges)[0, 1]))
    return float(np.mean(values)) if values else 0.0


def measure(noisy: np.ndarray, denoised: np.ndarray, profile: NoiseProfile) -> dict[str, float]:
    """The guard's figures for one image: removed vs expected noise, low-frequency share,
    edge correlation, how far the output leaves the input's range."""
    x, y = _planes(noisy), _planes(denoised)
    if x.shape != y.shape:
        raise ValueError(f"input {x.shape} and output {y.shape} differ in shape")
    r = x - y
    std = np.maximum(profile.noise_std(np.clip(y, 0.0, 1.0)), NOISE_FLOOR).astype(np.float32)
    removed = float(np.sqrt(np.mean(np.square(r, dtype=np.float64))))
    expected = float(np.sqrt(np.mean(np.square(std, dtype=np.float64))))
    windows = _windows(r.shape)
    picked = [windows[k] for k in _spread(len(windows))]
    rw, yw, sw = ([a[i, sy, sx] for i, sy, sx in picked] for a in (r, y, std))
    low, low_noise = _low_frequency(rw, profile)
    span = max(float(x.max() - x.min()), NOISE_FLOOR)
    beyond = max(float(y.max() - x.max()), float(x.min() - y.min()), 0.0) / span
    return {
        "removed_std": removed,
        "expected_noise_std": expected,
        "energy_ratio": removed / expected,
        "low_freq_share": low,
        "low_freq_noise_share": low_noise,
        "edge_correlation": _edge_correlation(rw, yw, sw),
        "range_excess": beyond,
        "noise_lag1": float(profile.lag1_correlation),
    }


def check_output(
    noisy: np.ndarray, denoised: np.ndarray, profile: NoiseProfile, model: ModelInfo | None
) -> GuardResult:
    """Compare what the denoiser removed with the measured noise; findings in plain words."""
    if min(_planes(noisy).shape[1:]) < MIN_SIDE:
        return GuardResult(skipped=f"smaller than {MIN_SIDE}×{MIN_SIDE} pixels: not checked")
    figures = measure(noisy, denoised, profile)
    result = GuardResult(figures=figures)
    if np.isfinite(figures["energy_ratio"]) and figures["expected_noise_std"] > 2 * NOISE_FLOOR:
        _check_removed(figures, result, _alternative(profile, model))
    else:  # nothing to compare what was removed with: only the range and the model
        result.skipped = "no noise could be measured: only the output's range was checked"
    if figures["range_excess"] > RANGE_LIMIT:
        result.findings.append(
            f"the output goes {figures['range_excess']:.0%} of the input's span beyond its "
            "values (stripes or artefacts)"
        )
        result.advice.append("--range LO,HI covering the data (`medenoise inspect` shows it)")
    _check_correlation(profile, model, result)
    return result


def _alternative(profile: NoiseProfile, model: ModelInfo | None) -> str:
    """What to run instead: the inspector's recommendation when it is another model."""
    verdict = profile.verdict
    if verdict is not None and verdict.model and (model is None or verdict.model != model.name):
        return " ".join(("--model", verdict.model, *verdict.options))
    return "--model bm3d"


def _check_removed(figures: dict[str, float], result: GuardResult, alternative: str) -> None:
    """Findings on what was removed: too much, coarse structure, along the edges."""
    ratio, low = figures["energy_ratio"], figures["low_freq_share"]
    coarse = low > LOW_FREQ_LIMIT
    where = f"{low:.0%} of it coarse structure the noise barely reaches"
    if ratio > ENERGY_LIMIT:
        text = f"the denoiser removed {ratio:.0f}× more than the measured noise"
        result.findings.append(text + (f", {where}" if coarse else ""))
    elif coarse:
        result.findings.append(f"what the denoiser removed is not noise-like ({where})")
    if figures["edge_correlation"] > EDGE_LIMIT:
        result.findings.append(
            f"what it removed follows the edges of the image "
            f"(correlation {figures['edge_correlation']:.2f})"
        )
    if result.findings:
        result.findings[-1] += ": anatomy or fine detail may be erased"
        if "--noise" not in alternative:
            result.advice.append("--noise at the measured level")
        result.advice.append(alternative)


def _check_correlation(profile: NoiseProfile, model: ModelInfo | None, result: GuardResult):
    """Flag a blind-spot model run on noise correlated between neighbouring pixels."""
    if model is None or not model.blind_spot:
        return
    lag = model.stride * model.reach  # the nearest pixels the model sees are this far apart
    if lag > 1:  # stride-k sub-images, or a blind square that hides the nearer pixels
        at_lag = _lag_correlation(profile, lag)
        if at_lag < CORRELATION_LIMIT:
            return
        result.findings.append(
            f"the noise is still correlated {lag} pixels apart ({at_lag:.2f}), the nearest "
            f"the blind-spot model ({model.method}) sees: it cannot tell it from detail"
        )
        wider = f"--pd {model.stride + 1}" if model.reach == 1 else _alternative(profile, model)
        result.advice.append(wider)
        return
    lag1 = profile.lag1_correlation
    unsafe = profile.verdict is not None and not profile.verdict.blind_spot_safe
    if lag1 >= CORRELATION_LIMIT or unsafe:
        result.findings.append(
            f"the noise is correlated between neighbouring pixels ({lag1:.2f}), which a "
            f"blind-spot model ({model.method}) cannot tell apart from detail"
        )
        result.advice.append(_alternative(profile, model))


def _lag_correlation(profile: NoiseProfile, lag: int) -> float:
    """The larger |correlation| along x or y at `lag` (0 beyond the lags the inspector
    measures: the stride chosen there is where it has died out)."""
    if lag > len(profile.corr_x):
        return 0.0
    return max(abs(profile.corr_x[lag - 1]), abs(profile.corr_y[lag - 1]))


def warning_line(path, result: GuardResult) -> str:
    """The one `warning: FILE: ...` line for a flagged output (empty when not flagged)."""
    if not result.flagged:
        return ""
    advice = "; try " + ", or ".join(dict.fromkeys(result.advice)) if result.advice else ""
    return (
        f"warning: {path}: " + "; ".join(result.findings)
        + f"; do not use this output for diagnosis{advice}"
    )  # fmt: skip


def derivation_note(result: GuardResult) -> str:
    """A short summary of the guard's verdict for the output's provenance text."""
    f = result.figures
    if not f:
        return f"guard: {result.skipped}"
    state = "FLAGGED, not for diagnosis" if result.flagged else "passed"
    return (
        f"guard {state}: removed {f['energy_ratio']:.1f}x the measured noise, "
        f"{f['low_freq_share']:.0%} coarse, edge corr {f['edge_correlation']:.2f}"
    )
