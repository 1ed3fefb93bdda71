"""Denoisers: `ArrayDenoiser` (the shared face), `Denoiser` (a network), `ClassicalDenoiser`.

Arrays are (H, W) or (H, W, C), any of uint8/uint16/float; they are normalised to [0, 1]
(an integer type's full range maps to [0, 1]; floats are taken as given), padded reflectively to
what the net needs (square multiples of 32 for the blind spot), denoised, cropped back and
returned in the input's dtype and range. Planes larger than one tile (chosen from free
memory, or `tile`) go through `data.tiling.tiled_apply` with an overlap covering the
network's receptive field, so the result equals the whole-plane run and memory is bounded
by the tile, not the image. The network call itself is the runner's (inference/runners.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from medenoise.data.tiling import (
    PLAIN_OVERLAP,
    activation_bytes,
    available_memory,
    best_tile,
    network_tile,
    overlap_for,
    tiled_apply,
)
from medenoise.errors import UserError
from medenoise.inference.base import ArrayDenoiser
from medenoise.inference.measured_level import (
    MEASURED,
    denoise_at_measured_levels,
    noise_or_default,
)
from medenoise.inference.options import InferenceOptions, Precision
from medenoise.inference.padding import pad_reflect, padded_size
from medenoise.inference.runners import make_runner, to_device
from medenoise.nets import MULTIPLE
from medenoise.noise import make_noise_model

DEFAULT_OPTIONS = InferenceOptions()


class Denoiser(ArrayDenoiser):
    """A loaded network ready to denoise arrays; wraps the method's module in eval mode.

    `options` (InferenceOptions): `tile`, side of the square tiles for planes too large to go
    through the net whole (multiple of 32, ≥ overlap + 32; None: from free memory);
    `batch`, planes or tiles per network call, at most as many as fit in half the free
    memory (None: 1 on CPU, up to `MAX_AUTO_BATCH` on CUDA, where one 512² plane leaves most
    of a large GPU idle); `ensemble`, the geometric self-ensemble (medenoise.ensemble: also
    denoise the mirrored image, all 8 symmetries for plain nets, and average; None: off);
    `precision`, `backend` and `device` choose the runner (inference/runners.py).
    `overlap`: between neighbouring tiles; None takes the architecture's (`tiling.overlap_for`:
    blind spot or plain, U-Net depth), which keeps tiled within `tiling.TILE_TOLERANCE` of the
    untiled run, or within ~1e-5 with `exact` (None: `options.exact` where options have it).
    `runner`: the network call; None builds the one `options.backend` names.
    """

    MAX_AUTO_BATCH = 64

    def __init__(
        self,
        module,
        source: str | Path,
        options: InferenceOptions = DEFAULT_OPTIONS,
        overlap: int | None = None,
        runner=None,
        exact: bool | None = None,
    ):
        self.module = module.eval()
        self.options = options
        self.source = str(source)
        self.config = module.model_config
        if exact is None:
            exact = options.exact
        depth = getattr(self.config, "depth", 5)
        self.overlap = (
            overlap if overlap is not None else overlap_for(bool(module.blind_spot), depth, exact)
        )
        tile, batch = options.tile, options.batch
        if tile is not None and (tile % MULTIPLE or tile < self.overlap + MULTIPLE):
            raise UserError(
                f"tile {tile} must be a multiple of {MULTIPLE} and at least "
                f"{self.overlap + MULTIPLE} (overlap {self.overlap} + {MULTIPLE}) for this model",
                self.source,
            )
        if batch is not None and batch < 1:
            raise UserError(f"batch {batch}: give at least 1", self.source)
        self.tile, self.batch = tile, batch
        self.ensemble = bool(options.ensemble)
        self.runner = runner if runner is not None else make_runner(module, options)
        self.precision = options.precision.value  # what runs, once `auto` has chosen
        if options.precision is Precision.AUTO:
            self.precision = "bf16" if getattr(self.runner, "bf16", False) else "32"
        self.device = torch.device(self.runner.device)

    @property
    def takes_known_level(self) -> bool:
        """The module's answer: True when it needs the noise level as an input."""
        return bool(self.module.takes_known_level)

    @property
    def estimates_level_per_image(self) -> bool:
        """The module's answer: True when it estimates the level from each image."""
        return bool(self.module.estimates_level_per_image)

    def noise_params(self, noise: str | None) -> torch.Tensor | None:
        """Known-mode parameters from a user spec (or the model's fixed training level)."""
        if not self.takes_known_level:
            return None
        spec = noise or self.config.noise
        model = make_noise_model(spec)
        if model.kind != self.module.noise.kind:
            raise UserError(
                f"--noise {spec} does not match the model's {self.module.noise.kind} noise model",
                self.source,
            )
        return model.fixed_params(1)

    def tile_size(self, blind: bool | None = None) -> int:
        """The tile side: `self.tile`, else the largest one that fits in free memory (on CPU,
        also within `tiling.CPU_TILE_BYTES`: peak memory bounded whatever the machine)."""
        blind = self.module.blind_spot if blind is None else blind
        if self.tile is not None and blind == self.module.blind_spot:
            return self.tile
        overlap = self.overlap if blind == self.module.blind_spot else PLAIN_OVERLAP
        return network_tile(self.config.width, self.config.channels, blind, overlap, self.device)

    def plane_batch(self, ph: int, pw: int, count: int) -> int:
        """(ph, pw) inputs per network call, `count` at most: `batch` (default 1 on CPU,
        `MAX_AUTO_BATCH` on CUDA), never more than fit in half the free memory."""
        limit = self.batch or (self.MAX_AUTO_BATCH if self.device.type == "cuda" else 1)
        bpp = activation_bytes(self.config.width, self.config.channels, self.module.blind_spot)
        fit = int(0.5 * available_memory(self.device) // (ph * pw * bpp))
        return max(1, min(fit, limit, count))

    @torch.inference_mode()
    def denoise_planes(self, planes: np.ndarray, noise: str | None = None) -> np.ndarray:
        """Denoise float32 planes (S, H, W, C) in [0, 1]; returns the same shape. `noise`:
        the level for known-level models, or `measured` (each plane at its own level; the
        default of a model whose config says so)."""
        noise = noise_or_default(self.config, noise)
        if noise == MEASURED:
            return denoise_at_measured_levels(self, planes)
        c = self.config.channels
        if planes.shape[-1] != c:
            raise UserError(
                f"image has {planes.shape[-1]} channel(s) but the model expects {c}", self.source
            )
        return self.denoise_planes_at(planes, self.noise_params(noise))

    @torch.inference_mode()
    def denoise_planes_at(self, planes: np.ndarray, params: torch.Tensor | None) -> np.ndarray:
        """Denoise (S, H, W, C) planes at the noise parameters `params` (None: the model's
        own level, estimated per plane for a per-image model; given, they replace it)."""
        with _fixed_noise_level(self.module, self.estimates_level_per_image and params is not None):
            return self._denoise_planes(planes, params)

    def _denoise_planes(self, planes: np.ndarray, params: torch.Tensor | None) -> np.ndarray:
        """`denoise_planes_at`'s work: whole planes when they fit, else tile by tile."""
        s, h, w, _ = planes.shape
        ph, pw = padded_size(h, w, self.module.blind_spot)
        tile = self.tile_size()
        whole = max(ph, pw) <= tile
        if not whole and self.tile is None:  # the cheapest tiling within the memory bound
            tile = best_tile(h, w, tile, self.overlap, self.module.blind_spot)
        out = np.empty_like(planes, dtype=np.float32)
        batch = self.plane_batch(ph, pw, s) if whole else 1
        i = 0
        while i < s:
            if whole:  # whole planes in one piece, `batch` at a time
                n = min(batch, s - i)
                try:
                    out[i : i + n] = self._denoise_whole(planes[i : i + n], ph, pw, params)
                    i += n
                    continue
                except torch.cuda.OutOfMemoryError:  # free memory was overestimated
                    torch.cuda.empty_cache()
                    if n > 1:
                        batch = n // 2
                        continue
                    whole = False
                    tile = max(self.overlap + MULTIPLE, max(ph, pw) // 2 // MULTIPLE * MULTIPLE)
            out[i] = self._denoise_tiled(planes[i], tile, params).transpose(1, 2, 0)
            i += 1
        return out

    def _denoise_whole(self, planes: np.ndarray, ph: int, pw: int, params) -> np.ndarray:
        """(N, H, W, C) planes padded to (ph, pw) through the net in one call → (N, H, W, C)."""
        h, w = planes.shape[1:3]
        x = torch.from_numpy(
            np.ascontiguousarray(pad_reflect(planes, ph, pw).transpose(0, 3, 1, 2))
        )
        est = self.estimate(x, params)
        return est[:, :, :h, :w].permute(0, 2, 3, 1).float().cpu().numpy()

    def estimate(self, x: torch.Tensor, params: torch.Tensor | None) -> torch.Tensor:
        """`run_net`, averaged over the self-ensemble's views when `ensemble` is set."""
        if not self.ensemble:
            return self.run_net(x, params)
        from medenoise.ensemble import ensemble_views, ensembled

        student = getattr(self.config, "method", None) == "student"
        views = ensemble_views(bool(self.module.blind_spot), student)
        return ensembled(lambda v: self.run_net(v, params), x, views)

    def run_net(self, x: torch.Tensor, params: torch.Tensor | None) -> torch.Tensor:
        """The network's clean estimate for a padded (N, C, S, S) batch: the runner's call."""
        return self.runner.run(x, params)

    def _denoise_tiled(self, plane: np.ndarray, tile: int, params) -> np.ndarray:
        """One (H, W, C) plane tile by tile → (C, H, W); a per-image noise level, unless given,
        is estimated once on the whole plane and given to every tile."""
        # a model that measures its level map tile by tile needs no plane-wide estimate
        per_image = self.estimates_level_per_image and params is None
        per_image = per_image and not self.module.measures_level_map
        if per_image:
            params = self.plane_noise_params(plane)
        with _fixed_noise_level(self.module, per_image):
            return tiled_apply(
                lambda x: self.estimate(x, params),
                plane.transpose(2, 0, 1),
                tile=tile,
                overlap=self.overlap,
                square=self.module.blind_spot,
                batch=self.plane_batch(tile, tile, 1 << 20),
                device=self.device,
            )

    def plane_noise_params(self, plane: np.ndarray) -> torch.Tensor:
        """(1, P) noise parameters of one (H, W, C) plane, estimated as the whole-plane run
        does: the estimator's U-Net map averaged over the padded plane. The map is computed
        tile by tile (plain U-Net overlap, so exactly) to keep memory bounded."""
        h, w = plane.shape[:2]
        ph, pw = padded_size(h, w, self.module.blind_spot)
        canvas = pad_reflect(plane, ph, pw).transpose(2, 0, 1)
        net = self.module.noise_param.estimator.net
        theta_map = tiled_apply(
            lambda x: net(to_device(x, self.device)),
            canvas,
            tile=best_tile(ph, pw, self.tile_size(blind=False), PLAIN_OVERLAP, square=False),
            overlap=PLAIN_OVERLAP,
            square=False,
            batch=1,
            device=self.device,
        )
        theta = torch.from_numpy(theta_map.mean(axis=(1, 2), dtype=np.float64))[None]
        return self.module.noise.map_learned(theta)


@contextlib.contextmanager
def _fixed_noise_level(module, fixed: bool):
    """While active, the module takes the noise parameters it is given instead of estimating
    them from its input (so every tile of a plane uses the plane's one estimate)."""
    if not fixed:
        yield
        return
    noise_param = module.noise_param
    mode, noise_param.mode = noise_param.mode, "known"
    try:
        yield
    finally:
        noise_param.mode = mode


class ClassicalDenoiser(ArrayDenoiser):
    """A training-free baseline (methods/baselines.py) behind the same interface: CPU, any
    channel count, the noise level from `noise` or estimated from each plane."""

    def __init__(self, name: str):
        from medenoise.methods.baselines import BASELINES, BaselineConfig

        self.run = BASELINES[name]
        self.source = name
        self.device = torch.device("cpu")
        self.config = BaselineConfig(method=name)

    def denoise_planes(self, planes: np.ndarray, noise: str | None = None) -> np.ndarray:
        """Denoise float32 planes (S, H, W, C) in [0, 1] one by one; returns the same shape.
        `measured` is what a baseline does without a level: estimate it on each plane."""
        noise = None if noise == MEASURED else noise
        out = np.empty(planes.shape, dtype=np.float32)
        for i, plane in enumerate(planes):
            out[i] = self.run(np.asarray(plane, dtype=np.float32), noise)
        return out
