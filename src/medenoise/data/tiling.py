"""Tiled inference: run a network on overlapping square tiles and blend them without seams.

Why: a U-Net's activations cost kilobytes per pixel, so a 4096² radiograph cannot go through
the network in one piece. `tiled_apply` cuts the plane into tiles at multiples of 32 (so the
pooling grid matches the untiled run), pads reflectively at the image borders exactly as the
untiled run does, and cross-fades neighbouring tiles with raised-cosine ramps placed in the
middle of their overlap. Every pixel that gets weight has at least `context = (overlap -
ramp) // 2` real pixels around it inside its tile, so with a context covering the network's
effective receptive field the result equals the untiled one (see `BLIND_SPOT_OVERLAP`).
Memory is the output plus one weight plane plus `batch` tiles, whatever the image size.
Volumes are streamed one plane at a time with `iter_planes`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where tiles run: choosing a tile size needs none of it
    import torch

log = logging.getLogger(__name__)

MULTIPLE = 32  # five 2×2 poolings
# Receptive field, measured by NaN propagation (independent of width): an output pixel of the
# blind-spot U-Net depends on input pixels up to 310 pixels away (its four rotated branches
# each look ~300 rows "up"); the plain U-Net's reach is 157. Measured tiled-vs-untiled error
# (width 8, random He-init weights, 300×1500 image, ramp 64): blind spot, context 160: 9e-3,
# 224: 2e-3, 256: 1e-4, 288: 6e-8; plain U-Net, context 96: 7e-4, 128: 5e-7.
BLIND_SPOT_MARGIN = 310
PLAIN_MARGIN = 157
DEFAULT_RAMP = 64  # width of the raised-cosine cross-fade between neighbouring tiles
# Default overlaps give context (overlap - ramp) / 2 = 288 (blind spot) / 128 (plain): the
# smallest contexts (in steps of 32) that reproduce the untiled result within 1e-6.
BLIND_SPOT_OVERLAP = 640
PLAIN_OVERLAP = 320
# Tiled output may differ from the untiled one by at most this fraction of the [0, 1] range
# by default: 1e-3 is under half a stored unit for ranges up to 500 units (8-bit images come
# out identical after rounding; a 12-bit image may differ by up to 4 units, a CT in HU by a few
# HU). `exact` overlaps keep the untiled result within ~1e-5 instead.
TILE_TOLERANCE = 1e-3
BLIND_SPOT_TOLERANT_OVERLAP = 576
# Overlap per architecture (blind spot, U-Net depth), the smallest in steps of 64 (context
# steps of 32) meeting each bound. Plain U-Net reach by NaN propagation: depth 5: 157, 4: 77,
# 3: 37 px. Measured tiled-vs-untiled max error, random He-init width 32, 256×1100 noisy
# photo, ramp 64 (BENCHMARKS.md, "Tiling error"): depth 5, overlap 256: 4e-3, 320: 4e-6;
# depth 4, 128: 1e-3, 192: 4e-6; depth 3, 128: 1e-7. Blind spot: see BLIND_SPOT_OVERLAP.
EXACT_OVERLAPS = {(True, 5): BLIND_SPOT_OVERLAP, (False, 5): PLAIN_OVERLAP, (False, 4): 192}
TOLERANT_OVERLAPS = {(True, 5): BLIND_SPOT_TOLERANT_OVERLAP, (False, 5): PLAIN_OVERLAP}
TOLERANT_OVERLAPS[False, 4] = 192  # 128 meets 1e-3 with no margin on random weights
SHALLOW_OVERLAP = 128  # depth ≤ 3: the whole reach fits in a context of 32
CPU_TILE_CAP = 2048
CUDA_TILE_CAP = 2048
# A network's CPU tile gets at most this much activation memory (by `activation_bytes`), not
# half the free memory: per network pixel a CPU runs big tiles no faster, and a tile sized from
# free memory made peak RSS grow with the machine. Measured on the 1955×1841 chest radiograph,
# width-32 depth-4 student (overlap 192), 2 busy cores, CPU seconds and peak RSS of
# `denoise_planes`: tiles of 640 (16): 41 s, 1.16 GiB; 800 (9): 36 s, 1.33 GiB; 1088 (4): 29 s,
# 1.91 GiB; whole plane (the old choice with free memory): 32 s in `denoise`, 4.5 GiB.
CPU_TILE_BYTES = 5 * 2**28  # 1.25 GiB: tiles of 800 on the radiograph, ≤ 2 GiB in `denoise`

TileFn = Callable[["torch.Tensor"], "torch.Tensor"]


def overlap_for(blind: bool, depth: int = 5, exact: bool = False) -> int:
    """Tile overlap for a U-Net: within `TILE_TOLERANCE` of the untiled run, or ~1e-5 if `exact`."""
    table = EXACT_OVERLAPS if exact else TOLERANT_OVERLAPS
    return table.get((blind, depth), SHALLOW_OVERLAP)


def round_up(v: int, multiple: int = MULTIPLE) -> int:
    return -(-int(v) // multiple) * multiple


def reflect_index(n: int, length: int) -> np.ndarray:
    """Indices 0..length-1 into an axis of size n, reflected past its end like np.pad 'reflect'."""
    idx = np.arange(length)
    if n == 1:
        return np.zeros(length, dtype=np.int64)
    period = 2 * (n - 1)
    idx = idx % period
    return np.where(idx < n, idx, period - idx).astype(np.int64)


def tile_positions(length: int, tile: int, stride: int, multiple: int = MULTIPLE) -> list[int]:
    """Tile starts (multiples of `multiple`) covering [0, length), evenly spread, gaps ≤ stride."""
    if length <= tile:
        return [0]
    span = (length - tile) // multiple  # last start, in units of `multiple`
    gaps = -(-span * multiple // stride)
    return [(i * span // gaps) * multiple for i in range(gaps + 1)]


def axis_weights(positions: list[int], tile: int, ramp: int) -> list[np.ndarray]:
    """1-D window per tile: raised-cosine cross-fades centred in each overlap, 1 elsewhere.

    Neighbours use complementary ramps (sin² and cos² of the same argument), so the windows
    of one axis sum to 1; the tile edges on the image border keep full weight.
    """
    u = np.arange(tile, dtype=np.float64) + 0.5
    windows = []
    for i, p in enumerate(positions):
        w = np.ones(tile, dtype=np.float64)
        for j, sign in ((i - 1, 1.0), (i + 1, -1.0)):
            if 0 <= j < len(positions):
                q = positions[j]
                gap = abs(p - q)
                r = max(1, min(ramp, gap, tile - gap))
                centre = (max(p, q) + min(p, q) + tile) / 2 - p
                v = np.clip(sign * (u - centre) / r + 0.5, 0.0, 1.0)
                w *= np.sin(0.5 * np.pi * v) ** 2
        windows.append(w.astype(np.float32))
    return windows


def _geometry(h: int, w: int, tile: int, overlap: int, ramp: int, multiple: int, square: bool):
    """Tile sizes, starts and windows per axis for an (h, w) plane."""
    if square:
        side = round_up(max(h, w), multiple)
        canvas = (side, side)
    else:
        canvas = (round_up(h, multiple), round_up(w, multiple))
    t = max(multiple, tile // multiple * multiple)
    sizes = (min(t, canvas[0]), min(t, canvas[1]))
    if square:
        sizes = (min(t, canvas[0]),) * 2
    context = max(0, (overlap - ramp) // 2)
    # Tiles need not reach the far end of the canvas: `context` pixels past the image suffice.
    lengths = [
        min(full, round_up(n + context, multiple)) for n, full in zip((h, w), canvas, strict=True)
    ]
    for length, size in zip(lengths, sizes, strict=True):
        if length > size and (size - overlap) // multiple * multiple < multiple:
            raise ValueError(
                f"tile {size} leaves no room past overlap {overlap}: use a tile ≥ "
                f"{round_up(overlap + multiple, multiple)} or a smaller overlap"
            )
    sizes = [
        _balanced(length, size, overlap, multiple)
        for length, size in zip(lengths, sizes, strict=True)
    ]
    if square:
        sizes = [max(sizes)] * 2
    out = []
    for length, size in zip(lengths, sizes, strict=True):
        stride = (size - overlap) // multiple * multiple
        pos = tile_positions(length, size, stride, multiple)
        out.append((size, pos, axis_weights(pos, size, ramp)))
    return out


def _balanced(length: int, size: int, overlap: int, multiple: int) -> int:
    """The smallest tile side covering `length` with as many tiles as side `size` needs."""
    # A 1955-px axis cut by tiles of 832 at overlap 192 takes 3 tiles; 3 tiles of 832 cover
    # 2112 px, 3 of 800 suffice: the same count of smaller tiles is less network work.
    if length <= size:
        return size
    stride = (size - overlap) // multiple * multiple
    count = len(tile_positions(length, size, stride, multiple))
    need = round_up(-(-(length + (count - 1) * overlap) // count), multiple)
    return min(size, max(need, round_up(overlap + multiple, multiple)))


def tiled_apply(
    fn: TileFn,
    plane: np.ndarray | torch.Tensor,
    tile: int | None = None,
    overlap: int = BLIND_SPOT_OVERLAP,
    multiple: int = MULTIPLE,
    square: bool = True,
    *,
    ramp: int = DEFAULT_RAMP,
    batch: int = 2,
    device: torch.device | str | None = None,
) -> np.ndarray | torch.Tensor:
    """Apply `fn` ((N, C, t, t) → (N, K, t, t)) to a (C, H, W) plane tile by tile.

    Returns (K, H, W) float32, numpy for numpy input, else a tensor on the plane's device.
    Tiles are sent to `device` (default: the plane's), so a CPU plane can use a GPU network.
    `tile` None → `choose_tile(device=...)`. On CUDA out-of-memory the tile is halved and the
    plane redone, as long as the half is ≥ overlap + multiple. A plane that fits in one tile is
    processed whole, exactly like the untiled run (padded to a (square) multiple of 32).
    `overlap` must be ≥ 2 · receptive-field context + `ramp`; see the module constants.
    """
    import torch

    if plane.ndim != 3:
        raise ValueError(f"expected a (C, H, W) plane, got shape {tuple(plane.shape)}")
    as_numpy = isinstance(plane, np.ndarray)
    src = torch.from_numpy(np.ascontiguousarray(plane, np.float32)) if as_numpy else plane
    dev = torch.device(device) if device is not None else src.device
    if tile is None:
        tile = choose_tile(device=dev, overlap=overlap, batch=batch)
    while True:
        try:
            return _run(fn, src, as_numpy, tile, overlap, multiple, square, ramp, batch, dev)
        except torch.cuda.OutOfMemoryError:
            smaller = tile // 2 // multiple * multiple
            if smaller < overlap + multiple:
                raise
            log.warning("CUDA out of memory at tile %d; retrying with tile %d", tile, smaller)
            tile = smaller
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _run(fn, src, as_numpy, tile, overlap, multiple, square, ramp, batch, dev):
    """One tiled pass; output and weight buffers are the plane's size, never the canvas's."""
    import torch

    c, h, w = src.shape
    (th, ys, wys), (tw, xs, wxs) = _geometry(h, w, tile, overlap, ramp, multiple, square)
    out: np.ndarray | torch.Tensor | None = None
    wsum = np.zeros((h, w), np.float32) if as_numpy else torch.zeros((h, w), device=src.device)
    wsum_t = torch.from_numpy(wsum) if as_numpy else wsum
    jobs = [  # tiles wholly past the image border would only feed discarded pixels
        (y, wy, x, wx)
        for y, wy in zip(ys, wys, strict=True)
        for x, wx in zip(xs, wxs, strict=True)
        if y < h and x < w
    ]
    for start in range(0, len(jobs), max(1, batch)):
        chunk = jobs[start : start + max(1, batch)]
        tiles = []
        for y, _, x, _ in chunk:
            rows = torch.from_numpy(reflect_index(h, y + th)[y:]).to(src.device)
            cols = torch.from_numpy(reflect_index(w, x + tw)[x:]).to(src.device)
            tiles.append(src[:, rows[:, None], cols[None, :]])  # (C, th, tw), reflected
        res = fn(torch.stack(tiles).to(dev, torch.float32))
        res = res.detach().to(src.device, torch.float32)
        if res.shape[0] != len(chunk) or res.shape[-2:] != (th, tw):
            raise ValueError(f"fn returned shape {tuple(res.shape)} for {len(chunk)} tiles")
        if out is None:
            shape = (res.shape[1], h, w)
            out = np.zeros(shape, np.float32) if as_numpy else torch.zeros(shape, device=src.device)
        out_t = torch.from_numpy(out) if as_numpy else out
        for k, (y, wy, x, wx) in enumerate(chunk):
            ny, nx = min(th, h - y), min(tw, w - x)
            weight = torch.from_numpy(np.outer(wy[:ny], wx[:nx])).to(src.device)
            out_t[:, y : y + ny, x : x + nx] += res[k, :, :ny, :nx] * weight
            wsum_t[y : y + ny, x : x + nx] += weight
    assert out is not None
    if as_numpy:
        out /= wsum
        return out
    return out.div_(wsum)


def device_type(device: torch.device | str | None) -> str:
    """'cpu', 'cuda', ... of a device, a device string ('cuda:1') or None (the CPU)."""
    if device is None:
        return "cpu"
    return device.split(":")[0] if isinstance(device, str) else device.type


def available_memory(device: torch.device | str | None = None) -> int:
    """Bytes free for tensors on `device`: CUDA free memory, or host MemAvailable (cgroup-aware)."""
    if device_type(device) == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    if free is None:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:  # containers: the cgroup limit may be far below the host's free memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(0, int(free))


def activation_bytes(width: int = 48, channels: int = 1, blind: bool = True) -> int:
    """Peak inference memory per input pixel of the (blind-spot) U-Net, in bytes, with margin.

    Measured on CPU (ru_maxrss, width 48): 256²-512² inputs 8.8-9.4 KB/px blind spot
    including ≈ 0.5 GB fixed overhead; 992²-1344² tiles of a chest radiograph ≈ 6.8 KB/px
    above that overhead (four rotated copies plus the 8·width merge head); plain U-Net
    2.0-2.8 KB/px. Budgeted as 40 and 14 floats per pixel per unit of width (≈ 7.7 KB/px).
    """
    per_width = 40 if blind else 14
    return 4 * (per_width * width + 8 * channels)


def choose_tile(
    device: torch.device | str | None = None,
    *,
    bytes_per_pixel: int | None = None,
    overlap: int = BLIND_SPOT_OVERLAP,
    batch: int = 2,
    fraction: float = 0.5,
    cap: int | None = None,
    multiple: int = MULTIPLE,
) -> int:
    """Largest tile (multiple of 32, ≥ overlap + 32) whose batch fits in `fraction` of free memory.

    Capped at 2048 on CPU and CUDA: with the blind spot's 640-pixel overlap, bigger tiles
    mean fewer redundant pixels, so fewer network pixels per image.
    """
    bpp = bytes_per_pixel or activation_bytes()
    cap = cap or (CUDA_TILE_CAP if device_type(device) == "cuda" else CPU_TILE_CAP)
    budget = fraction * available_memory(device) / max(1, batch)
    side = int(math.sqrt(max(budget, 0) / bpp)) // multiple * multiple
    floor = round_up(overlap + multiple, multiple)
    return max(floor, min(side, cap))


def cpu_tile_cap(bytes_per_pixel: int, overlap: int, multiple: int = MULTIPLE) -> int:
    """Largest CPU tile side: activations within `CPU_TILE_BYTES`, but at least twice the
    overlap (wide-overlap nets keep tiles where most pixels are not overlap), ≤ `CPU_TILE_CAP`."""
    side = int(math.sqrt(CPU_TILE_BYTES / max(1, bytes_per_pixel))) // multiple * multiple
    return min(CPU_TILE_CAP, max(side, round_up(2 * overlap, multiple)))


def network_tile(width: int, channels: int, blind: bool, overlap: int, device=None) -> int:
    """The tile side for a (blind-spot) U-Net of `width`: the largest that fits in free memory
    on `device`, and on the CPU also within `CPU_TILE_BYTES` (peak memory bounded whatever the
    machine). A plane whose padded side is at most this runs whole."""
    bpp = activation_bytes(width, channels, blind)
    cap = cpu_tile_cap(bpp, overlap) if device_type(device) == "cpu" else None
    return choose_tile(device, bytes_per_pixel=bpp, overlap=overlap, batch=1, cap=cap)


def best_tile(
    h: int,
    w: int,
    max_tile: int,
    overlap: int = BLIND_SPOT_OVERLAP,
    square: bool = True,
    *,
    ramp: int = DEFAULT_RAMP,
    multiple: int = MULTIPLE,
) -> int:
    """The tile ≤ `max_tile` that covers an (h, w) plane with the fewest network pixels.

    With a wide overlap the largest tile is not always the cheapest: for 1955×1841 and
    overlap 640, tiles of 1024 need 4×4 = 16.8 Mpx of network input, tiles of 992 the same
    4×4 but 15.7 Mpx, and 1088 only 3×3 = 10.7 Mpx. Ties go to the smaller tile (less memory).
    """
    top = max(multiple, max_tile // multiple * multiple)
    best, best_cost = top, None
    for tile in range(round_up(overlap + multiple, multiple), top + 1, multiple):
        (th, ys, _), (tw, xs, _) = _geometry(h, w, tile, overlap, ramp, multiple, square)
        cost = sum(1 for y in ys for x in xs if y < h and x < w) * th * tw
        if best_cost is None or cost < best_cost:
            best, best_cost = tile, cost
    return best


def iter_planes(array: np.ndarray) -> Iterator[np.ndarray]:
    """Views of the (H, W, C) planes of an (H, W, C) or (S, H, W, C) array, one at a time.

    Volumes and stacks go through a network slice by slice: only one plane (and its tiles)
    is ever converted to a tensor; nothing copies the whole volume.
    """
    if array.ndim == 3:
        yield array
    elif array.ndim == 4:
        yield from array
    else:
        raise ValueError(f"expected (H, W, C) or (S, H, W, C), got shape {array.shape}")
