"""Training-free baselines: BM3D, NLM and GAT+BM3D with the exact unbiased inverse (Makitalo & Foi).

All functions take numpy float images in [0, 1] (noisy values may exceed that range and are
never clipped), shaped (H, W) or (H, W, C), and return float arrays of the same shape.

Poisson-Gaussian model: ``y = a * Poisson(x / a) + N(0, sigma**2)`` so that
``E[y] = x`` and ``Var[y] = a*x + sigma**2`` (the pg noise spec's b = sigma**2; Poisson with
count scale lambda: a = 1/lambda, sigma = 0).
"""

from __future__ import annotations

import functools

import numpy as np

_MAD_TO_STD = 0.6744897501960817  # median(|N(0,1)|)


# --------------------------------------------------------------------------- helpers
def _as_hwc(y) -> tuple[np.ndarray, tuple[int, ...]]:
    """View an (H,W) or (H,W,C) image as float64 (H,W,C); also return the original shape."""
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim == 2:
        return arr[..., None], arr.shape
    if arr.ndim == 3:
        return arr, arr.shape
    raise ValueError(f"expected (H,W) or (H,W,C) image, got shape {arr.shape}")


def _haar_diagonal(ch: np.ndarray) -> np.ndarray:
    """Finest-scale orthonormal Haar diagonal coefficients of a 2-D array (noise std preserved)."""
    h, w = (ch.shape[0] // 2) * 2, (ch.shape[1] // 2) * 2
    c = ch[:h, :w]
    return (c[0::2, 0::2] - c[0::2, 1::2] - c[1::2, 0::2] + c[1::2, 1::2]) / 2.0


def estimate_sigma(y) -> float:
    """Gaussian noise std by the robust MAD of finest Haar diagonal coefficients (Donoho 1995).

    The diagonal detail band of natural images is nearly signal-free, so
    ``median(|d|) / 0.6745`` estimates the noise std; colour channels are averaged.
    """
    arr, _ = _as_hwc(y)
    sig = [
        np.median(np.abs(_haar_diagonal(arr[..., c]))) / _MAD_TO_STD for c in range(arr.shape[2])
    ]
    return float(np.mean(sig))


# --------------------------------------------------------------------------- BM3D / NLM
def bm3d_denoise(y, sigma: float | None = None, profile: str = "np") -> np.ndarray:
    """BM3D (Dabov et al. 2007) via the ``bm3d`` package; CBM3D for RGB, per channel otherwise.

    ``sigma`` is the noise std on the data scale ([0,1] images: s/255); estimated when None.
    """
    import bm3d

    arr, shape = _as_hwc(y)
    if sigma is None:
        sigma = estimate_sigma(arr)
    sigma = max(float(sigma), 1e-6)
    if arr.shape[2] == 3:
        out = np.asarray(bm3d.bm3d_rgb(arr, sigma, profile=profile), dtype=np.float64)
    else:
        out = np.stack(
            [
                np.asarray(bm3d.bm3d(arr[..., c], sigma, profile=profile))
                for c in range(arr.shape[2])
            ],
            axis=-1,
        )
    return _restore(out, shape, y)


def bm3d_psd_denoise(y, psd: np.ndarray, profile: str = "np") -> np.ndarray:
    """BM3D for correlated noise (Mäkinen, Azzari & Foi 2020) given the noise power spectrum.

    ``psd`` is (H, W) in FFT layout and in the ``bm3d`` package's convention: white noise of
    std σ has ``psd = σ²·H·W`` everywhere. The same spectrum is used for every channel
    (CBM3D's colour transform for RGB, which rescales it per channel).
    """
    import bm3d

    _restore_trapz()
    arr, shape = _as_hwc(y)
    psd = np.asarray(psd, dtype=np.float64)
    if psd.shape != arr.shape[:2]:
        raise ValueError(f"PSD shape {psd.shape} differs from the image's {arr.shape[:2]}")
    psd = np.maximum(psd, 1e-12 * max(float(psd.max()), 1e-30))
    if arr.shape[2] == 3:
        out = np.asarray(bm3d.bm3d_rgb(arr, psd, profile=profile), dtype=np.float64)
    else:
        out = np.stack(
            [np.asarray(bm3d.bm3d(arr[..., c], psd, profile=profile)) for c in range(arr.shape[2])],
            axis=-1,
        )
    return _restore(out, shape, y)


def _restore_trapz() -> None:
    """bm4d 4.2 (behind bm3d) estimates its correlated-noise parameters with `np.trapz`, which
    NumPy 2.4 removed; `np.trapezoid` is the same function under its new name."""
    if not hasattr(np, "trapz") and hasattr(np, "trapezoid"):
        np.trapz = np.trapezoid


def nlm_denoise(y, sigma: float | None = None) -> np.ndarray:
    """Non-local means (Buades et al. 2005) via skimage, fast mode, h = 0.6 sigma per skimage."""
    from skimage.restoration import denoise_nl_means

    arr, shape = _as_hwc(y)
    if sigma is None:
        sigma = estimate_sigma(arr)
    kwargs = {"channel_axis": -1} if arr.shape[2] > 1 else {}
    img = arr if arr.shape[2] > 1 else arr[..., 0]
    out = denoise_nl_means(
        img, h=0.6 * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6, **kwargs
    )
    return _restore(np.asarray(out, dtype=np.float64).reshape(arr.shape), shape, y)


def _restore(out: np.ndarray, shape: tuple[int, ...], like) -> np.ndarray:
    """Reshape a (H,W,C) result to the caller's shape and float dtype."""
    dtype = np.asarray(like).dtype
    dtype = dtype if np.issubdtype(dtype, np.floating) else np.float64
    return out.reshape(shape).astype(dtype, copy=False)


# --------------------------------------------------------------------------- GAT
def gat(y, a: float, sigma: float = 0.0) -> np.ndarray:
    """Generalised Anscombe transform: (2/a) sqrt(max(a*y + 3/8 a^2 + sigma^2, 0)); unit noise std.

    ``a = 0`` degenerates to the pure-Gaussian case ``y / sigma`` (affine, exactly invertible).
    """
    y = np.asarray(y, dtype=np.float64)
    if a <= 0:
        if sigma <= 0:
            raise ValueError("need a > 0 or sigma > 0")
        return y / sigma
    return (2.0 / a) * np.sqrt(np.maximum(a * y + 0.375 * a * a + sigma * sigma, 0.0))


def gat_inverse_algebraic(d, a: float, sigma: float = 0.0) -> np.ndarray:
    """Direct algebraic inverse of the GAT; biased at low counts (kept for comparison)."""
    d = np.asarray(d, dtype=np.float64)
    if a <= 0:
        return d * sigma
    return ((a * d / 2.0) ** 2 - 0.375 * a * a - sigma * sigma) / a


def gat_inverse_closed_form(d, a: float, sigma: float = 0.0) -> np.ndarray:
    """Makitalo & Foi (2011/2013) closed-form approximation of the exact unbiased inverse."""
    d = np.asarray(d, dtype=np.float64)
    if a <= 0:
        return d * sigma
    s = sigma / a
    dd = np.maximum(d, 1e-8)
    r = np.sqrt(1.5)
    x = 0.25 * dd**2 + 0.25 * r / dd - 1.375 / dd**2 + 0.625 * r / dd**3 - 0.125 - s * s
    return a * np.maximum(x, 0.0)


_TABLE_MAX = 200.0  # normalised counts covered by the exact table; closed form beyond


@functools.lru_cache(maxsize=32)
def _exact_table(s: float) -> tuple[np.ndarray, np.ndarray]:
    """Table of E[f(z) | x] for the unit-gain GAT f(z)=2 sqrt(z + 3/8 + s^2), z=Poisson(x)+N(0,s^2).

    The expectation is an exact Poisson sum (pmf truncated 15 std above the mean) of the
    Gaussian expectation of each term, itself a trapezoid quadrature over +-10 s (4001 nodes).
    Returns (x grid, E values); E is strictly increasing so it can be inverted by interpolation.
    """
    from scipy.stats import poisson

    x = np.linspace(0.0, np.sqrt(_TABLE_MAX), 4000) ** 2  # dense near 0, where bias lives
    kmax = int(_TABLE_MAX + 15.0 * np.sqrt(_TABLE_MAX) + 30)
    k = np.arange(kmax + 1, dtype=np.float64)
    c = 0.375 + s * s
    if s < 1e-4:
        g = 2.0 * np.sqrt(k + c)
    else:
        n = np.linspace(-10.0 * s, 10.0 * s, 4001)
        w = np.exp(-0.5 * (n / s) ** 2)
        w /= w.sum()
        g = np.array([2.0 * np.sqrt(np.maximum(kk + c + n, 0.0)) @ w for kk in k])
    pmf = poisson.pmf(k[None, :], x[:, None])
    return x, pmf @ g


def gat_inverse(d, a: float, sigma: float = 0.0) -> np.ndarray:
    """Exact unbiased inverse of the GAT (Makitalo & Foi 2013), computed numerically.

    Finds x with E[gat(y) | x] = d: the expectation is tabulated in normalised units
    (gain 1, Gaussian std sigma/a; the GAT satisfies f_{a,sigma}(y) = f_{1,sigma/a}(y/a)) and the
    monotone map is inverted by linear interpolation.  Above 200 normalised counts the
    closed-form approximation is used (it is exact to <1e-4 there).  Values of d below
    E[f | x=0] map to 0.
    """
    d = np.asarray(d, dtype=np.float64)
    if a <= 0:
        return d * sigma
    s = round(float(sigma) / a, 6)
    xs, es = _exact_table(s)
    out = np.interp(d, es, xs, left=0.0)
    tail = d > es[-1]
    if np.any(tail):
        out = np.where(tail, gat_inverse_closed_form(d, 1.0, s), out)
    return a * out


# --------------------------------------------------------------------------- VST + BM3D
def vst_bm3d(y, a: float | None = None, sigma_g: float | None = None, profile: str = "np"):
    """Poisson-Gaussian denoising: GAT -> BM3D at unit noise std -> exact unbiased inverse.

    The GAT output lives on a count-like scale (range ~2 sqrt(peak/a)); it is mapped affinely
    to [0, 1] and BM3D is told the correspondingly scaled std 1/(hi - lo).  Parameters
    missing are fitted with :func:`estimate_poisson_gaussian` (negative offsets clamp to 0).
    """
    arr, shape = _as_hwc(y)
    if a is None or sigma_g is None:
        a_est, b_est = estimate_poisson_gaussian(arr)
        a = a_est if a is None else a
        sigma_g = float(np.sqrt(max(b_est, 0.0))) if sigma_g is None else sigma_g
    if a <= 0 and sigma_g <= 0:
        raise ValueError("noise parameters are both zero: nothing to denoise")
    d = gat(arr, a, sigma_g)
    lo, hi = float(d.min()), float(d.max())
    span = max(hi - lo, 1e-6)
    den = bm3d_denoise((d - lo) / span, 1.0 / span, profile=profile)
    out = gat_inverse(den * span + lo, a, sigma_g)
    return _restore(np.asarray(out).reshape(arr.shape), shape, y)


def estimate_poisson_gaussian(y, block: int = 16, bins: int = 16) -> tuple[float, float]:
    """Fit Var[y] ~= a * E[y] + b from local (mean, noise variance) pairs (Foi et al. 2008 spirit).

    Each block x block tile gives its mean and a noise variance from the MAD of its finest
    Haar diagonal coefficients (texture-robust).  Tiles are binned by mean; the median
    variance of each bin (texture only inflates variance, so the median favours flat tiles)
    is fitted by Theil-Sen regression.  Returns (a >= 0, b); b may be negative (pedestal).
    """
    from scipy.stats import theilslopes

    arr, _ = _as_hwc(y)
    means, vars_ = [], []
    h, w = (arr.shape[0] // block) * block, (arr.shape[1] // block) * block
    if h == 0 or w == 0:
        raise ValueError(f"image smaller than one {block}x{block} block")
    for c in range(arr.shape[2]):
        tiles = arr[:h, :w, c].reshape(h // block, block, w // block, block).swapaxes(1, 2)
        tiles = tiles.reshape(-1, block, block)
        dia = (
            tiles[:, 0::2, 0::2]
            - tiles[:, 0::2, 1::2]
            - tiles[:, 1::2, 0::2]
            + tiles[:, 1::2, 1::2]
        ) / 2.0
        sd = np.median(np.abs(dia.reshape(len(tiles), -1)), axis=1) / _MAD_TO_STD
        means.append(tiles.mean(axis=(1, 2)))
        vars_.append(sd**2)
    m, v = np.concatenate(means), np.concatenate(vars_)
    edges = np.quantile(m, np.linspace(0.0, 1.0, bins + 1))
    idx = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, bins - 1)
    bm, bv = [], []
    for i in range(bins):
        sel = idx == i
        if sel.sum() >= 3:
            bm.append(np.median(m[sel]))
            bv.append(np.median(v[sel]))
    if len(bm) < 2:
        return 0.0, float(np.median(v))
    slope, intercept, _, _ = theilslopes(bv, bm)
    slope = max(float(slope), 0.0)
    if slope == 0.0:
        intercept = float(np.median(bv))
    return slope, float(intercept)
