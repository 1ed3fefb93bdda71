"""Noise2Noise (Lehtinen et al. 2018): the plain U-Net trained by L2 to a second noisy copy.

E[target | input] = clean when the two copies carry independent zero-mean noise, so the L2
optimum is the same as Noise2Clean's. Copies come from (a) two independent synthetic noise
draws on each clean patch (same per-image level, the method's seeded generator, so a
resumed run stays exact), or (b) real pairs: paired folders or the FMD layout
(data/pairs.py), which arrive as batches {"noisy", "target"}.
"""

from __future__ import annotations

from medenoise.methods.base import PlainUNetMethod


class N2N(PlainUNetMethod):
    """Plain U-Net, L2 between its output on one noisy copy and a second noisy copy."""

    name = "n2n"

    def with_noise(self, batch):
        """Two independent noisy copies of each clean patch (same level); pairs pass through."""
        if "noisy" in batch:
            return batch
        clean, gen = batch["clean"], self.noise_generator
        params = self.noise.draw_params(clean.shape[0], gen, clean.device)
        first = self.noise.add(clean, params, gen)
        second = self.noise.add(clean, params, gen)
        return {**batch, "noisy": first, "target": second, "params": params}

    def training_loss(self, batch):
        if "target" not in batch:
            raise ValueError("n2n needs a second noisy copy of each patch (pairs)")
        return ((self.train_net(batch["noisy"]) - batch["target"]) ** 2).mean(), {}
