"""Training and validation datasets built from folders of images held in memory.

Training samples are random square patches; sample i is a pure function of (seed, i), so a
resumed run draws the same patches it would have drawn without the interruption.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from medenoise.errors import UserError

MAX_REJECTIONS = 20


def list_images(sources: Iterable[str | Path]) -> list[Path]:
    """Image files named directly or found recursively under folders, sorted per source;
    a named set (`set:med-train`, eval/medical_sets.py) stays one entry for `load_planes`."""
    from medenoise.data.medical_sets import is_set_entry
    from medenoise.planning import find_images

    out: list[Path] = []
    for source in sources:
        found = [Path(source)] if is_set_entry(source) else [f for f, _ in find_images([source])]
        out.extend(found)
    return out


def to_channels(array: np.ndarray, channels: int, path: Path | str) -> np.ndarray:
    """(H, W, C) → (H, W, channels): RGB becomes mono by the mean of R, G, B; gray becomes
    RGB with three equal channels (how RGB models train and run on gray data)."""
    c = array.shape[-1]
    if c == channels:
        return array
    if channels == 1 and c in (3, 4):
        return array[..., :3].mean(axis=-1, keepdims=True)
    if channels == 3 and c == 1:
        return np.repeat(array, 3, axis=-1)
    raise UserError(f"image has {c} channel(s) but the model expects {channels}", path)


def load_planes(
    files: Sequence[Path], channels: int, value_range: tuple[float, float] | None = None
) -> list[np.ndarray]:
    """Read files as float32 (H, W, C) planes; stacks, volumes and DICOM series contribute
    every slice. `value_range` (LO, HI) overrides each file's working range."""
    # The slices of one DICOM series are read together, with the one working range `denoise`
    # gives them, so what a model trains or adapts on is scaled as what it will denoise.
    from medenoise.data import medical_sets
    from medenoise.data.io.series import group_inputs, read_unit

    planes: list[np.ndarray] = []
    for entry in [f for f in files if medical_sets.is_set_entry(f)]:  # each series on its range
        for _, plane in medical_sets.load(str(entry), value_range):
            planes.append(np.ascontiguousarray(to_channels(plane, channels, entry), np.float32))
    files = [f for f in files if not medical_sets.is_set_entry(f)]
    for unit in group_inputs(files):
        arr = read_unit(unit, value_range).array
        arr = arr.reshape(-1, *arr.shape[-3:])
        label = unit[0] if len(unit) == 1 else unit[0].parent
        planes.extend(
            np.ascontiguousarray(to_channels(p, channels, label), np.float32) for p in arr
        )
    return planes


def reflect_to_min_size(a: np.ndarray, size: int) -> np.ndarray:
    """Pad (H, W, C) reflectively at bottom/right so both sides are at least `size`."""
    ph, pw = max(0, size - a.shape[0]), max(0, size - a.shape[1])
    if ph == 0 and pw == 0:
        return a
    mode = "reflect" if min(a.shape[:2]) > 1 else "edge"
    return np.pad(a, ((0, ph), (0, pw), (0, 0)), mode=mode)


class PatchDataset(Dataset):
    """`length` random square patches (C, P, P) from in-memory planes.

    Patches whose mean is below `min_mean` are redrawn (up to 20 times) so X-ray and MRI
    training does not waste steps on black background. `key` names the batch entry:
    "clean" for clean data (noise is added by the method), "noisy" for real noisy data.
    `levels`: each plane's measured noise parameters, given with its patches as "level".
    `scales`: block-mean factors a patch is drawn at, one picked per patch (1: native).
    """

    def __init__(
        self,
        planes: list[np.ndarray],
        patch: int,
        length: int,
        seed: int = 0,
        key: str = "clean",
        min_mean: float = 0.0,
        offset: int = 0,
        levels: list | None = None,
        scales: Sequence[int] = (1,),
    ):
        if not planes:
            raise UserError("no training images")
        if levels is not None and len(levels) != len(planes):
            raise ValueError(f"{len(levels)} levels for {len(planes)} planes")
        self.levels = levels
        self.planes = [reflect_to_min_size(p, patch) for p in planes]
        self.patch, self.length, self.seed = patch, length, seed
        self.key, self.min_mean, self.offset = key, min_mean, offset
        self.scales = tuple(scales)

    def __len__(self) -> int:
        # The whole run's length, not what is left after `offset`: a resumed Lightning loop
        # keeps counting batches from the checkpoint's position within the epoch, so a
        # shorter loader would end the epoch early and restart it on already-used samples.
        # Training stops at max_steps long before these indices run out.
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, index + self.offset))
        for _ in range(MAX_REJECTIONS):
            k, crop = self._draw(rng)
            if crop.mean() >= self.min_mean:
                break
        item = {self.key: torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))}
        if self.levels is not None:
            item["level"] = torch.tensor(self.levels[k], dtype=torch.float64)
        return item

    def _draw(self, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        k = int(rng.integers(len(self.planes)))
        img, p = self.planes[k], self.patch
        # one scale is drawn only when there is a choice, so a native run's stream is unchanged
        f = (
            self.scales[int(rng.integers(len(self.scales)))]
            if len(self.scales) > 1
            else self.scales[0]
        )
        f = max(1, min(f, img.shape[0] // p, img.shape[1] // p))  # as far as the plane allows
        y = int(rng.integers(img.shape[0] - p * f + 1))
        x = int(rng.integers(img.shape[1] - p * f + 1))
        crop = img[y : y + p * f, x : x + p * f]
        return k, block_mean(crop, f)  # the same anatomy on a coarser matrix


def block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """(H, W, C) → (H // f, W // f, C), each pixel the mean of an f×f block: the plane on a
    matrix f times coarser (rows and columns past the last whole block are dropped)."""
    if f == 1:
        return a
    from skimage.measure import block_reduce

    h, w = a.shape[0] // f * f, a.shape[1] // f * f  # block_reduce would pad a ragged edge
    return block_reduce(a[:h, :w], (f, f, 1), np.mean).astype(np.float32, copy=False)


def center_square(a: np.ndarray, limit: int, multiple: int = 32) -> np.ndarray:
    """Largest centred square crop ≤ limit whose side is a multiple of `multiple`."""
    side = min(a.shape[0], a.shape[1], limit) // multiple * multiple
    if side == 0:
        return reflect_to_min_size(a, multiple)[:multiple, :multiple]
    y, x = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
    return a[y : y + side, x : x + side]


class ValidationSet(Dataset):
    """Clean centre crops with noise fixed once from generators seeded by (seed, i)."""

    def __init__(self, planes: list[np.ndarray], noise, crop: int, seed: int = 0):
        self.items = []
        for i, plane in enumerate(planes):
            clean = torch.from_numpy(
                np.ascontiguousarray(center_square(plane, crop).transpose(2, 0, 1))
            ).unsqueeze(0)
            gen = torch.Generator().manual_seed(seed * 100_003 + i)
            noisy, params = noise.sample(clean, gen)
            self.items.append({"clean": clean[0], "noisy": noisy[0], "params": params[0]})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.items[index]
