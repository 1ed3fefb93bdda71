"""Noise2Void (Krull et al. 2019): the plain U-Net trained to predict masked pixels.

A small fraction of pixels per patch (default 1/64, `method_options.n2v_fraction`) is replaced
by a random neighbour (methods/n2v_masking.py); the loss is the L2 to the original noisy
values on those pixels only, so the net cannot learn the identity. With noise correlated
between neighbours, `method_options.n2v_struct` masks a rectangle around each pixel too
(structN2V, Broaddus et al. 2020). Works on clean images
with synthetic noise and on already-noisy data alike; denoising is one plain forward pass.

The "architectural" N2V, with the blind spot built into the network instead of masking,
is SSDN's μ-only ablation: `method ssdn, covariance mu` (BlindSpotUNet, L2 to the noisy
input, output used as is).
"""

from __future__ import annotations

from medenoise.methods.base import PlainUNetMethod
from medenoise.methods.n2v_masking import DEFAULT_FRACTION, masked_mse, n2v_mask, struct_mask


class N2V(PlainUNetMethod):
    """Plain U-Net, L2 on the Noise2Void-masked pixels of the noisy input only."""

    name = "n2v"

    @property
    def fraction(self) -> float:
        """Masked fraction per patch: the run's `n2v_fraction`, the paper's 1/64 otherwise."""
        cfg = self.train_config
        return cfg.method_options.n2v_fraction if cfg else DEFAULT_FRACTION

    @property
    def struct(self) -> tuple[int, int]:
        """Structured blind spot's (rows, columns) half-extent; (0, 0): plain N2V masking."""
        cfg = self.train_config
        return tuple(cfg.method_options.n2v_struct) if cfg else (0, 0)

    def training_loss(self, batch):
        y = batch["noisy"]
        g = self.noise_generator
        if any(self.struct):
            masked, mask = struct_mask(y, self.struct, self.fraction, generator=g)
        else:
            masked, mask = n2v_mask(y, self.fraction, generator=g)
        return masked_mse(self.train_net(masked), y, mask), {}
