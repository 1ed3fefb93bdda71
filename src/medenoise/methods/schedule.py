"""The SSDN paper's learning-rate schedule: cosine ramp-up, flat, squared-cosine ramp-down."""

from __future__ import annotations

import math


def lr_factor(step: int, total: int, rampup: float = 0.1, rampdown: float = 0.3) -> float:
    """Multiplier of the base lr: (1 − cos πt)/2 over the first `rampup` fraction,
    1 in the middle, ((1 + cos πt)/2)² over the last `rampdown` fraction."""
    t = min(max(step / max(total, 1), 0.0), 1.0)
    factor = 1.0
    if rampup > 0 and t < rampup:
        factor *= (1.0 - math.cos(math.pi * t / rampup)) / 2.0
    if rampdown > 0 and t > 1.0 - rampdown:
        u = (t - (1.0 - rampdown)) / rampdown
        factor *= ((1.0 + math.cos(math.pi * u)) / 2.0) ** 2
    return factor
