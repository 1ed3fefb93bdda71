"""Evaluation samples: (name, clean, noisy) triples from the three sources the harness knows.

- synthetic: clean images + a noise spec; image i (counting planes of stacks and volumes,
  and repeats) gets its noise from a generator seeded by (seed, i), so a command gives
  bit-identical numbers every time, on any machine;
- paired folders: real noisy captures matched to clean references by relative path;
- FMD layout: `<config>/raw/<fov>/*.png` + `<config>/gt/<fov>/avg50.png`, noisy images at
  averaging level N built as the mean of N consecutive raw frames taken circularly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medenoise.data.patches import list_images, load_planes, to_channels
from medenoise.errors import UserError
from medenoise.planning import find_images

FMD_LEVELS = (1, 2, 4, 8, 16)


@dataclass
class Sample:
    """One evaluation image: float32 (H, W, C) planes on the [0, 1] scale.

    `noise` is the exact level of synthetic noise (e.g. "gaussian:17.3") so models trained
    with a known level get the true value; None for real noise.
    """

    name: str
    clean: np.ndarray
    noisy: np.ndarray
    noise: str | None = None


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The CPU generator of evaluation image `index`: a pure function of (seed, index)."""
    state = np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def _plane_names(path: Path, root: Path | None, count: int) -> list[str]:
    rel = path.relative_to(root).as_posix() if root else path.name
    return [rel] if count == 1 else [f"{rel}[{k}]" for k in range(count)]


def count_synthetic(sources: Sequence[Path], repeats: int = 1) -> int:
    """Number of files behind `synthetic_samples` (× repeats) — for progress bars."""
    return len(find_images(sources)) * repeats


def draw_level(model, generator: torch.Generator) -> tuple[str, torch.Tensor]:
    """One per-image parameter draw from the model's spec: (exact spec string, params (1, P)).

    Uses the same uniform draw as NoiseModel.draw_params, and also returns the level as a
    fixed spec, which known-level models and baselines are given at inference.
    """
    from medenoise.noise.spec import NoiseSpec

    values, fixed = {}, {}
    for key, (lo, hi) in model.spec.ranges.items():
        u = torch.rand(1, generator=generator, dtype=torch.float64)
        values[key] = lo + (hi - lo) * u
        fixed[key] = (float(values[key][0]),) * 2
    return str(NoiseSpec(model.kind, fixed, model.spec.kernel)), model.from_spec_values(values)


def synthetic_samples(
    sources: Sequence[Path], noise: str, channels: int | None, seed: int = 0, repeats: int = 1
) -> Iterator[Sample]:
    """Clean images with fresh synthetic noise (never clipped), `repeats` draws per image."""

    def cleans():
        for path, root in find_images(sources):
            planes = _planes(path, channels)
            yield from zip(_plane_names(path, root, len(planes)), planes, strict=True)

    return noised_samples(cleans(), noise, seed, repeats)


def noised_samples(
    cleans: Iterable[tuple[str, np.ndarray]], noise: str, seed: int = 0, repeats: int = 1
) -> Iterator[Sample]:
    """(label, clean HWC plane) pairs with synthetic noise: draw i (over all planes and
    repeats, in order) from a generator seeded by (seed, i), so a command's numbers repeat."""
    from medenoise.noise import make_noise_model

    model = make_noise_model(noise)
    if not model.spec.has_level:
        raise UserError(f"noise spec {noise!r} has no level; give e.g. {model.kind}:25")
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {repeats}")
    return _noised(cleans, model, seed, repeats)


def _noised(cleans, model, seed: int, repeats: int) -> Iterator[Sample]:
    """The generator behind `noised_samples` (its checks run when it is called, not later)."""
    index = 0
    for name, clean in cleans:
        x = torch.from_numpy(np.ascontiguousarray(clean.transpose(2, 0, 1)))[None]
        for r in range(repeats):
            gen = sample_generator(seed, index)
            index += 1
            spec, params = draw_level(model, gen)
            y = model.add(x, params.to(x.dtype), gen)[0].permute(1, 2, 0).numpy()
            label = name if repeats == 1 else f"{name}#{r}"
            yield Sample(label, clean, np.ascontiguousarray(y, np.float32), spec)


SSIM_MIN_SIDE = 11  # the SSIM protocol's 11×11 Gaussian window (metrics.py) must fit


def _planes(path: Path, channels: int | None, reference: Path | None = None) -> list[np.ndarray]:
    """Planes of a file; `channels` None keeps the file's own channel count. Planes too small
    for SSIM are refused here, as a UserError naming the file, not a crash in the metric.
    With `reference` (the clean partner of a noisy file) the file is read on its range."""
    if channels is None or reference is not None:
        from medenoise.data.io import read
        from medenoise.data.io.common import match_range

        image = read(path)
        if reference is not None:
            image = match_range(image, read(reference))
        arr = image.array
        planes = [np.ascontiguousarray(p, np.float32) for p in arr.reshape(-1, *arr.shape[-3:])]
        if channels is not None:
            planes = [np.ascontiguousarray(to_channels(p, channels, path)) for p in planes]
    else:
        planes = load_planes([path], channels)
    h, w = planes[0].shape[:2]
    if min(h, w) < SSIM_MIN_SIDE:
        raise UserError(
            f"image is {h}×{w} pixels, too small for SSIM (needs at least "
            f"{SSIM_MIN_SIDE}×{SSIM_MIN_SIDE}); evaluate on larger images",
            path,
        )
    return planes


def paired_samples(
    noisy: Sequence[Path], clean: Sequence[Path], channels: int | None
) -> Iterator[Sample]:
    """Real noisy images and their clean references, matched by relative path."""
    from medenoise.data.pairs import paired_files

    pairs = paired_files(noisy, clean)
    roots = dict(find_images(noisy)) if pairs else {}  # the folder each noisy file came from
    for noisy_file, clean_file in pairs:
        root = roots.get(noisy_file)
        # The noisy file is read on the clean reference's working range: one range for both.
        a, b = _planes(noisy_file, channels, clean_file), _planes(clean_file, channels)
        if len(a) != len(b) or a[0].shape != b[0].shape:
            raise UserError(
                f"shape {a[0].shape} x{len(a)} differs from its clean reference "
                f"{clean_file} ({b[0].shape} x{len(b)})",
                noisy_file,
            )
        for name, y, x in zip(_plane_names(noisy_file, root, len(a)), a, b, strict=True):
            yield Sample(name, x, y, None)


def fmd_fields(roots: Sequence[Path], fovs: Sequence[str] | None = None) -> list[tuple]:
    """(config name, fov, raw frame files, gt file) for every FMD field of view found."""
    fields = []
    for root in map(Path, roots):
        configs = (
            [root] if (root / "raw").is_dir() else sorted(p.parent for p in root.glob("*/raw"))
        )
        for config in configs:
            for fov in sorted((config / "raw").iterdir(), key=lambda p: p.name):
                if not fov.is_dir() or (fovs and fov.name not in fovs):
                    continue
                gts = (
                    list_images([config / "gt" / fov.name])
                    if (config / "gt" / fov.name).is_dir()
                    else []
                )
                if not gts:
                    raise UserError("no ground truth (gt/<fov>/avg50.png) for this field", fov)
                fields.append((config.name, fov.name, list_images([fov]), gts[0]))
    if not fields:
        wanted = f" with field(s) {', '.join(fovs)}" if fovs else ""
        raise UserError(f"no FMD field of view{wanted} (<config>/raw/<fov>/*.png)", roots[0])
    return fields


def fmd_samples(
    roots: Sequence[Path],
    level: int,
    channels: int | None,
    fovs: Sequence[str] | None = None,
    images: int | None = None,
) -> Iterator[Sample]:
    """FMD noisy images at averaging level `level` against the avg50 ground truth.

    Image k of a field is the mean of raw frames k, k+1, ..., k+level−1 (mod the frame
    count), FMD's circular averaging; `images` limits how many per field (default: all).
    """
    if level < 1:
        raise UserError(f"--avg must be at least 1, got {level}")
    for config, fov, frames, gt in fmd_fields(roots, fovs):
        if level > len(frames):
            raise UserError(f"--avg {level} needs {level} raw frames, found {len(frames)}", gt)
        clean = _planes(gt, channels)[0]
        count = len(frames)
        n = count if images is None else min(images, count)
        needed = sorted({(k + j) % count for k in range(n) for j in range(level)})
        raw = {i: _planes(frames[i], channels)[0] for i in needed}  # only frames used
        for k in range(n):
            stack = [raw[(k + j) % count] for j in range(level)]
            noisy = np.mean(stack, axis=0, dtype=np.float64).astype(np.float32)
            name = (
                f"{config}/{fov}/avg{level}#{k}"
                if level > 1
                else f"{config}/{fov}/{frames[k].name}"
            )
            yield Sample(name, clean, noisy, None)
