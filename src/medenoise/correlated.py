"""Blind-spot denoising of spatially correlated noise: the stride that decorrelates it, and a
denoiser that runs a blind-spot model on pixel-shuffled sub-images (AP-BSN's PD).

A one-pixel blind spot assumes each pixel's noise is independent of its neighbours'. With
correlated noise (reconstruction kernels, interpolated matrices) the neighbours reveal the
noise and the network keeps it. In the stride-k sub-images the nearest neighbours are k
pixels apart, where the correlation has died out, while the per-pixel noise std is
unchanged, so a model trained on white noise of that std applies to them as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medenoise.errors import UserError
from medenoise.inference.denoiser import ArrayDenoiser

CORRELATION_THRESHOLD = 0.1
"""|ρ| below which a lag counts as decorrelated. The inspector measures white noise within
about ±0.03 of zero on 512² planes, so 0.1 is well clear of measurement noise, and a
residual correlation of 0.1 moves an SSDN estimate by little next to the 0.2-0.8 of real
CT/MR noise at lag 1."""

MAX_STRIDE = 4
"""Stride returned when even lag 3 (the largest the inspector measures) is still correlated."""


def stride_for(
    corr_x: Sequence[float], corr_y: Sequence[float], threshold: float = CORRELATION_THRESHOLD
) -> int:
    """Smallest stride k whose lag-k correlation is below `threshold` along both axes (1: none
    needed); lags are 1, 2, 3 as the inspector measures them."""
    for k, (rx, ry) in enumerate(zip(corr_x, corr_y, strict=True), start=1):
        if abs(rx) < threshold and abs(ry) < threshold:
            return k
    return len(corr_x) + 1


def axis_stride(corr: Sequence[float], threshold: float = CORRELATION_THRESHOLD) -> int:
    """Smallest k ≥ 1 with |ρ(lag k)| < threshold along one axis (k = 1: lag 1 already is)."""
    for k, rho in enumerate(corr, start=1):
        if abs(rho) < threshold:
            return k
    return len(corr) + 1


def stride_from_profile(profile, threshold: float = CORRELATION_THRESHOLD) -> int:
    """`stride_for` of a NoiseProfile's measured correlation (1 when nothing was measured)."""
    return min(stride_for(profile.corr_x, profile.corr_y, threshold), MAX_STRIDE)


def struct_extent(profile, threshold: float = CORRELATION_THRESHOLD) -> tuple[int, int]:
    """(rows, columns) half-extent of a structured blind spot: every lag still correlated."""
    return axis_stride(profile.corr_y, threshold) - 1, axis_stride(profile.corr_x, threshold) - 1


def grid_shifts(k: int, count: int) -> list[tuple[int, int]]:
    """`count` distinct grid offsets (dy, dx) in [0, k)², the unshifted grid first, then the
    diagonal ones, then the rest."""
    order = [(d, d) for d in range(k)]
    order += [(a, b) for a in range(k) for b in range(k) if a != b]
    return order[: max(1, min(count, k * k))]


class PixelShuffleDenoiser(ArrayDenoiser):
    """Runs `inner` (a blind-spot model) on the stride-k sub-images of each plane and merges;
    `shifts` > 1 averages that many grid offsets. `stride` None: from each image's measured
    correlation (`stride_from_profile`). `refine` > 0: that many rounds of `r3_refine`."""

    def __init__(self, inner: ArrayDenoiser, stride: int | None, shifts: int = 1, refine: int = 0):
        if stride is not None and stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        self.inner, self.stride, self.shifts, self.refine = inner, stride, shifts, refine
        self.last_stride = stride

    def __getattr__(self, name: str):
        # config, source, device, levels: the wrapped denoiser's
        return getattr(self.inner, name)

    @property
    def takes_known_level(self) -> bool:
        """The wrapped model's answer (the sub-images keep the image's noise level)."""
        return self.inner.takes_known_level

    @property
    def estimates_level_per_image(self) -> bool:
        """The wrapped model's answer (it then estimates the level per sub-image)."""
        return self.inner.estimates_level_per_image

    def denoise_planes(self, planes: np.ndarray, noise: str | None = None) -> np.ndarray:
        """Denoise float32 planes (S, H, W, C) through the sub-images; returns the same shape."""
        if self.stride is None:  # the measured correlation of these planes decides
            from medenoise.inspection.estimate import measure

            self.last_stride = stride_from_profile(measure(planes))
        k = self.last_stride or 1
        if k == 1:
            return self.inner.denoise_planes(planes, noise)
        import torch

        from medenoise.nets.pixel_shuffle import pd_merge, pd_split

        s, h, w, c = planes.shape
        x = torch.from_numpy(np.ascontiguousarray(planes.transpose(0, 3, 1, 2)))
        total = torch.zeros_like(x, dtype=torch.float64)
        shifts = grid_shifts(k, self.shifts)
        for dy, dx in shifts:
            xs = _shift(x, dy, dx)
            sub = pd_split(xs, k).permute(0, 2, 3, 1).numpy()
            den = self.inner.denoise_planes(np.ascontiguousarray(sub), noise)
            merged = pd_merge(torch.from_numpy(den).permute(0, 3, 1, 2), k, *xs.shape[-2:])
            total += merged[..., dy : dy + h, dx : dx + w].double()
        out = (total / len(shifts)).float().permute(0, 2, 3, 1).numpy()
        if self.refine:
            out = r3_refine(self.inner, planes, out, self.refine)
        return out


R3_FRACTION = 0.16
"""Share of pixels put back to their noisy values in each refinement round (AP-BSN's p)."""


def prior_mean(den, planes: np.ndarray) -> np.ndarray:
    """The blind-spot network's own estimate μ (no posterior, no noisy centre pixel) of
    (S, H, W, C) planes, whole planes at once (no tiling)."""
    import torch

    from medenoise.inference.padding import pad_reflect, padded_size
    from medenoise.inference.prior_mean import network_prior_mean

    h, w = planes.shape[1:3]
    ph, pw = padded_size(h, w, True)
    x = torch.from_numpy(np.ascontiguousarray(pad_reflect(planes, ph, pw).transpose(0, 3, 1, 2)))
    with torch.inference_mode():
        out = network_prior_mean(den.module, x.to(den.device)).float()
    return out[:, :, :h, :w].permute(0, 2, 3, 1).cpu().numpy()


def r3_refine(den, noisy: np.ndarray, first: np.ndarray, rounds: int, seed: int = 0):
    """AP-BSN's random-replacing refinement: `rounds` times, put a random R3_FRACTION of the
    pixels of the PD estimate `first` back to their noisy values and take the blind-spot
    net's μ at stride 1; average. The net then sees full-resolution detail, and the few
    noisy neighbours leak little of the correlated noise. Needs a blind-spot network."""
    if not is_blind_spot(den):
        raise UserError(f"refinement needs a blind-spot network; {den.source} is not one")
    rng = np.random.default_rng(seed)
    total = np.zeros(first.shape, dtype=np.float64)
    for _ in range(rounds):
        keep = rng.random(first.shape[:-1] + (1,)) < R3_FRACTION
        total += prior_mean(den, np.where(keep, noisy, first).astype(np.float32))
    return (total / rounds).astype(np.float32)


MAX_USER_STRIDE = 8


def parse_pd(text: str | None) -> int | None | bool:
    """`--pd` value: "auto" → None (stride per image), "K" → K; no option → False."""
    if text is None:
        return False
    if text.strip().lower() == "auto":
        return None
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_USER_STRIDE:
        raise UserError(f"--pd {text}: give a stride from 1 to {MAX_USER_STRIDE}, or auto")
    return k


def is_blind_spot(denoiser) -> bool:
    """True for a loaded blind-spot network (SSDN), the models PD inference is meant for."""
    module = getattr(denoiser, "module", None)
    return bool(getattr(module, "blind_spot", False))


def full_resolution(denoiser):
    """The denoiser without pixel-shuffle inference (a model trained on sub-images runs
    through them by default: this is its network at stride 1)."""
    return denoiser.inner if isinstance(denoiser, PixelShuffleDenoiser) else denoiser


def with_pd(denoiser, pd: str | None, strict: bool = True):
    """`denoiser` behind `--pd` (unchanged without it). `strict`: refuse a model that is not
    a blind-spot network; otherwise leave such models as they are."""
    stride = parse_pd(pd)
    if stride is False:
        return denoiser
    denoiser = full_resolution(denoiser)  # a model that runs PD by default gets restrided
    if not is_blind_spot(denoiser):
        if strict:
            raise UserError(
                f"--pd applies to blind-spot models (SSDN); {denoiser.source} is not one"
            )
        return denoiser
    return PixelShuffleDenoiser(denoiser, stride)


def pd_suffix(denoiser) -> str:
    """Table label suffix: '+pdK', '+pdauto', or '' for a denoiser without PD."""
    if not isinstance(denoiser, PixelShuffleDenoiser):
        return ""
    return f"+pd{denoiser.stride or 'auto'}"


def _shift(x, dy: int, dx: int):
    """Pad (N,C,H,W) by dy rows on top and dx columns on the left (reflect; replicate if tiny)."""
    if dy == 0 and dx == 0:
        return x
    import torch.nn.functional as F

    small = dy >= x.shape[-2] or dx >= x.shape[-1]
    return F.pad(x, (dx, 0, dy, 0), mode="replicate" if small else "reflect")
