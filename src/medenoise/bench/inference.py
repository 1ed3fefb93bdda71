"""Inference throughput (MPix/s) and peak memory: SSDN, plain U-Net, BM3D, VST+BM3D.

Every denoiser sees the same noisy image: scikit-image's 512² `camera` with Gaussian σ=25
(seed 0), and for the large size the same photo mirrored into a 4096² mosaic. Networks on
a large image run the real tiled path (the tile the tool would choose, its overlap); on a
slow machine `time_cap` stops after the tiles done in that time and scales up (the row says
how many of how many tiles ran), because every tile costs the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from medenoise.bench.machine import PeakMemory, best_seconds

SIGMA = 25.0
BM3D_OVERLAP = 64  # BM3D's 39-px search window needs far less context than a U-Net


def test_image(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) float32 (size, size) in [0, 1]: camera, mirrored to size if larger."""
    from skimage import data

    cam = data.camera().astype(np.float32) / 255.0
    reps = -(-size // cam.shape[0])
    tiles = [
        [cam[:: 1 - 2 * (i % 2), :: 1 - 2 * (j % 2)] for j in range(reps)] for i in range(reps)
    ]
    clean = np.block(tiles)[:size, :size].copy()
    rng = np.random.default_rng(seed)
    noisy = clean + rng.normal(0.0, SIGMA / 255.0, clean.shape).astype(np.float32)
    return clean, noisy


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """The evaluation PSNR (eval.metrics) of `a` clipped to [0, 1], as a saved image would be."""
    from medenoise.eval.metrics import psnr as metric_psnr

    return metric_psnr(np.clip(a, 0, 1), b)


def network_tiles(denoiser, h: int, w: int) -> tuple[int, list[tuple[int, int]]]:
    """The tile side and tile starts the tool's tiled path uses for an (h, w) plane."""
    from medenoise.data.tiling import DEFAULT_RAMP, MULTIPLE, _geometry, best_tile

    blind = bool(denoiser.module.blind_spot)
    tile = denoiser.tile_size()
    if denoiser.tile is None:
        tile = best_tile(h, w, tile, denoiser.overlap, blind)
    (th, ys, _), (_, xs, _) = _geometry(h, w, tile, denoiser.overlap, DEFAULT_RAMP, MULTIPLE, blind)
    return th, [(y, x) for y in ys for x in xs if y < h and x < w]


def bm3d_tiles(h: int, w: int, tile: int = 1024) -> tuple[int, list[tuple[int, int]]]:
    """Tiles for BM3D on a large image (its cost is linear in pixels, so tiling is fair)."""
    stride = tile - BM3D_OVERLAP
    ys = list(range(0, max(1, h - BM3D_OVERLAP), stride))
    xs = list(range(0, max(1, w - BM3D_OVERLAP), stride))
    return tile, [(y, x) for y in ys for x in xs]


def timed_tiles(run_tile: Callable[[int, int], object], starts, time_cap: float | None):
    """Run tiles in order until done or `time_cap` s have passed: (tiles done, seconds)."""
    t0 = time.perf_counter()
    done = 0
    for y, x in starts:
        run_tile(y, x)
        done += 1
        if time_cap is not None and time.perf_counter() - t0 > time_cap:
            break
    return done, time.perf_counter() - t0


def measure(
    name: str,
    denoiser,
    size: int,
    device: torch.device,
    *,
    repeats: int = 2,
    time_cap: float | None = None,
    tiled: bool = False,
    bm3d_tile: int = 1024,
    stack: int = 1,
) -> dict:
    """One row: throughput and peak memory of `denoiser` on a size² noisy image, whole
    (best of `repeats`) or, `tiled`, through the tiles the tool would use. `stack` > 1:
    that many copies of the image as one stack (networks batch the planes)."""
    clean, noisy = test_image(size)
    planes = np.repeat(noisy[None, :, :, None], stack, axis=0)
    noise = f"gaussian:{SIGMA:g}"
    mem = PeakMemory(device)
    row: dict = {"method": name, "size": size, "tiles": None, "stack": stack}
    if not tiled:
        holder: dict = {}

        def once() -> None:
            holder["out"] = denoiser.denoise_planes(planes, noise)

        with mem:
            seconds = best_seconds(once, repeats=repeats, warmup=1, device=device)
        scored = getattr(denoiser, "trained", True)  # random-weight nets: speed only
        row["psnr"] = round(psnr(holder["out"][0, :, :, 0], clean), 2) if scored else None
        row["psnr_noisy"] = round(psnr(noisy, clean), 2)
        pixels = size * size * stack
    else:
        is_net = hasattr(denoiser, "module")
        if is_net:
            tile, starts = network_tiles(denoiser, size, size)
            params = denoiser.noise_params(noise)

            def run_tile(y: int, x: int) -> None:
                crop = noisy[y : y + tile, x : x + tile, None]
                denoiser._denoise_whole(crop[None], tile, tile, params)
        else:
            tile, starts = bm3d_tiles(size, size, bm3d_tile)

            def run_tile(y: int, x: int) -> None:
                crop = noisy[y : y + tile, x : x + tile, None]
                denoiser.denoise_planes(crop[None], noise)

        with mem, torch.inference_mode():
            if is_net:
                run_tile(*starts[0])  # warm-up (kernels, allocator), not timed
            done, seconds = timed_tiles(run_tile, starts, time_cap)
        pixels = size * size * done / len(starts)
        row["tiles"] = f"{done}/{len(starts)} of {tile}²"
    row["seconds"] = round(seconds, 3)
    row["mpix_s"] = pixels / seconds / 1e6
    row["peak_mib"] = None if mem.mib is None else round(mem.mib, 1)
    return row


def add_ratios(rows: list[dict], reference: str = "bm3d") -> None:
    """`vs_bm3d`: throughput over BM3D's on the same size (machines are noisy; ratios less)."""
    base = {r["size"]: r["mpix_s"] for r in rows if r["method"] == reference}
    for r in rows:
        ref = base.get(r["size"])
        r["vs_bm3d"] = round(r["mpix_s"] / ref, 2) if ref else None
