"""Evaluation samples of a named medical set (`evaluate --set med-test`): the set's planes
(data/medical_sets.py) with synthetic noise drawn as `evaluate --clean` draws it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from medenoise.errors import UserError


def set_samples(
    name: str,
    noise: str,
    channels: int | None,
    seed: int = 0,
    repeats: int = 1,
    root: str | Path | None = None,
) -> Iterator:
    """Samples of set `name`: image i's noise from a generator seeded by (seed, i), on the
    working range of its series (so gaussian:25 is 25/255 of what that range spans)."""
    import torch

    from medenoise.data import medical_sets
    from medenoise.data.patches import to_channels
    from medenoise.eval.samples import Sample, draw_level, sample_generator
    from medenoise.noise import make_noise_model

    model = make_noise_model(noise)
    if not model.spec.has_level:
        raise UserError(f"noise spec {noise!r} has no level; give e.g. {model.kind}:25")
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {repeats}")
    index = 0
    for label, plane in medical_sets.load(name, root=root):
        clean = plane if channels is None else to_channels(plane, channels, label)
        clean = np.ascontiguousarray(clean, np.float32)
        x = torch.from_numpy(np.ascontiguousarray(clean.transpose(2, 0, 1)))[None]
        for r in range(repeats):
            gen = sample_generator(seed, index)
            index += 1
            spec, params = draw_level(model, gen)
            y = model.add(x, params.to(x.dtype), gen)[0].permute(1, 2, 0).numpy()
            tag = label if repeats == 1 else f"{label}#{r}"
            yield Sample(tag, clean, np.ascontiguousarray(y, np.float32), spec)
