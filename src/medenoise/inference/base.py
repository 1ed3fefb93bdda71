"""`ArrayDenoiser`: the face every denoiser shows (networks, baselines, the torch-free ONNX
path): `denoise(array)` and `denoise_image(image)` over the subclass's `denoise_planes`.
Torch-free, so the torch-free path can build on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medenoise.capabilities import LevelCapabilities
from medenoise.errors import UserError


class ArrayDenoiser(LevelCapabilities):
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
