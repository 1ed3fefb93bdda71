"""Evaluation samples of a named medical set (`evaluate --set med-test`): the set's planes
(data/medical_sets.py) with synthetic noise drawn as `evaluate --clean` draws it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np


def set_samples(
    name: str,
    noise: str,
    channels: int | None,
    seed: int = 0,
    repeats: int = 1,
    root: str | Path | None = None,
    matrix: int = 1,
) -> Iterator:
    """Samples of set `name`: image i's noise from a generator seeded by (seed, i), on the
    working range of its series (so gaussian:25 is 25/255 of what that range spans).
    `matrix` = f: each clean plane first averaged over f×f blocks (a coarser scan matrix)."""
    from medenoise.data import medical_sets
    from medenoise.data.patches import block_mean, to_channels
    from medenoise.eval.samples import noised_samples

    def cleans():
        for label, plane in medical_sets.load(name, root=root):
            clean = plane if channels is None else to_channels(plane, channels, label)
            clean = block_mean(clean, matrix)
            yield label, np.ascontiguousarray(clean, np.float32)

    return noised_samples(cleans(), noise, seed, repeats)
