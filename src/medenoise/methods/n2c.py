"""Noise2Clean: the plain U-Net trained by L2 to the clean image (supervised upper bound)."""

from __future__ import annotations

from medenoise.methods.base import PlainUNetMethod


class N2C(PlainUNetMethod):
    name = "n2c"

    def training_loss(self, batch):
        if "clean" not in batch:
            raise ValueError("n2c needs clean training images (data_kind: clean)")
        return ((self.train_net(batch["noisy"]) - batch["clean"]) ** 2).mean(), {}
