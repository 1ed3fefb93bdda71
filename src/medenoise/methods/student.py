"""Distilled student: a plain U-Net trained by L2 to reproduce a teacher's output.

Batches are {"noisy", "target"} where the target is the teacher's full estimate for that
very noisy input (medenoise.distill computes it), so no clean image is ever used and a
self-supervised teacher keeps the whole chain self-supervised. The L2 optimum is the
teacher's output itself; inference is one plain forward pass with no noise-level input
(the teacher's level handling is folded into the weights).
"""

from __future__ import annotations

from torch import nn

from medenoise.methods.base import PlainUNetMethod
from medenoise.nets import UNet
from medenoise.nets.layers import Conv


def shallow_unet(channels: int, width: int, depth: int) -> UNet:
    """The plain U-Net with `depth` poolings instead of five (same layer names and blocks)."""
    net = UNet(channels, channels, width)
    if depth == 5:
        return net
    trunk, w, d = net.trunk, width, 2 * width
    # encoder: enc0 pools once, then depth - 1 convs each followed by a pool; the decoder
    # mirrors it, the last block taking the input image as its skip (as in the five-level net)
    trunk.enc = nn.ModuleList([Conv(w, w) for _ in range(depth - 1)])
    cins = [w + w] + [d + w] * (depth - 2) + [d + channels]
    trunk.dec = nn.ModuleList([nn.Sequential(Conv(c, d), Conv(d, d)) for c in cins])
    return net


class Student(PlainUNetMethod):
    """Plain U-Net of any depth ≤ 5, L2 between its output and the teacher's on one input."""

    name = "student"

    def build(self) -> None:
        cfg = self.model_config
        self.net = shallow_unet(cfg.channels, cfg.width, cfg.depth)

    def training_loss(self, batch):
        if "target" not in batch:
            raise ValueError("a student trains on teacher outputs: use `medenoise distill`")
        return ((self.train_net(batch["noisy"]) - batch["target"]) ** 2).mean(), {}
