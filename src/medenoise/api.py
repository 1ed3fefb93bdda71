"""The Python face: `load_model(name_or_path).denoise(array)`.

Arrays are (H, W) or (H, W, C), any of uint8/uint16/float; they are normalised to [0, 1]
as DESIGN says, padded reflectively to what the net needs (square multiples of 32 for the
blind spot), denoised, cropped back and returned in the input's dtype and range.
Training-free baselines load by name ("bm3d", "vst-bm3d", "nlm", "identity") and behave
like any model file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

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
    """Pad (H, W, C) at bottom/right to (h, w): reflect, or edge for 1-pixel sides."""
    mode = "reflect" if min(a.shape[:2]) > 1 else "edge"
    return np.pad(a, ((0, h - a.shape[0]), (0, w - a.shape[1]), (0, 0)), mode=mode)


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

        image = from_array(np.asarray(array))
        arr = image.array
        planes = arr.reshape(-1, *arr.shape[-3:])
        image.array = self.denoise_planes(planes, noise).reshape(arr.shape)
        return to_array(image)


class Denoiser(ArrayDenoiser):
    """A loaded model ready to denoise arrays; wraps the method's module in eval mode."""

    def __init__(self, module, source: str | Path, device: str | torch.device = "cpu"):
        self.module = module.eval()
        self.source = str(source)
        self.device = torch.device(device)
        self.config = module.model_config

    def noise_params(self, noise: str | None) -> torch.Tensor | None:
        """Known-mode parameters from a user spec (or the model's fixed training level)."""
        if self.config.noise_param != "known" or self.config.covariance == "mu":
            return None
        if self.config.method != "ssdn":
            return None
        spec = noise or self.config.noise
        model = make_noise_model(spec)
        if model.kind != self.module.noise.kind:
            raise UserError(
                f"--noise {spec} does not match the model's {self.module.noise.kind} noise model",
                self.source,
            )
        return model.fixed_params(1)

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
        out = np.empty_like(planes, dtype=np.float32)
        for i in range(s):
            x = torch.from_numpy(
                np.ascontiguousarray(pad_reflect(planes[i], ph, pw).transpose(2, 0, 1))
            )[None]
            x = x.to(self.device, torch.float32).contiguous(memory_format=torch.channels_last)
            est = self.module.denoise(x, params)
            out[i] = est[0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy()
        return out


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


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> ArrayDenoiser:
    """Load a model file (.safetensors written by medenoise), a zoo model or a baseline by name."""
    from medenoise.methods.baselines import BASELINES
    from medenoise.modelfile import load_module
    from medenoise.train import resolve_model_path

    name = str(name_or_path)
    if name.lower() in BASELINES and not Path(name).exists():
        return ClassicalDenoiser(name.lower())

    path = resolve_model_path(str(name_or_path))
    module = load_module(path, device)
    module = module.to(memory_format=torch.channels_last)
    return Denoiser(module, path, device)
