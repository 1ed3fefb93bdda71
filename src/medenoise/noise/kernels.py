"""Named noise-correlation kernels (`kernel=` of a gaussian spec) and their exact power spectra.

Correlated noise is white noise filtered in the Fourier domain on the image's periodic grid,
so its power spectrum is known exactly: P(f), normalised to mean 1 over the H×W frequency
grid, which makes the per-pixel variance of the filtered noise exactly 1 and its
autocorrelation at lag d exactly IFFT(P)(d). The spec's σ then is σ_eff, the std of the
noise actually added.

Kernels:
  box<n>               n×n uniform blur of white noise (n odd, e.g. box3)
  gauss:<s> / gauss<s> Gaussian blur of white noise, std s pixels
  ct[:<window>[:<fc>]] a model of CT reconstruction noise (not a measured spectrum): radial
                       NPS ∝ |f|·A(f)² for |f| ≤ fc cycles/pixel, 0 beyond: the ramp filter
                       times an apodisation window A, `hann` (default), `shepp` (Shepp-Logan,
                       sinc) or `ramlak` (none); fc defaults to 0.5 (Nyquist)
"""

from __future__ import annotations

import functools
import re

import numpy as np

from medenoise.errors import UserError

WINDOWS = ("hann", "shepp", "ramlak")
CT_CUTOFF = 0.5  # cycles/pixel: the Nyquist frequency
KERNEL_HELP = "box<n> (odd n), gauss:<std px>, ct, ct:<hann|shepp|ramlak>[:<cutoff 0-0.5]"


def _bad(text: str, spec: str, why: str) -> UserError:
    return UserError(f"noise spec {spec!r}: kernel {text!r} {why} (use {KERNEL_HELP})")


def canonical_kernel(text: str, spec: str = "") -> str:
    """The kernel's canonical name (`gauss1.5` → `gauss:1.5`, `ct` → `ct:hann`); UserError
    naming the spec when it is not a known kernel."""
    t = text.strip().lower()
    if m := re.fullmatch(r"box(\d+)", t):
        n = int(m.group(1))
        if n < 1 or n % 2 == 0:
            raise _bad(text, spec, "needs an odd size ≥ 1")
        return f"box{n}"
    if m := re.fullmatch(r"gauss:?([0-9.eE+]+)", t):
        try:
            s = float(m.group(1))
        except ValueError:
            raise _bad(text, spec, "has no valid std") from None
        if not (0 < s <= 64):
            raise _bad(text, spec, "needs a std in (0, 64] pixels")
        return f"gauss:{s:g}"
    if t == "ct" or t.startswith("ct:"):
        parts = t.split(":")[1:] or ["hann"]
        if parts[0] not in WINDOWS or len(parts) > 2:
            raise _bad(text, spec, "names no known apodisation window")
        try:
            fc = float(parts[1]) if len(parts) == 2 else CT_CUTOFF
        except ValueError:
            raise _bad(text, spec, "has no valid cutoff") from None
        if not (0 < fc <= CT_CUTOFF):
            raise _bad(text, spec, "needs a cutoff in (0, 0.5] cycles/pixel")
        return f"ct:{parts[0]}" + ("" if fc == CT_CUTOFF else f":{fc:g}")
    raise _bad(text, spec, "is not a known kernel")


def _spatial_psd(kernel: np.ndarray, h: int, w: int) -> np.ndarray:
    """|FFT|² of a centred spatial kernel wrapped onto the periodic h×w grid."""
    grid = np.zeros((h, w))
    kh, kw = kernel.shape
    ys = (np.arange(kh) - kh // 2) % h
    xs = (np.arange(kw) - kw // 2) % w
    np.add.at(grid, (ys[:, None], xs[None, :]), kernel)  # wraps when larger than the image
    return np.abs(np.fft.fft2(grid)) ** 2


def _window(name: str, f: np.ndarray, fc: float) -> np.ndarray:
    """Apodisation A(f) of filtered back-projection, for 0 ≤ f ≤ fc."""
    if name == "hann":
        return 0.5 * (1.0 + np.cos(np.pi * f / fc))
    if name == "shepp":
        return np.sinc(f / (2.0 * fc))  # sin(πf/2fc)/(πf/2fc)
    return np.ones_like(f)


def ct_radial(window: str, f: np.ndarray, fc: float = CT_CUTOFF) -> np.ndarray:
    """Unnormalised CT noise model |f|·A(f)² at radial frequencies f, zero above fc."""
    f = np.asarray(f, dtype=np.float64)
    inside = f <= fc
    return np.where(inside, f * _window(window, np.minimum(f, fc), fc) ** 2, 0.0)


@functools.lru_cache(maxsize=16)
def _psd_cached(kernel: str, h: int, w: int) -> np.ndarray:
    name, _, arg = kernel.partition(":")
    if name.startswith("box"):
        n = int(name[3:])
        psd = _spatial_psd(np.ones((n, n)), h, w)
    elif name == "gauss":
        s = float(arg)
        r = int(np.ceil(4 * s))
        y, x = np.mgrid[-r : r + 1, -r : r + 1]
        psd = _spatial_psd(np.exp(-(x**2 + y**2) / (2 * s * s)), h, w)
    else:
        window, _, fc = arg.partition(":")
        fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
        psd = ct_radial(window, np.hypot(fy, fx), float(fc) if fc else CT_CUTOFF)
    if psd.mean() <= 0:
        raise UserError(f"noise kernel {kernel!r} passes no frequency of a {h}×{w} image")
    out = psd / psd.mean()
    out.setflags(write=False)
    return out


def normalised_psd(kernel: str, h: int, w: int) -> np.ndarray:
    """Power spectrum of unit-variance noise with this kernel on an h×w grid (FFT layout,
    mean 1, read-only): bm3d's `sigma_psd` for std σ is σ²·h·w times this."""
    return _psd_cached(canonical_kernel(kernel), int(h), int(w))


def autocorrelation(kernel: str, h: int, w: int) -> np.ndarray:
    """Exact autocorrelation (lag (0, 0) = 1) of the kernel's noise on an h×w grid, FFT layout."""
    return np.real(np.fft.ifft2(normalised_psd(kernel, h, w)))
