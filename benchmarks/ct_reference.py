"""Real CT with a reference: the held-out CT slices whose own noise is lowest (the soft-kernel
series' upper bed, which is the top of the skull, and a head CT) serve as references, and
noise with the spectrum measured on the noisiest held-out slices of one series is added to
them. Denoisers are scored against the reference (RMSE in HU over the body, in soft tissue
and at edges; SSIM in a soft-tissue window) beside the no-reference figures of `ct_noref.py`
on the same noisy slice, so one can see whether a flat-region std ratio tracks
the error it stands in for.

    MEDENOISE_DATA_ROOT=../shared/data python benchmarks/ct_reference.py \
        --model bm3d-psd --model configs/zoo/partial/ssdn-ct-square7-800.safetensors \
        [--kernel soft|lung] [--json OUT]

`--model bm3d-psd:known` is BM3D given the spectrum that was added, beside `bm3d-psd`, which
measures each noisy slice's spectrum as on a real scan.

The noise (`--kernel soft`, or `lung` for the sharp-kernel series' noise on the same
references): on each source slice, the flat soft-tissue tiles (ct_noref's mask) less their
local mean (a Gaussian of `--smooth` px, 4 by default, over those tiles); the autocovariance
of those residuals at lags -8..8, averaged over the source slices, Fourier-transformed on the
reference's grid and clipped to >= 0. At 4 px it reads about the std and lag-1..3
correlation that `inspect` reads on those slices; a wider mean adds slow variation, which
one noisy slice cannot split into noise and anatomy. Gaussian noise with that spectrum is
added inside the scanner's field of view (reference above -1,500 HU) and clipped at the
reference's lowest value (the air floor, as a scanner stores it): stationary, unlike a
scanner's, with the measured texture and std (tests/bench/test_ct_reference.py checks both
on a phantom). The references keep their own noise (3-5 HU): a floor for every model alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ct_noref  # noqa: E402

RADIUS = 8
SMOOTH = 4.0  # px: the local mean the noise is measured against (--smooth)
FOV_HU = -1500.0
BODY_HU = -900.0
SOFT_WINDOW = (-160.0, 240.0)  # a soft-tissue display window (W 400, L 40)


def _flat_residuals(hu: np.ndarray, smooth: float) -> tuple[np.ndarray, np.ndarray]:
    """(residual, mask): the flat soft-tissue tiles minus their local mean (a Gaussian of
    `smooth` px, normalised over those tiles alone), zero elsewhere. A wider mean keeps more of
    the noise's slow part, and more anatomy with it: one noisy slice cannot tell them apart."""
    from scipy import ndimage

    b = ct_noref.BLOCK
    keep = ct_noref.flat_mask(hu)
    rows, cols = hu.shape[0] // b, hu.shape[1] // b
    mask = np.zeros(hu.shape, bool)
    mask[: rows * b, : cols * b] = np.kron(keep.reshape(rows, cols), np.ones((b, b))) > 0
    weight = ndimage.gaussian_filter(mask.astype(float), smooth)
    local = ndimage.gaussian_filter(np.where(mask, hu, 0.0), smooth) / np.maximum(weight, 1e-6)
    return np.where(mask, hu - local, 0.0), mask


def measured_autocovariance(hu: np.ndarray, smooth: float = SMOOTH) -> np.ndarray:
    """(2R+1)² autocovariance (HU²) of the noise in the slice's flat soft-tissue tiles."""
    res, mask = _flat_residuals(hu, smooth)
    shape = [n + RADIUS for n in res.shape]
    f_res, f_mask = np.fft.rfft2(res, shape), np.fft.rfft2(mask.astype(float), shape)
    num = np.fft.irfft2(f_res * np.conj(f_res), shape)
    den = np.fft.irfft2(f_mask * np.conj(f_mask), shape)
    lags = np.arange(-RADIUS, RADIUS + 1)
    pick = np.ix_(lags % shape[0], lags % shape[1])
    return num[pick] / np.maximum(den[pick], 1.0)


def spectrum(acov: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The power spectrum (FFT layout, clipped to >= 0) of the (2R+1)² autocovariance `acov`
    placed around lag (0, 0) on the periodic (H, W) grid; its mean is acov's lag-0 value."""
    h, w = shape
    grid = np.zeros(shape)
    lags = np.arange(-RADIUS, RADIUS + 1)
    np.add.at(grid, ((lags % h)[:, None], (lags % w)[None, :]), acov)
    return np.maximum(np.real(np.fft.fft2(grid)), 0.0)


def correlated_noise(acov: np.ndarray, shape: tuple[int, int], seed: int) -> np.ndarray:
    """Stationary Gaussian noise on a (H, W) grid whose autocovariance is `acov` (clipped PSD)."""
    psd = spectrum(acov, shape)
    white = np.random.default_rng(seed).standard_normal(shape)
    noise = np.real(np.fft.ifft2(np.fft.fft2(white) * np.sqrt(psd)))
    return noise * np.sqrt(acov[RADIUS, RADIUS] / noise.var())


def error_figures(ref_hu: np.ndarray, out_hu: np.ndarray) -> dict[str, float]:
    """RMSE (HU) against the reference over the body, soft tissue and edges (the top tenth of
    the body's gradient); SSIM in a soft-tissue window, averaged over the body."""
    from scipy import ndimage
    from skimage.metrics import structural_similarity

    body = ref_hu > BODY_HU
    soft = body & (ref_hu >= SOFT_WINDOW[0]) & (ref_hu <= SOFT_WINDOW[1])
    grad = np.hypot(ndimage.sobel(ref_hu, 0), ndimage.sobel(ref_hu, 1))
    edges = body & (grad >= np.quantile(grad[body], 0.9))
    err = (out_hu - ref_hu) ** 2
    lo, hi = SOFT_WINDOW
    win = lambda a: np.clip((a - lo) / (hi - lo), 0, 1)  # noqa: E731
    _, ssim_map = structural_similarity(win(ref_hu), win(out_hu), data_range=1.0, full=True)
    return {
        "rmse_body_hu": float(np.sqrt(err[body].mean())),
        "rmse_soft_hu": float(np.sqrt(err[soft].mean())),
        "rmse_edges_hu": float(np.sqrt(err[edges].mean())),
        "ssim_window": float(ssim_map[body].mean()),
    }


def haar_noise_hu(image, stride: int = 3) -> float:
    """Noise std (HU) by the Haar measure on the slice's stride-3 sub-images, where the
    kernel's correlation has mostly died out (what `ssdn-ct`'s level measure reads)."""
    import torch
    import torch.nn.functional as F

    from medenoise.noise.measured_level import haar_level

    plane, sc = image.array[..., 0], image.meta.scaling
    h, w = plane.shape[0] // stride * stride, plane.shape[1] // stride * stride
    x = torch.from_numpy(plane[:h, :w].astype(np.float32))[None, None]
    views = F.pixel_unshuffle(x, stride).reshape(stride * stride, 1, h // stride, w // stride)
    return float(haar_level(views).nanmean()) * (sc.hi - sc.lo)


def split_slices(files: list[Path], kernel: str) -> tuple[list[Path], list[Path]]:
    """(references, noise sources): the held-out CT slices of 512² or more whose own noise is
    below 5 HU are references; the slices of the `kernel` series ("soft" or "lung", the
    sharp one) whose noise is above 10 HU are sources."""
    from medenoise.data.io import read

    level = {}
    for f in files:
        image = read(f)
        if min(image.array.shape[:2]) >= 512:
            level[f] = haar_noise_hu(image)
            print(f"{f.parent.name}/{f.name}: noise {level[f]:.2f} HU (Haar, stride 3)")
    refs = [f for f in level if level[f] < 5.0]
    return refs, [f for f in level if level[f] > 10.0 and f"{kernel}_kernel" in f.parent.name]


def noisy_copy(path: Path, acov: np.ndarray, seed: int):
    """(image with the measured noise added on its working scale, reference in HU)."""
    from medenoise.data.io import read

    image = read(path)
    sc = image.meta.scaling
    ref = ct_noref._hu(image.array, sc)
    noise = correlated_noise(acov, ref.shape, seed) * (ref > FOV_HU)
    # a scanner stores nothing below its air floor (-1024 HU here): clip as it does
    noisy = (np.maximum(ref + noise, ref.min()) - sc.lo) / (sc.hi - sc.lo)
    image.array = noisy.astype(np.float32)[..., None]
    return image, ref


class KnownSpectrumBM3D:
    """`bm3d-psd:known`: BM3D given the spectrum of the noise that was added (the oracle
    beside `bm3d-psd`, which measures each slice's spectrum as on a real scan)."""

    def __init__(self, acov: np.ndarray):
        import types

        self.acov, self.source = acov, "bm3d-psd:known"
        self.config = types.SimpleNamespace(method="bm3d-psd")  # what the guard asks of it

    def denoise_image(self, image, noise=None):
        """The slice denoised in place, as the models' `denoise_image` does."""
        from medenoise.methods.classical import bm3d_psd_denoise

        plane, sc = image.array[..., 0].astype(np.float64), image.meta.scaling
        # the bm3d package's convention: white noise of std σ has psd σ²·H·W
        psd = spectrum(self.acov, plane.shape) * plane.size / (sc.hi - sc.lo) ** 2
        image.array = bm3d_psd_denoise(plane, psd).astype(np.float32)[..., None]
        return image


def score(spec: str, references: list[Path], acov: np.ndarray) -> list[dict]:
    """One row per reference slice: error against it and the no-reference figures."""
    known = spec == "bm3d-psd:known"
    den, rows = KnownSpectrumBM3D(acov) if known else ct_noref.denoiser_for(spec), []
    for seed, path in enumerate(references):
        image, ref = noisy_copy(path, acov, seed)
        noisy_hu = ct_noref._hu(image.array, image.meta.scaling)
        row = {"file": f"{path.parent.name}/{path.name}"}
        row |= {f"noisy_{k}": v for k, v in error_figures(ref, noisy_hu).items()}
        figures, out_hu = ct_noref.score_image(den, spec, image)
        row |= figures | error_figures(ref, out_hu)
        rows.append(row)
        shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
        print(spec, {k: v for k, v in shown.items() if k != "findings"}, flush=True)
    return rows


def summary(rows: list[dict]) -> str:
    """One table row: mean errors, median std ratio, max |mean shift|, flags."""
    mean = lambda k: float(np.mean([r[k] for r in rows]))  # noqa: E731
    return (
        f"{mean('rmse_body_hu'):.2f} | {mean('rmse_soft_hu'):.2f} | {mean('rmse_edges_hu'):.2f} | "
        f"{mean('ssim_window'):.4f} | ÷{np.median([r['std_ratio'] for r in rows]):.2f} | "
        f"{max(abs(r['mean_shift_hu']) for r in rows):.2f} | "
        f"{sum(r['flagged'] for r in rows)}/{len(rows)}"
    )


def main() -> None:
    from medenoise.data.io import read

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--kernel", choices=("soft", "lung"), default="soft")
    parser.add_argument("--smooth", type=float, default=SMOOTH, help="local mean's std, px")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    references, sources = split_slices(ct_noref.held_out_ct(1), args.kernel)
    acovs = []
    for f in sources:
        image = read(f)
        acovs.append(
            measured_autocovariance(ct_noref._hu(image.array, image.meta.scaling), args.smooth)
        )
    acov = np.mean(acovs, 0)
    rho = acov[RADIUS, RADIUS + 1 :] / acov[RADIUS, RADIUS]
    print("references:", [f.name for f in references], "sources:", [f.name for f in sources])
    print(
        f"noise std {np.sqrt(acov[RADIUS, RADIUS]):.2f} HU; lag 1..{RADIUS} along x:",
        np.round(rho, 3).tolist(),
        flush=True,
    )
    results = {spec: score(spec, references, acov) for spec in args.model}
    noisy = [
        {k[6:]: v for k, v in r.items() if k.startswith("noisy_")}
        for r in next(iter(results.values()))
    ]
    head = "| model | RMSE body | RMSE soft | RMSE edges | SSIM window | flat std ratio |"
    print(f"\n{head} max shift | flagged |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| noisy | {np.mean([r['rmse_body_hu'] for r in noisy]):.2f} | "
        f"{np.mean([r['rmse_soft_hu'] for r in noisy]):.2f} | "
        f"{np.mean([r['rmse_edges_hu'] for r in noisy]):.2f} | "
        f"{np.mean([r['ssim_window'] for r in noisy]):.4f} | | | |"
    )
    for spec, rows in results.items():
        print(f"| {spec} | {summary(rows)} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
