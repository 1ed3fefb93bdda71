"""Tiny networks for unit tests: one builder instead of one per test file."""

from __future__ import annotations

import torch


def make_tiny_model(method: str = "ssdn", *, seed: int = 0, **config):
    """A seed-`seed` network of width 8 (Gaussian σ=25 unless `config` says otherwise), in
    eval mode: fast enough for any unit test."""
    from medenoise.config import ModelConfig
    from medenoise.methods import build_method

    config.setdefault("noise", "gaussian:25")
    config.setdefault("width", 8)
    torch.manual_seed(seed)
    return build_method(ModelConfig(method=method, **config)).eval()


def perturbed_model(cfg):
    """The method of ModelConfig `cfg` (seed 0, eval mode) with every weight nudged by seeded
    noise: non-trivial everywhere (an SSDN's level estimator starts at zero)."""
    from medenoise.methods import build_method

    torch.manual_seed(0)
    module = build_method(cfg).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return module
