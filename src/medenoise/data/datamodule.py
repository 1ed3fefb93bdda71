"""Lightning datamodule: folders of training (and validation) images → patch batches.

Single images give {"clean"} or {"noisy"} patches; real pairs (paired folders or the FMD
layout, see data/pairs.py) give {"noisy", "target"} patches cropped identically.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from medenoise.config import TrainConfig
from medenoise.data.pairs import PairPatchDataset, fmd_groups, load_groups, paired_files
from medenoise.data.patches import PatchDataset, ValidationSet, list_images, load_planes
from medenoise.errors import UserError
from medenoise.noise import make_noise_model


class FolderDataModule(L.LightningDataModule):
    """Random patches from `cfg.data`; clean data get fresh synthetic noise in the method's
    training step, noisy data are used as they are. Validation images (clean) get fixed
    seeded noise; validation is skipped when none are given or the data are noisy."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.cfg = cfg
        channels = cfg.model.channels
        self.train_planes, self.train_groups = [], []
        if uses_pairs(cfg):
            files = (
                fmd_groups(cfg.data) if cfg.layout == "fmd" else paired_files(cfg.data, cfg.pairs)
            )
            self.train_groups = load_groups(files, channels, cfg.value_range)
        else:
            self.train_planes = load_planes(list_images(cfg.data), channels, cfg.value_range)
        self.val_set = None
        if cfg.val and cfg.val_images > 0:
            files = list_images(cfg.val)[: cfg.val_images]
            self.val_set = ValidationSet(
                load_planes(files, channels),
                make_noise_model(cfg.model.noise),
                cfg.val_crop,
                cfg.seed,
            )

    def train_dataloader(self) -> DataLoader:
        cfg = self.cfg
        rank = self.trainer.global_rank if self.trainer else 0
        step = self.trainer.global_step if self.trainer else 0
        key = "clean" if cfg.data_kind == "clean" else "noisy"
        # each rank draws its own stream; a resumed run starts where it stopped
        stream = dict(
            seed=cfg.seed * 7919 + rank, min_mean=cfg.min_patch_mean, offset=step * cfg.batch_size
        )
        length = cfg.steps * cfg.batch_size
        if self.train_groups:
            ds = PairPatchDataset(self.train_groups, cfg.patch, length, **stream)
        else:
            ds = PatchDataset(self.train_planes, cfg.patch, length, key=key, **stream)
        return DataLoader(
            ds,
            batch_size=cfg.batch_size,
            shuffle=False,
            num_workers=cfg.num_workers,
            persistent_workers=cfg.num_workers > 0,
            pin_memory=torch.cuda.is_available() and cfg.accelerator != "cpu",
            drop_last=True,
        )

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=1, num_workers=0)


def uses_pairs(cfg: TrainConfig) -> bool:
    """True when the training data are real pairs; they must be declared as noisy data."""
    if cfg.pairs and cfg.layout == "fmd":
        raise UserError("give either pairs or the FMD layout, not both")
    paired = bool(cfg.pairs) or cfg.layout == "fmd"
    if paired and cfg.data_kind != "noisy":
        what = "FMD raw frames" if cfg.layout == "fmd" else "paired images"
        raise UserError(f"{what} are real noisy data: set data_kind to noisy")
    return paired
