"""Noise2Clean: the plain U-Net trained by L2 to the clean image (supervised upper bound)."""

from __future__ import annotations

from medenoise.methods.base import DenoisingMethod
from medenoise.nets import UNet


class N2C(DenoisingMethod):
    name = "n2c"

    def build(self) -> None:
        self.check_plain()
        cfg = self.model_config
        self.net = UNet(cfg.channels, cfg.channels, cfg.width)

    def training_loss(self, batch):
        if "clean" not in batch:
            raise ValueError("n2c needs clean training images (data_kind: clean)")
        return ((self.net(batch["noisy"]) - batch["clean"]) ** 2).mean(), {}

    def denoise(self, y, params=None):
        return self.net(y).float()
