"""Lightning datamodules: training (and validation) images → patch batches.

Single images give {"clean"} or {"noisy"} patches; real pairs (paired folders or the FMD
layout, see data/pairs.py) give {"noisy", "target"} patches cropped identically.
`PlanesDataModule` draws from planes already in memory (`medenoise.adapt` on arrays);
`FolderDataModule` reads them from the config's files first. Both draw the same patch
sequence from the same planes.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from medenoise.config import TrainConfig
from medenoise.data.pairs import PairPatchDataset, fmd_groups, load_groups, paired_files
from medenoise.data.patches import (
    PatchDataset,
    ValidationSet,
    list_images,
    load_planes,
    to_channels,
)
from medenoise.noise import make_noise_model


class PlanesDataModule(L.LightningDataModule):
    """Random patches from float32 (H, W, C) planes in memory (or groups for real pairs)."""

    # clean data get fresh synthetic noise in the method's training step, noisy data are used
    # as they are; `val_set`: clean validation crops, or None to skip validation; `levels`:
    # each plane's measured noise parameters, given with its patches

    def __init__(
        self,
        cfg: TrainConfig,
        planes: list[np.ndarray] | None = None,
        groups: list[list[np.ndarray]] | None = None,
        val_set: ValidationSet | None = None,
        levels: list | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        self.train_planes, self.train_groups = planes or [], groups or []
        self.levels = levels
        self.val_set = val_set

    def train_dataloader(self) -> DataLoader:
        data, optim = self.cfg.dataset, self.cfg.optim
        rank = self.trainer.global_rank if self.trainer else 0
        step = self.trainer.global_step if self.trainer else 0
        key = "clean" if data.data_kind == "clean" else "noisy"
        # each rank draws its own stream; a resumed run starts where it stopped
        stream = dict(
            seed=optim.seed * 7919 + rank,
            min_mean=data.min_patch_mean,
            offset=step * data.batch_size,
        )
        length = optim.steps * data.batch_size
        # pixel-shuffle training cuts patch·k crops; the method splits them into k² patches
        crop = data.patch * self.cfg.model.pd_stride
        if self.train_groups:
            ds = PairPatchDataset(self.train_groups, crop, length, **stream)
        else:
            ds = PatchDataset(
                self.train_planes,
                crop,
                length,
                key=key,
                levels=self.levels,
                scales=data.matrix_scales,
                **stream,
            )
        return DataLoader(
            ds,
            batch_size=data.batch_size,
            shuffle=False,
            num_workers=data.num_workers,
            persistent_workers=data.num_workers > 0,
            pin_memory=torch.cuda.is_available() and self.cfg.trainer.accelerator != "cpu",
            drop_last=True,
        )

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=1, num_workers=0)


class FolderDataModule(PlanesDataModule):
    """Patches from the images under `cfg.dataset.data`, validated on `cfg.dataset.val`."""

    # pairs come from `pairs` or the FMD layout; validation images get fixed seeded noise

    def __init__(self, cfg: TrainConfig):
        data = cfg.dataset
        channels = cfg.model.channels
        planes, groups = None, None
        if data.paired:
            if data.layout == "fmd":
                files = fmd_groups(data.data)
            else:
                files = paired_files(data.data, data.pairs)
            groups = load_groups(files, channels, data.value_range)
        else:
            planes = load_planes(list_images(data.data), channels, data.value_range)
        val_set = None
        if data.val and data.val_images > 0:
            files = list_images(data.val)[: data.val_images]
            noise = make_noise_model(cfg.model.noise)
            val_set = ValidationSet(
                load_planes(files, channels), noise, data.val_crop, cfg.optim.seed
            )
        super().__init__(cfg, planes=planes, groups=groups, val_set=val_set)


def array_planes(arrays: Sequence, channels: int) -> list[np.ndarray]:
    """Float32 (H, W, C) planes of arrays as `denoise` takes them, as `load_planes` reads them."""
    # the same values `load_planes` reads back from the arrays saved as float32 TIFF: floats are
    # kept as given (noise below 0 is not clipped), integers scaled by their type's range
    from medenoise.data.io import from_array

    planes = []
    for i, array in enumerate(arrays):
        stack = from_array(np.asarray(array)).array.astype(np.float32)
        for plane in stack.reshape(-1, *stack.shape[-3:]):  # a stack gives every slice
            planes.append(np.ascontiguousarray(to_channels(plane, channels, f"array {i}")))
    return planes
