"""Blind-spot denoising of spatially correlated noise with pixel-shuffle (PD) inference.

Synthetic (PSNR/SSIM against the clean crop):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/correlated_pd.py bsd68 ../shared/data/bsd68 \
        --count 8 --crop 256 --sigma 25 --kernel box3

White Gaussian noise convolved with a 3×3 box, scaled so the per-pixel std is σ (8-bit
units; lag-1 correlation 2/3, lag-2 1/3, lag-3 0), circular so that BM3D's PSD is exact.
Seed 0, images in sorted order, centre crops. `--kernel none`: white noise, same σ.
Rows: the noisy input; the model at each `--variants` entry "k,offsets,rounds" (PD stride
k, that many grid offsets averaged, that many R3 refinement rounds; k = 1: the model as
is); BM3D told σ only; BM3D given the true noise PSD. Seconds are wall time on a shared
2-core machine, one thread.

Real CT (no clean reference): std in the flattest unclipped 32² block before and after,
and the inspector's lag-1 correlation of what each variant removed:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/correlated_pd.py ct \
        ../shared/data/ct_tcia/acrin_flt_soft_kernel/1-101.dcm --range=-160,240 \
        --variants "1,1,0 2,1,0 3,1,0 2,1,4"

(a soft-tissue window, values outside it clipped, puts the ~10 HU of noise at ~7/255, inside
the zoo model's 5-50 range; the auto stride from the measured correlation is the last row)

Noise2Void on correlated noise, plain vs structured mask: a noisy training set (the first
200 BSD400 images with the same noise, seed 1, 8-bit PNGs), two `medenoise train` runs, each
model scored with `bsd68 ... --model RUN/model.safetensors --variants 1,1,0 --no-bm3d`:

    .venv/bin/python benchmarks/correlated_pd.py training-set ../shared/data/bsd400_train \
        --count 200 --out /tmp/n2v-box3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from medenoise.api import load_model
from medenoise.correlated import PixelShuffleDenoiser, full_resolution, stride_from_profile
from medenoise.data.io import read
from medenoise.eval.metrics import psnr, ssim
from medenoise.inspection.estimate import measure

VARIANTS = "1,1,0 2,1,0 2,2,0 3,1,0"  # stride, grid offsets averaged, R3 refinement rounds


def variants(text: str) -> list[tuple[int, int, int]]:
    return [tuple(int(v) for v in item.split(",")) for item in text.split()]


def row_label(model: str, k: int, shifts: int, refine: int) -> str:
    name = f"{model} as is" if k == 1 else f"{model} PD k={k}"
    name += f", {shifts} offsets" if shifts > 1 else ""
    return name + (f", R3 x{refine}" if refine else "")


def correlated_noise(shape, sigma: float, kernel: str, rng) -> tuple[np.ndarray, np.ndarray]:
    """(noise, PSD in bm3d's convention) for white noise through `kernel`, per-pixel std σ."""
    from scipy.ndimage import convolve

    h, w = shape
    k = np.ones((3, 3)) / 3.0 if kernel == "box3" else np.ones((1, 1))  # Σk² = 1
    white = rng.standard_normal((h, w))
    noise = sigma * convolve(white, k, mode="wrap")
    psd = np.abs(np.fft.fft2(sigma * k, (h, w))) ** 2 * h * w
    return noise.astype(np.float32), psd[..., None]


def centre_crop(a: np.ndarray, size: int) -> np.ndarray:
    h, w = a.shape[:2]
    t, l = (h - size) // 2, (w - size) // 2
    return a[t : t + size, l : l + size]


def run_bm3d(noisy: np.ndarray, sigma_psd) -> np.ndarray:
    import bm3d

    if not hasattr(np, "trapz"):  # bm3d's PSD path still calls numpy's pre-2.0 name
        np.trapz = np.trapezoid
    return np.asarray(bm3d.bm3d(noisy[..., 0].astype(np.float64), sigma_psd), np.float32)[..., None]


def synthetic(args) -> None:
    # a model trained on sub-images: each variant sets the stride (its own is one of them)
    den = full_resolution(load_model(args.model, ensemble=False))
    rng = np.random.default_rng(0)
    files = sorted(Path(args.folder).glob("*.png"))[: args.count]
    rows: dict[str, list[tuple[float, float, float]]] = {}
    sigma = args.sigma / 255
    for path in files:
        arr = read(path).array
        clean = centre_crop(arr[0] if arr.ndim == 4 else arr, args.crop)
        noise, psd = correlated_noise(clean.shape[:2], sigma, args.kernel, rng)
        noisy = (clean + noise[..., None]).astype(np.float32)
        outs = {"noisy": (noisy, 0.0)}
        for k, shifts, refine in variants(args.variants):
            t0 = time.perf_counter()
            out = PixelShuffleDenoiser(den, k, shifts, refine).denoise_planes(noisy[None])[0]
            outs[row_label(args.model, k, shifts, refine)] = (out, time.perf_counter() - t0)
        if not args.no_bm3d:
            for label, arg in (("BM3D sigma only", sigma), ("BM3D true PSD", psd)):
                t0 = time.perf_counter()
                outs[label] = (run_bm3d(noisy, arg), time.perf_counter() - t0)
        for label, (out, secs) in outs.items():
            rows.setdefault(label, []).append((psnr(out, clean), ssim(out, clean), secs))
        print(path.name, " ".join(f"{psnr(o, clean):.2f}" for o, _ in outs.values()), flush=True)
        table(rows, args)  # the running means, so a cut-short run still reports


def table(rows, args) -> None:
    count = len(next(iter(rows.values())))
    print(f"\n{count} images, centre {args.crop}², sigma {args.sigma}, kernel {args.kernel}")
    print("| variant | PSNR (dB) | SSIM | s/image |\n|---|---|---|---|")
    for label, vals in rows.items():
        p, s, t = np.mean(vals, axis=0)
        print(f"| {label} | {p:.2f} | {s:.4f} | {t:.1f} |", flush=True)


def flattest_block(plane: np.ndarray, size: int = 32) -> tuple[int, int]:
    """Top-left of the size² block (stride size/2) with the lowest std among blocks with no
    clipped value (so not air or bone outside the window)."""
    best, where = np.inf, (0, 0)
    for t in range(0, plane.shape[0] - size, size // 2):
        for l in range(0, plane.shape[1] - size, size // 2):
            b = plane[t : t + size, l : l + size]
            if b.min() > 0 and b.max() < 1 and b.std() < best:
                best, where = float(b.std()), (t, l)
    return where


def ct(args) -> None:
    den = full_resolution(load_model(args.model, ensemble=False))
    vrange = tuple(float(v) for v in args.range.split(",")) if args.range else None
    image = read(Path(args.folder), value_range=vrange)
    noisy = image.array.reshape(-1, *image.array.shape[-3:])[:1].astype(np.float32)
    if args.range:  # outside the window (air, bone) the model would see values far from [0, 1]
        noisy = np.clip(noisy, 0.0, 1.0)
    prof = measure(noisy[0])
    auto = stride_from_profile(prof)
    print(f"{args.folder}: lag 1-3 x {np.round(prof.corr_x, 2)}, y {np.round(prof.corr_y, 2)}; "
          f"auto stride {auto}")  # fmt: skip
    t, l = flattest_block(noisy[0, ..., 0])
    scale = image.meta.scaling.hi - image.meta.scaling.lo if image.meta.scaling else 1.0
    roi = lambda a: float(a[t : t + 32, l : l + 32].std() * scale)  # noqa: E731
    print(f"flat block at ({t}, {l}); std in stored units (HU for CT)")
    print("| variant | std in block | removed: std | removed: lag-1 corr x, y |\n|---|---|---|---|")
    print(f"| noisy | {roi(noisy[0, ..., 0]):.2f} | | |")
    for k, shifts, refine in variants(args.variants) + [(auto, 1, 0)]:
        out = PixelShuffleDenoiser(den, k, shifts, refine).denoise_planes(noisy)[0]
        removed = noisy[0] - out
        rp = measure(removed + 0.5)
        name = row_label(args.model, k, shifts, refine)
        print(f"| {name} | {roi(out[..., 0]):.2f} | {removed.std() * scale:.2f} | "
              f"{rp.corr_x[0]:.2f}, {rp.corr_y[0]:.2f} |")  # fmt: skip


def training_set(args) -> None:
    """Write the first `count` images of FOLDER with box-filtered noise as 8-bit PNGs (seed 1)."""
    from PIL import Image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for path in sorted(Path(args.folder).glob("*.png"))[: args.count]:
        x = read(path).array[..., 0]
        noise, _ = correlated_noise(x.shape, args.sigma / 255, args.kernel, rng)
        y = np.clip(np.round((x + noise) * 255), 0, 255).astype(np.uint8)
        Image.fromarray(y).save(out / path.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["bsd68", "ct", "training-set"])
    ap.add_argument("folder", help="image folder (bsd68) or one slice file (ct)")
    ap.add_argument("--model", default="ssdn-gauss5-50-gray")
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--sigma", type=float, default=25.0)
    ap.add_argument("--kernel", choices=["box3", "none"], default="box3")
    ap.add_argument("--no-bm3d", action="store_true")
    ap.add_argument("--out", help="training-set: output folder")
    ap.add_argument("--range", help="ct: LO,HI stored values mapped to [0, 1] (a window)")
    ap.add_argument("--variants", default=VARIANTS, help=f"default {VARIANTS!r}")
    args = ap.parse_args()
    {"bsd68": synthetic, "ct": ct, "training-set": training_set}[args.mode](args)


if __name__ == "__main__":
    main()
