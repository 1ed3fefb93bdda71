"""No-reference figures of denoisers on the held-out slices of the real CT series (their own
scanner noise, no clean image exists): flat-region noise std before and after, mean HU shift
in flat regions, and the guard's verdict and figures.

    MEDENOISE_DATA_ROOT=../shared/data python benchmarks/ct_noref.py \
        --model bm3d --model bm3d-psd --model ssdn-gauss5-50-gray:pd [--every 2] [--json OUT]

A `:pd` suffix runs the model on pixel-shuffled sub-images with the stride taken from each
slice's measured correlation (`denoise --pd auto`); `FILE:measured` runs a Gaussian SSDN model
trained on sub-images (`pd_stride`) or with a blind square (`blind_square`) with the noise std
measured on the slice's sub-images in its posterior instead of its estimator's
(`FILE:measured@K`: on stride-K sub-images instead of the training stride;
`FILE:measured-map`: with the level measured tile by tile over the slice,
`medenoise.noise.measured_level.haar_level_map`; `FILE:estimated`: with its estimator's level
even where the file's `default_level` is `measured-map`). `bm3d` gets the noise std `inspect`
measures (what it advises for correlated noise); every other model gets no noise level (as
`denoise` on a real scan) and measures or estimates it itself.

Flat regions: 16×16 blocks of soft tissue (mean −150..250 HU, every pixel −400..500 HU) whose
plane-detrended std on the noisy slice is at most 1.2× the median of those blocks, i.e. no
edge or texture raises it. The noise std is the median detrended std over those blocks; the
mean HU shift is the mean of (output − input) over their pixels.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

BLOCK = 16
SOFT = (-150.0, 250.0)
LIMITS = (-400.0, 500.0)
FLAT = 1.2


def _detrended_std(blocks: np.ndarray) -> np.ndarray:
    """Std of each (N, B, B) block after removing its least-squares plane."""
    yy, xx = np.mgrid[:BLOCK, :BLOCK]
    basis = np.stack([np.ones(BLOCK * BLOCK), yy.ravel(), xx.ravel()], 1)
    flat = blocks.reshape(len(blocks), -1).T
    coef, *_ = np.linalg.lstsq(basis, flat, rcond=None)
    res = flat - basis @ coef
    return res.std(0, ddof=3)


def _blocks(plane: np.ndarray) -> np.ndarray:
    """Non-overlapping BLOCK² tiles of an (H, W) plane, (N, B, B): the inspector's cut."""
    from medenoise.inspection.estimate import cut_blocks

    return cut_blocks(plane, BLOCK)


def flat_mask(noisy_hu: np.ndarray) -> np.ndarray:
    """Which BLOCK² tiles of the noisy slice are flat soft tissue (see the module text)."""
    tiles = _blocks(noisy_hu)
    mean = tiles.mean((1, 2))
    soft = (mean >= SOFT[0]) & (mean <= SOFT[1])
    soft &= (tiles.min((1, 2)) >= LIMITS[0]) & (tiles.max((1, 2)) <= LIMITS[1])
    if soft.sum() < 4:
        return soft
    std = _detrended_std(tiles[soft])
    keep = np.zeros_like(soft)
    keep[np.flatnonzero(soft)[std <= FLAT * np.median(std)]] = True
    return keep


def figures(noisy_hu: np.ndarray, out_hu: np.ndarray) -> dict[str, float]:
    """Flat-region noise std before/after (HU), their ratio, and the mean HU shift there."""
    mask = flat_mask(noisy_hu)
    if mask.sum() < 4:
        return {"flat_blocks": int(mask.sum())}
    before = _blocks(noisy_hu)[mask]
    after = _blocks(out_hu)[mask]
    s0, s1 = float(np.median(_detrended_std(before))), float(np.median(_detrended_std(after)))
    return {
        "flat_blocks": int(mask.sum()),
        "std_before_hu": s0,
        "std_after_hu": s1,
        "std_ratio": s0 / max(s1, 1e-6),
        "mean_shift_hu": float((after - before).mean()),
    }


def held_out_ct(every: int) -> list:
    """Every `every`-th held-out slice file of the CT series in med-test."""
    from medenoise.data.medical_sets import items

    cts = [it for it in items("med-test") if it.entry.startswith("ct-")]
    return [Path(it.identity) for it in cts[::every]]


class MeasuredLevel:
    """A Gaussian SSDN model for correlated noise, trained on stride-k sub-images
    (`pd_stride`) or with a blind square (`blind_square`), run with the noise std measured on
    the slice in its posterior in place of its level estimator's: `FILE:measured`. The std is
    measured on sub-images where the noise has decorrelated: at the training stride, or at
    the square's reach for a blind-square model (which itself runs at full resolution)."""

    def __init__(self, path: str, stride: int | None = None, local: bool = False):
        from medenoise.modelfile import load_module

        self.module = load_module(path)
        self.config, self.source = self.module.model_config, path
        # the stride the sub-images are cut at: the training stride unless told a smaller one
        self.last_stride = stride or self.config.pd_stride
        reach = (self.config.blind_square + 1) // 2
        self.level_stride = reach if reach > 1 else self.last_stride
        self.local = local  # a level that varies over the slice (haar_level_map)

    def level(self, x, size: tuple[int, int]):
        """(global std (1, 1), its map or None) measured on the padded slice x (1, 1, H, W)
        through its stride-`level_stride` sub-images; the map at `size`."""
        import torch.nn.functional as F

        from medenoise.noise.measured_level import haar_level, haar_level_map

        s = self.level_stride
        xc = x[..., : x.shape[-2] // s * s, : x.shape[-1] // s * s]
        views = F.pixel_unshuffle(xc, s).reshape(s * s, 1, *(n // s for n in xc.shape[-2:]))
        whole = haar_level(views).nanmean().reshape(1, 1)
        if not self.local:
            return whole, None
        level_map = haar_level_map(views)
        if tuple(level_map.shape[-2:]) != size:
            level_map = F.interpolate(level_map, size=size, mode="bilinear")
        return whole, level_map

    def denoise_image(self, image, noise=None):
        """An object with `.array`: the slice denoised through its k² sub-images (k = 1: whole)."""
        import types

        import torch
        import torch.nn.functional as F

        from medenoise.noise.likelihood import prior_from_head

        m, k = self.module, self.last_stride
        plane = image.array[..., 0].astype(np.float32)
        h, w = plane.shape
        padded = np.pad(plane, ((0, -h % (32 * k)), (0, -w % (32 * k))), mode="reflect")
        x = torch.from_numpy(padded)[None, None]
        sub = F.pixel_unshuffle(x, k).reshape(k * k, 1, *(n // k for n in padded.shape))
        whole, level_map = self.level(x, tuple(sub.shape[-2:]))
        level = whole.expand(k * k, 1)
        with torch.no_grad():
            prior = prior_from_head(m.net(sub), 1, m.model_config.covariance)
            var_n = m.noise.variance(prior.mu, level)
            if level_map is not None:
                var_n = (level_map**2).expand(var_n.shape)
            post = m.noise.posterior_mean(sub, prior, var_n, level, m.recording).float()
        out = F.pixel_shuffle(post.reshape(1, k * k, *post.shape[-2:]), k)[0, 0, :h, :w]
        return types.SimpleNamespace(array=out.numpy()[..., None])


def denoiser_for(spec: str):
    """The named model, wrapped in pixel-shuffle with the measured stride for `name:pd`, or
    run at the level measured on the slice for `FILE:measured` (`FILE:measured@K`: on
    stride-K sub-images in place of the training stride; `measured-map`: the level measured
    tile by tile)."""
    from medenoise.api import load_model
    from medenoise.correlated import PixelShuffleDenoiser

    name, _, how = spec.partition(":")
    how, _, stride = how.partition("@")
    if how in ("measured", "measured-map"):
        return MeasuredLevel(name, int(stride) if stride else None, how == "measured-map")
    den = load_model(name)
    if how == "estimated":  # the estimator's one level per slice, whatever the file's default
        cfg = den.module.model_config
        den.module.model_config = cfg.model_copy(update={"default_level": "estimated"})
    return PixelShuffleDenoiser(den, None) if how == "pd" else den


def _hu(array: np.ndarray, scaling) -> np.ndarray:
    """The first channel of a working-scale array in the file's own units (HU for CT)."""
    return scaling.lo + array[..., 0].astype(np.float64) * (scaling.hi - scaling.lo)


def _noise_for(spec: str, profile) -> str | None:
    """`bm3d` at the measured noise std (what `inspect` advises for correlated noise; its own
    wavelet estimate would see only the fine-grained part); None for every other model."""
    if spec != "bm3d":
        return None
    return f"gaussian:{profile.extra.get('noise_std', profile.sigma) * 255:.4g}"


def score_image(den, spec: str, image) -> tuple[dict, np.ndarray]:
    """(the no-reference figures and the guard's result, the output in HU) of denoiser `den`
    on one image."""
    from medenoise.guard import checks
    from medenoise.guard.session import profile_of

    before = image.array.copy()
    profile = profile_of(image)
    t0 = time.perf_counter()
    out = den.denoise_image(image, _noise_for(spec, profile))
    row = {"seconds": round(time.perf_counter() - t0, 2)}
    sc = image.meta.scaling
    info = checks.model_info(den, spec)  # after the run: a pixel-shuffle stride counts
    guard = checks.check_output(
        checks.to_profile_scale(before, sc, profile),
        checks.to_profile_scale(out.array, sc, profile),
        profile,
        info,
    )
    row |= figures(_hu(before, sc), _hu(out.array, sc))
    row |= {"flagged": guard.flagged, "findings": guard.findings}
    row |= {k: guard.figures.get(k) for k in ("energy_ratio", "low_freq_share")}
    row["edge_correlation"] = guard.figures.get("edge_correlation")
    return row, _hu(out.array, sc)


def score(spec: str, files: list[Path]) -> list[dict]:
    """One row per slice: the no-reference figures and the guard's result for model `spec`."""
    from medenoise.data.io import read

    den, rows = denoiser_for(spec), []
    for path in files:
        row = {"file": f"{path.parent.name}/{path.name}"}
        row |= score_image(den, spec, read(path))[0]
        rows.append(row)
        print(spec, row["file"], {k: v for k, v in row.items() if k != "findings"}, flush=True)
    return rows


def summary(rows: list[dict]) -> str:
    """One line: medians of the figures and how many slices the guard flagged."""
    med = lambda k: float(np.median([r[k] for r in rows if k in r]))  # noqa: E731
    flagged = sum(r["flagged"] for r in rows)
    return (
        f"std {med('std_before_hu'):.1f} → {med('std_after_hu'):.1f} HU "
        f"(÷{med('std_ratio'):.2f}), mean shift {med('mean_shift_hu'):+.2f} HU "
        f"(max |shift| {max(abs(r.get('mean_shift_hu', 0)) for r in rows):.2f}), "
        f"guard flagged {flagged}/{len(rows)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    files = held_out_ct(args.every)
    results = {spec: score(spec, files) for spec in args.model}
    print()
    for spec, rows in results.items():
        print(f"| {spec} | {summary(rows)} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
