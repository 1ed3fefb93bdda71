"""Noise estimators on the [0, 1] working scale: level, signal dependence, correlation, clipping.

The image is cut into 16×16 blocks; each block loses its best quadratic surface (the local
signal), leaving a noise residual. Blocks are binned by mean intensity; in each bin the robust
(trimmed) residual variance is the noise variance there, since edges and texture only add
variance. A robust line var = a·x + b through the bins is the Poisson-Gaussian fit (after Foi
et al. 2008); blocks whose variance is near that line are the flat ones, and the correlation,
σ and noise variance are measured on them only, so edges never count as noise.
"""

from __future__ import annotations

import numpy as np

from medenoise.inspection.correlation import (
    DETREND_TERMS,
    MAX_LAG,
    correlation_map,
    detrend_matrix,
    raw_lag_products,
    solve_correlation,
)
from medenoise.inspection.profile import NoiseProfile

BLOCK = 16  # block side: large enough for lag-3 statistics, small enough to be flat
SMALL_BLOCK = 8  # for images under 64 pixels on a side
MAX_PLANES = 12  # planes of a stack or volume measured (evenly spread), for speed
MAX_BINS = 16  # intensity bins of the Poisson-Gaussian fit
MIN_BIN_BLOCKS = 6  # fewer blocks than this in a bin: too noisy to use
MIN_BLOCKS = 8  # fewer usable blocks: the image cannot be measured
# Bins over a narrow intensity span still show signal-dependent noise when their variances
# differ by more than this factor (sampling spreads them by a few per cent)
VARIANCE_SPREAD = 1.5
# Bin estimate: blocks above TRIM × the bin's median variance are texture/edges and dropped
# (noise alone rarely doubles a 250-pixel variance); repeated so a textured majority shrinks.
TRIM = 2.0
TRIM_ROUNDS = 4
# A block is flat when its variance is at most FLAT × the fitted noise variance at its
# intensity; 1.6 keeps nearly all noise-only blocks even when the noise is correlated.
FLAT = 1.6
# ... and its detrended variance at most SMOOTH × the flat blocks' typical detrended/Laplacian
# ratio, so leftover shading does not pass for correlated noise.
SMOOTH = 1.25
# A pile-up: one of the two extreme values holding at least PILEUP of the pixels and SPIKE
# times as many as the next value inwards (CT clipped at -1024 HU holds 6 % of a slice, 14×
# its neighbour; a smooth histogram's end never is 4× its neighbour).
PILEUP = 0.005
SPIKE = 4.0
_MAD_TO_STD = 0.6744897501960817  # median(|N(0,1)|)


def haar_sigma(blocks: np.ndarray) -> float:
    """Gaussian σ of (n, B, B) blocks by the MAD of their finest Haar diagonal coefficients."""
    # Donoho 1995; B is even, so no 2×2 cell straddles two blocks.
    # The same estimator as methods.classical.estimate_sigma (a test keeps them equal),
    # restricted to flat blocks; importing that module would load the training stack.
    if blocks.size == 0:
        return 0.0
    c = blocks
    d = (c[:, 0::2, 0::2] - c[:, 0::2, 1::2] - c[:, 1::2, 0::2] + c[:, 1::2, 1::2]) / 2.0
    return float(np.median(np.abs(d)) / _MAD_TO_STD)


def plane_indices(count: int, limit: int = MAX_PLANES) -> list[int]:
    """Up to `limit` evenly spread plane indices out of `count`."""
    if count <= limit:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, limit)})


def planes_of(array: np.ndarray) -> list[np.ndarray]:
    """The 2-D planes to measure of an (H, W[, C]) or (S, H, W, C) array (planes sampled)."""
    arr = np.asarray(array)
    if arr.ndim == 2:
        return [arr]
    if arr.ndim == 3:
        return [arr[..., c] for c in range(arr.shape[-1])]
    if arr.ndim == 4:
        return [arr[s, ..., c] for s in plane_indices(arr.shape[0]) for c in range(arr.shape[-1])]
    raise ValueError(f"expected (H, W, C) or (S, H, W, C), got shape {arr.shape}")


def cut_blocks(plane: np.ndarray, block: int) -> np.ndarray:
    """Non-overlapping block×block tiles of a plane as (n, block, block), float64."""
    h, w = (plane.shape[0] // block) * block, (plane.shape[1] // block) * block
    p = np.asarray(plane[:h, :w], dtype=np.float64)
    return p.reshape(h // block, block, w // block, block).swapaxes(1, 2).reshape(-1, block, block)


def range_ends(scaling=None) -> tuple[float, float]:
    """Working-scale values of the range's ends, where values are clipped."""
    # 0 and 1, moved inwards to the stored type's limits when those map inside (0, 1) (an
    # integer type's extremes under a given --range).
    low, high = [0.0], [1.0]
    if scaling is not None and np.dtype(scaling.dtype).kind in "iu":
        info = np.iinfo(np.dtype(scaling.dtype))
        ends = []
        for stored in (info.min, info.max):
            value = stored * scaling.slope + scaling.inter
            x = (value - scaling.lo) / (scaling.hi - scaling.lo)
            ends.append(1.0 - x if scaling.invert else x)
        low.append(min(ends))
        high.append(max(ends))
    return max(low), min(high)


def precision(scaling=None) -> float:
    """One step of the stored values on the working scale; float data: 1e-4."""
    if scaling is not None and np.dtype(scaling.dtype).kind in "iu":
        return abs(scaling.slope) / (scaling.hi - scaling.lo)
    return 1e-4


def pileups(values: np.ndarray) -> tuple[float | None, float | None]:
    """Values where the data pile up at their low and high ends (a scanner's clip), or None."""
    # Among the two lowest (highest) distinct values, one holding at least PILEUP of the
    # pixels, SPIKE times its inner neighbour, and adjacent to it: CT air clipped at -1024 HU
    # is one; constant padding far outside the data's range (-3024 HU) is not.
    u, c = np.unique(values, return_counts=True)
    if len(u) < 4:
        return None, None
    step = float(np.min(np.diff(u)))
    found: list[float | None] = []
    for order in (slice(None), slice(None, None, -1)):
        uu, cc, level = u[order], c[order], None
        for i in (0, 1):
            near = abs(uu[i + 1] - uu[i]) <= 4 * step
            if cc[i] >= PILEUP * values.size and cc[i] >= SPIKE * cc[i + 1] and near:
                level = float(uu[i])
                break
        found.append(level)
    return found[0], found[1]


def clip_levels(planes, scaling=None) -> tuple[float, float, float | None, float | None]:
    """(bottom end, top end, bottom pile-up, top pile-up) of the measured planes."""
    # Values at or beyond an end, or equal to a pile-up value, count as clipped.
    low, high = range_ends(scaling)
    sample = np.concatenate([np.ravel(p) for p in planes]) if planes else np.zeros(0)
    spike_low, spike_high = pileups(sample) if sample.size else (None, None)
    return low, high, spike_low, spike_high


def clipped_mask(values: np.ndarray, levels) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of values clipped at the bottom and at the top."""
    low, high, spike_low, spike_high = levels
    tol = 1e-6  # float32 rounding of the stored extremes
    bottom, top = values <= low + tol, values >= high - tol
    if spike_low is not None:  # pile-up values came from these very arrays: compare exactly
        bottom = bottom | (values == values.dtype.type(spike_low))
    if spike_high is not None:
        top = top | (values == values.dtype.type(spike_high))
    return bottom, top


def clipped_fractions(planes, levels) -> tuple[float, float]:
    """Fractions of the measured values clipped at the bottom and at the top."""
    total = sum(p.size for p in planes)
    if not total:
        return 0.0, 0.0
    masks = [clipped_mask(np.asarray(p), levels) for p in planes]
    return sum(float(b.sum()) for b, _ in masks) / total, sum(
        float(t.sum()) for _, t in masks
    ) / total


# 3×3 Laplacian scaled to unit gain on white noise: its residual ignores smooth signal
# (it is exact on planes) and its variance is the noise variance for white noise.
LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]) / np.sqrt(20.0)


def laplacian(plane: np.ndarray) -> np.ndarray:
    """The unit-gain Laplacian residual of a plane (edges mirrored), same shape."""
    p = np.pad(np.asarray(plane, dtype=np.float64), 1, mode="reflect")
    out = np.zeros(np.asarray(plane).shape)
    for (i, j), w in np.ndenumerate(LAPLACIAN):
        if w:
            out += w * p[i : i + out.shape[0], j : j + out.shape[1]]
    return out


def laplacian_gain(cmap: np.ndarray) -> float:
    """Laplacian residual variance per unit noise variance under the correlation map `cmap`."""
    # sum over tap pairs of h_u h_v rho(u - v); 1 for white noise
    taps = [((i - 1, j - 1), w) for (i, j), w in np.ndenumerate(LAPLACIAN) if w]
    return float(
        sum(
            wu * wv * cmap[MAX_LAG + u[0] - v[0], MAX_LAG + u[1] - v[1]]
            for u, wu in taps
            for v, wv in taps
        )
    )


def block_statistics(planes, block: int, levels) -> dict[str, np.ndarray]:
    """Per usable block: mean, Laplacian and detrended variances, pixels, detrended residual."""
    # Blocks touching a clip level (their noise is cut off) or perfectly constant (padding,
    # masked background) are left out.
    q_mat = detrend_matrix(block)
    n_pix = block * block
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("raw", "mean", "lap", "var", "res")}
    for plane in planes:
        tiles = cut_blocks(plane, block)
        if not len(tiles):
            continue
        flat = tiles.reshape(len(tiles), -1)
        bottom, top = clipped_mask(flat, levels)
        clipped = (bottom | top).any(1)
        res = flat @ q_mat
        var = (res**2).sum(1) / (n_pix - DETREND_TERMS)
        lap = (cut_blocks(laplacian(plane), block) ** 2).mean((1, 2))
        keep = ~clipped & (var > 1e-14)
        parts["raw"].append(tiles[keep])
        parts["mean"].append(flat[keep].mean(1))
        parts["lap"].append(lap[keep])
        parts["var"].append(var[keep])
        parts["res"].append(res[keep].reshape(-1, block, block))
    if not parts["raw"]:
        return {k: np.zeros((0, block, block) if k in ("raw", "res") else (0,)) for k in parts}
    return {k: np.concatenate(v) for k, v in parts.items()}


def trimmed_variance(var: np.ndarray) -> tuple[float, int]:
    """Noise variance of one bin: mean of the blocks left after trimming texture; and count."""
    keep = var
    for _ in range(TRIM_ROUNDS):
        kept = var[var <= TRIM * np.median(keep)]
        if len(kept) == len(keep) or len(kept) < MIN_BIN_BLOCKS:
            break
        keep = kept
    return float(keep.mean()), len(keep)


def binned_variance(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin mean intensity, bin noise variance, blocks used) over equal-count intensity bins."""
    n_bins = int(min(MAX_BINS, max(1, len(mean) // (2 * MIN_BIN_BLOCKS))))
    order = np.argsort(mean)
    xs, vs, ns = [], [], []
    for idx in np.array_split(order, n_bins):
        if len(idx) < MIN_BIN_BLOCKS:
            continue
        v, n = trimmed_variance(var[idx])
        kept = idx[var[idx] <= TRIM * np.median(var[idx])] if n < len(idx) else idx
        xs.append(float(mean[kept].mean()))
        vs.append(v)
        ns.append(n)
    return np.asarray(xs), np.asarray(vs), np.asarray(ns, dtype=np.float64)


def fit_line(x: np.ndarray, v: np.ndarray, n: np.ndarray) -> tuple[float, float, float]:
    """Robust line v = a·x + b through the bins, and its R² (weighted by blocks per bin)."""
    if len(x) == 0:
        return 0.0, 0.0, 0.0
    # Bins spanning less than two noise std's whose variances agree (one grey level) cannot
    # tell slope from offset: report the level as b alone rather than an extrapolated
    # intercept. A very noisy image spans little more than its noise, yet its variance can
    # change tenfold across the bins (widefield planes at a few photons): that is fitted.
    narrow = np.ptp(x) < 2 * np.sqrt(max(float(np.median(v)), 0.0))
    if len(x) == 1 or (narrow and v.max() < VARIANCE_SPREAD * max(v.min(), 1e-20)):
        return 0.0, float(np.average(v, weights=n)), 0.0
    use = np.ones(len(x), dtype=bool)
    for _ in range(2):
        # relative errors: each bin's variance is known to a fraction, not an absolute amount
        w = n[use] / np.maximum(v[use], 1e-20) ** 2
        a, b = np.polyfit(x[use], v[use], 1, w=np.sqrt(w))
        rel = np.abs(v - (a * x + b)) / np.maximum(v, 1e-20)
        cut = max(3.0 * float(np.median(rel[use])), 0.05)
        new = rel <= cut  # outlying bins (mostly texture left in) are refitted without
        if new.sum() < 2 or (new == use).all():
            break
        use = new
    # R² with the fit's own (relative) weights over all bins: 0 for flat (white) noise
    w = n / np.maximum(v, 1e-20) ** 2
    mean_v = np.average(v, weights=w)
    ss_tot = float(np.sum(w * (v - mean_v) ** 2))
    r2 = 1.0 - float(np.sum(w * (v - (a * x + b)) ** 2)) / ss_tot if ss_tot > 0 else 0.0
    return float(a), float(b), r2


def flat_blocks(stats: dict[str, np.ndarray], x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mask of the flat blocks: no edges, texture or smooth shading, only noise."""
    # Laplacian variance near its intensity bin's noise variance (no edges or texture), and
    # detrended variance not raised by smooth structure.
    # The bins, not the fitted line: noise need not follow a line (CT: air vs tissue).
    expected = np.maximum(np.interp(stats["mean"], x, v), 0.05 * float(np.median(v)))
    flat = stats["lap"] <= FLAT * expected
    if flat.sum() < MIN_BLOCKS:  # nothing looks like the fit: take the quietest blocks
        flat = stats["lap"] <= np.quantile(stats["lap"], 0.25)
    # Noise alone gives one detrended/Laplacian ratio (set by its correlation); smooth
    # shading that the quadratic did not remove raises it and would look like correlation.
    ratio = stats["var"] / np.maximum(stats["lap"], 1e-20)
    smooth = ratio <= SMOOTH * np.median(ratio[flat])
    return flat & smooth if (flat & smooth).sum() >= MIN_BLOCKS else flat


def measure(array: np.ndarray, source: str = "", scaling=None) -> NoiseProfile:
    """Measure the noise of an (H, W, C) or (S, H, W, C) working-scale array."""
    arr = np.asarray(array)
    planes = planes_of(arr)
    levels = clip_levels(planes, scaling)
    clip_low, clip_high = clipped_fractions(planes, levels)
    block = BLOCK if min(arr.shape[-3], arr.shape[-2]) >= 4 * BLOCK else SMALL_BLOCK
    stats = block_statistics(planes, block, levels)
    lo, hi = (scaling.lo, scaling.hi) if scaling is not None else (0.0, 1.0)
    range_source = (scaling.range_source or "given value range") if scaling else "[0, 1]"
    common = dict(
        source=source,
        shape=tuple(int(s) for s in arr.shape),
        value_range=(float(lo), float(hi)),
        range_source=range_source,
        clipped_low=clip_low,
        clipped_high=clip_high,
    )
    facts = {"precision": precision(scaling)}
    if len(stats["var"]) < MIN_BLOCKS:
        return NoiseProfile(
            sigma=0.0, pg_a=0.0, pg_b=0.0, pg_fit_r2=0.0, corr_x=(0.0, 0.0, 0.0),
            corr_y=(0.0, 0.0, 0.0), extra={**facts, "blocks": len(stats["var"]), "flat_blocks": 0},
            **common,
        )  # fmt: skip
    x, v, n = binned_variance(stats["mean"], stats["lap"])
    a, b, r2 = fit_line(x, v, n)
    flat = flat_blocks(stats, x, v)
    rho, noise_var = solve_correlation(raw_lag_products(stats["res"][flat]), block)
    cmap = correlation_map(rho)
    # The Laplacian's variance is the noise variance for white noise only; correlated noise
    # has less fine detail, so divide by its gain under the measured correlation.
    gain = 1.0 / max(laplacian_gain(cmap), 1e-3)
    c = MAX_LAG
    return NoiseProfile(
        sigma=haar_sigma(stats["raw"][flat]),
        pg_a=a * gain,
        pg_b=b * gain,
        pg_fit_r2=r2,
        corr_x=tuple(float(cmap[c, c + k]) for k in (1, 2, 3)),
        corr_y=tuple(float(cmap[c + k, c]) for k in (1, 2, 3)),
        bins=tuple((float(xi), float(vi * gain)) for xi, vi in zip(x, v, strict=True)),
        extra={
            **facts,
            "noise_std": float(np.sqrt(max(noise_var, 0.0))),
            "corr_map": cmap.round(4).tolist(),
            "intensity_span": (float(x.min()), float(x.max())),
            "blocks": int(len(stats["var"])),
            "flat_blocks": int(flat.sum()),
            "block": block,
        },
        **common,
    )


def measure_image(image, source: str = "") -> NoiseProfile:
    """Measure a `data.io.Image` (its working-scale array and the scaling it was read with)."""
    return measure(image.array, source=source, scaling=image.meta.scaling)
