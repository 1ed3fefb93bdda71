"""The Python face: `load_model(name_or_path).denoise(array)`.

Arrays are (H, W) or (H, W, C), any of uint8/uint16/float; they are normalised to [0, 1]
as DESIGN says, padded reflectively to what the net needs (square multiples of 32 for the
blind spot), denoised, cropped back and returned in the input's dtype and range.
Planes larger than one tile (chosen from free memory, or `tile=`) go through
`data.tiling.tiled_apply` with an overlap covering the network's receptive field, so the
result equals the whole-plane run and memory is bounded by the tile, not the image.
Training-free baselines load by name ("bm3d", "vst-bm3d", "nlm", "identity") and behave
like any model file.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medenoise.data.tiling import (
    BLIND_SPOT_OVERLAP,
    PLAIN_OVERLAP,
    activation_bytes,
    available_memory,
    best_tile,
    choose_tile,
    tiled_apply,
)
from medenoise.errors import UserError
from medenoise.nets import MULTIPLE
from medenoise.noise import make_noise_model


def padded_size(h: int, w: int, square: bool) -> tuple[int, int]:
    """Smallest (H', W') ≥ (h, w) that are multiples of 32 (and equal when square)."""
    up = lambda v: -(-v // MULTIPLE) * MULTIPLE  # noqa: E731
    if square:
        s = up(max(h, w))
        return s, s
    return up(h), up(w)


def pad_reflect(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pad (..., H, W, C) at bottom/right to (h, w): reflect, or edge for 1-pixel sides."""
    hh, ww = a.shape[-3:-1]
    mode = "reflect" if min(hh, ww) > 1 else "edge"
    lead = ((0, 0),) * (a.ndim - 3)
    return np.pad(a, (*lead, (0, h - hh), (0, w - ww), (0, 0)), mode=mode)


def takes_known_level(cfg) -> bool:
    """True when denoising needs the noise level as an input (SSDN, known level)."""
    return cfg.method == "ssdn" and cfg.noise_param == "known" and cfg.covariance != "mu"


def estimates_level_per_image(cfg) -> bool:
    """True when the model estimates the noise level from each image (SSDN per-image)."""
    return cfg.method == "ssdn" and cfg.noise_param == "per-image" and cfg.covariance != "mu"


class ArrayDenoiser:
    """Shared face of every denoiser: `denoise(array)` over the subclass's `denoise_planes`."""

    config: Any
    source: str

    def denoise_planes(self, planes: np.ndarray, noise: str | None = None) -> np.ndarray:
        """Denoise float32 planes (S, H, W, C) in [0, 1]; returns the same shape."""
        raise NotImplementedError

    def denoise(self, array: np.ndarray, noise: str | None = None) -> np.ndarray:
        """Denoise one image (H, W) or (H, W, C); returns the input's shape and dtype."""
        from medenoise.data.io import from_array, to_array

        return to_array(self.denoise_image(from_array(np.asarray(array)), noise))

    def denoise_image(self, image, noise: str | None = None):
        """Denoise an `Image` (one plane, a stack or a volume) in place and return it: the one
        place that cuts an image into planes and checks its channels against the model."""
        arr = image.array
        planes = arr.reshape(-1, *arr.shape[-3:])
        channels = getattr(self.config, "channels", None)
        if channels is not None and planes.shape[-1] != channels:
            raise UserError(
                f"image has {planes.shape[-1]} channel(s) but the model "
                f"{Path(self.source).name} expects {channels}; use a "
                f"{'gray' if channels == 3 else 'colour'} model for this image"
            )
        image.array = self.denoise_planes(planes, noise).reshape(arr.shape)
        return image


class Denoiser(ArrayDenoiser):
    """A loaded model ready to denoise arrays; wraps the method's module in eval mode.

    `tile`: side of the square tiles for planes too large to go through the net whole
    (multiple of 32, ≥ overlap + 32); None chooses it from free memory (`choose_tile`).
    `overlap`: between neighbouring tiles; None takes the one covering the receptive field
    (`BLIND_SPOT_OVERLAP` or `PLAIN_OVERLAP`), which makes tiled equal untiled within 1e-6.
    `precision`: "32", or "bf16" to run the network's convolutions under bfloat16 autocast
    (GPU speed); the noise model, likelihood and posterior stay float64 (SPEC §3).
    `batch`: planes (stack slices, volume slices) or tiles per network call, at most as many
    as fit in half the free memory; None: 1 on CPU, up to `MAX_AUTO_BATCH` on CUDA (one 512²
    plane leaves most of a large GPU idle).
    `ensemble`: geometric self-ensemble (medenoise.ensemble): also denoise the mirrored
    image (blind spot; all 8 symmetries for plain nets) and average; 2× (8×) the time.
    """

    MAX_AUTO_BATCH = 64

    def __init__(
        self,
        module,
        source: str | Path,
        device: str | torch.device = "cpu",
        tile: int | None = None,
        overlap: int | None = None,
        precision: str = "32",
        batch: int | None = None,
        ensemble: bool = False,
    ):
        self.module = module.eval()
        self.ensemble = ensemble
        self.source = str(source)
        self.device = torch.device(device)
        self.config = module.model_config
        blind = bool(module.blind_spot)
        self.overlap = (
            overlap if overlap is not None else (BLIND_SPOT_OVERLAP if blind else PLAIN_OVERLAP)
        )
        if tile is not None and (tile % MULTIPLE or tile < self.overlap + MULTIPLE):
            raise UserError(
                f"tile {tile} must be a multiple of {MULTIPLE} and at least "
                f"{self.overlap + MULTIPLE} (overlap {self.overlap} + {MULTIPLE}) for this model",
                self.source,
            )
        self.tile = tile
        if precision not in ("32", "bf16"):
            raise UserError(f"precision {precision!r}: choose 32 or bf16", self.source)
        self.precision = precision
        if batch is not None and batch < 1:
            raise UserError(f"batch {batch}: give at least 1", self.source)
        self.batch = batch

    def noise_params(self, noise: str | None) -> torch.Tensor | None:
        """Known-mode parameters from a user spec (or the model's fixed training level)."""
        if not takes_known_level(self.config):
            return None
        spec = noise or self.config.noise
        model = make_noise_model(spec)
        if model.kind != self.module.noise.kind:
            raise UserError(
                f"--noise {spec} does not match the model's {self.module.noise.kind} noise model",
                self.source,
            )
        return model.fixed_params(1)

    @property
    def estimates_per_image(self) -> bool:
        """True when the module estimates the noise level from each image (SSDN per-image)."""
        return estimates_level_per_image(self.config)

    def tile_size(self, blind: bool | None = None) -> int:
        """The tile side: `self.tile`, else the largest one that fits in free memory."""
        blind = self.module.blind_spot if blind is None else blind
        if self.tile is not None and blind == self.module.blind_spot:
            return self.tile
        bpp = activation_bytes(self.config.width, self.config.channels, blind)
        overlap = self.overlap if blind == self.module.blind_spot else PLAIN_OVERLAP
        return choose_tile(self.device, bytes_per_pixel=bpp, overlap=overlap, batch=1)

    def plane_batch(self, ph: int, pw: int, count: int) -> int:
        """(ph, pw) inputs per network call, `count` at most: `batch` (default 1 on CPU,
        `MAX_AUTO_BATCH` on CUDA), never more than fit in half the free memory."""
        limit = self.batch or (self.MAX_AUTO_BATCH if self.device.type == "cuda" else 1)
        bpp = activation_bytes(self.config.width, self.config.channels, self.module.blind_spot)
        fit = int(0.5 * available_memory(self.device) // (ph * pw * bpp))
        return max(1, min(fit, limit, count))

    @torch.inference_mode()
    def denoise_planes(self, planes: np.ndarray, noise: str | None = None) -> np.ndarray:
        """Denoise float32 planes (S, H, W, C) in [0, 1]; returns the same shape."""
        c = self.config.channels
        if planes.shape[-1] != c:
            raise UserError(
                f"image has {planes.shape[-1]} channel(s) but the model expects {c}", self.source
            )
        params = self.noise_params(noise)
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

        views = ensemble_views(bool(self.module.blind_spot))
        return ensembled(lambda v: self.run_net(v, params), x, views)

    def run_net(self, x: torch.Tensor, params: torch.Tensor | None) -> torch.Tensor:
        """The network's clean estimate for a padded (N, C, S, S) batch (backends override)."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            return self.module.denoise(self._to_device(x), params).float()

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, torch.float32).contiguous(memory_format=torch.channels_last)

    def _denoise_tiled(self, plane: np.ndarray, tile: int, params) -> np.ndarray:
        """One (H, W, C) plane tile by tile → (C, H, W); a per-image noise level is estimated
        once on the whole plane and given to every tile."""
        per_image = self.estimates_per_image
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
            lambda x: net(self._to_device(x)),
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
        """Denoise float32 planes (S, H, W, C) in [0, 1] one by one; returns the same shape."""
        out = np.empty(planes.shape, dtype=np.float32)
        for i, plane in enumerate(planes):
            out[i] = self.run(np.asarray(plane, dtype=np.float32), noise)
        return out


def load_model(
    name_or_path: str | Path,
    device: str | torch.device = "cpu",
    tile: int | None = None,
    trust_pickle: bool = False,
    backend: str = "torch",
    batch: int | None = None,
    precision: str = "32",
    ensemble: bool | None = None,
    *,
    options=None,
) -> ArrayDenoiser:
    """Load a model file (.safetensors written by medenoise), a zoo model or a baseline by name.

    `tile` (networks only): tile side for large planes; None chooses it from free memory.
    `backend`: "torch", or "onnx" (ONNX Runtime on CPU, exported once into the cache).
    `batch`: planes or tiles per network call (torch backend); None: automatic (`Denoiser`).
    `precision`: "32", or "bf16" (torch backend: network under bfloat16 autocast).
    `ensemble`: geometric self-ensemble (networks; `Denoiser`), 2× the time for SSDN; None:
    the zoo entry's default (its `ensemble` field; off for model files).
    `options`: an `InferenceOptions` giving all of device, tile, batch, precision, ensemble
    and backend at once (the keywords are then ignored).
    `trust_pickle`: also accept a Lightning `.ckpt` of one's own training run. It is still
    read with torch's weights-only unpickler (no code runs); the flag records the consent.
    """
    from medenoise.inference.resolve import model_path as resolve_model_path
    from medenoise.methods.baselines import is_baseline_name
    from medenoise.modelfile import load_checkpoint, load_module

    if options is not None:  # an InferenceOptions replaces the loose keywords
        device, tile, batch, ensemble = (
            options.device,
            options.tile,
            options.batch,
            options.ensemble,
        )
        precision, backend = options.precision.value, options.backend.value

    name = str(name_or_path)
    if is_baseline_name(name):
        if ensemble:
            raise UserError(f"--ensemble applies to networks, not the {name} baseline")
        return ClassicalDenoiser(name.lower())

    if ensemble is None:
        from medenoise.zoo import default_ensemble

        ensemble = default_ensemble(name)
    path = resolve_model_path(str(name_or_path))
    if trust_pickle and path.suffix.lower() == ".ckpt":
        module = load_checkpoint(path, device)
    else:
        module = load_module(path, device)
    if backend == "onnx":
        if precision != "32":
            raise UserError("--precision bf16 needs --backend torch")
        from medenoise.onnx_backend import OnnxDenoiser, onnx_available

        if torch.device(device).type != "cpu":
            raise UserError("--backend onnx runs on the CPU; use --backend torch on a GPU")
        if not onnx_available():
            raise UserError(
                "--backend onnx needs onnxruntime and onnxscript: pip install 'medenoise[onnx]'"
            )
        return OnnxDenoiser(module, path, tile=tile, ensemble=ensemble)
    if backend != "torch":
        raise UserError(f"unknown backend {backend!r}: choose torch or onnx")
    module = module.to(memory_format=torch.channels_last)
    return Denoiser(
        module, path, device, tile=tile, batch=batch, precision=precision, ensemble=ensemble
    )
