"""The safeguard of `--adapt`: a held-out part of the noisy data, never trained on, scores the
weights with no clean image: SSDN by SURE, an unbiased estimate of its output's squared error
(adaptation_sure), other methods by their own self-supervised loss (Noise2Void: the masked
MSE; SSDN without a usable noise level: the noisy pixel's negative log likelihood). The
best-scoring weights are kept, and the unadapted ones when adaptation did not lower the
held-out score by more than its noise (two standard errors of the per-tile change).

Held-out data are whole rows of tiles: each plane is cut into bands `patch` rows high, and
every `HOLD_EVERY`-th band of each plane is held out (one band at least, wherever a plane has
two: a plane never held out would go unscored, and the guard would choose weights for the
others); the rest of each plane, in contiguous pieces, is what adaptation draws its patches
from.
"""

from __future__ import annotations

import math
import sys

import numpy as np

HOLD_EVERY = 6
"""One band in six is held out (bands 1, 7, 13, ... of the first plane; one band further up
on each next plane, so planes give different rows)."""
GUARD_TILE = 64
"""Side of the held-out tiles scored (a held-out band of taller training patches is cut into
several rows of them): many small tiles give the per-tile change's standard error."""
MAX_TILES = 64
"""Held-out tiles scored at most (evenly spread): bounds the cost of each check."""
CHECKS = 12
"""Held-out checks per run besides the one before training."""
SIGNIFICANCE = 2.0
"""Standard errors by which the held-out loss must fall for adapted weights to be kept."""
MIN_GAIN = 1e-4
"""Least gain, relative to the unadapted score's size: below it a change is rounding (the
same weights score a few ulps apart in another memory layout)."""
SEED = 1_000_003
"""Seed of the loss's own randomness (Noise2Void's masks) on the held-out tiles."""


def split_heldout(
    planes: list[np.ndarray], patch: int, tile: int | None = None
) -> tuple[list, list, list[int], list[int]]:
    """(training pieces, held-out tile×tile tiles (`tile` defaults to `patch`), the plane index
    of each tile, the plane index of each training piece) of (H, W, C) planes, bands `patch`
    rows high; no tiles when the data hold fewer than two bands."""
    train, held, owners, pieces_of = [], [], [], []
    for k, plane in enumerate(planes):
        h = plane.shape[0]
        band = patch if h >= 2 * patch else max(1, h // 2)
        starts = list(range(0, h - band + 1, band))
        held_bands, kept_from = _held_bands(len(starts), k), 0
        for i, top in enumerate(starts):
            bottom = h if i == len(starts) - 1 else top + band  # the last band takes the rest
            if i in held_bands:
                if top > kept_from:
                    train.append(plane[kept_from:top])
                    pieces_of.append(k)
                kept_from = bottom
                tiles = _tiles(plane[top:bottom], tile or patch)
                held.extend(tiles)
                owners.extend([k] * len(tiles))
        if kept_from < h:
            train.append(plane[kept_from:])
            pieces_of.append(k)
    if not held or not train:
        return list(planes), [], [], list(range(len(planes)))
    if len(held) > MAX_TILES:
        keep = np.linspace(0, len(held) - 1, MAX_TILES).round().astype(int)
        held, owners = [held[i] for i in keep], [owners[i] for i in keep]
    train = [np.ascontiguousarray(p) for p in train]
    return train, [np.ascontiguousarray(t) for t in held], owners, pieces_of


def _held_bands(count: int, plane: int) -> set[int]:
    """Which of a plane's `count` bands are held out: every `HOLD_EVERY`-th, shifted by the
    plane's index, else one, wherever there are two."""
    if count < 2:
        return set()
    held = {i for i in range(count) if (i + plane) % HOLD_EVERY == 1}
    return held or {1 + plane % (count - 1)}


def _tiles(strip: np.ndarray, tile: int) -> list[np.ndarray]:
    """Non-overlapping tile×tile tiles of a band, row by row (reflected up to `tile` where
    smaller)."""
    from medenoise.data.patches import reflect_to_min_size

    strip = reflect_to_min_size(strip, tile)
    h, w = strip.shape[:2]
    return [
        strip[y : y + tile, x : x + tile]
        for y in range(0, h - tile + 1, tile)
        for x in range(0, w - tile + 1, tile)
    ]


def tile_losses(module, tiles) -> np.ndarray:
    """The method's training loss on each held-out tile (its own randomness seeded per tile)."""
    import torch

    losses = []
    saved_gen = getattr(module, "_noise_gen", None)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for i, tile in enumerate(tiles):
                x = torch.from_numpy(tile.transpose(2, 0, 1)[None]).to(module.device)
                module._noise_gen = torch.Generator(device=x.device).manual_seed(SEED + i)
                loss, _ = module.training_loss(module.nhwc({"noisy": x}))
                losses.append(float(loss))
    finally:
        module._noise_gen = saved_gen
        module.train(was_training)
    return np.asarray(losses)


def _state(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class HeldOutGuard:
    """Scores a module on held-out tiles as it trains and keeps the best weights seen."""

    def __init__(self, tiles: list[np.ndarray], every: int, measure=None, name="loss"):
        # `measure(module, tiles)`: per-tile scores, lower is better (default: the loss)
        self.tiles, self.every = tiles, max(1, every)
        self.measure, self.name = measure or tile_losses, name
        self.reference: np.ndarray | None = None  # the unadapted module's per-tile losses
        self.original: dict | None = None
        self.best_loss, self.best_step = math.inf, -1
        self.best_state: dict | None = None
        self.best_losses: np.ndarray | None = None
        self.history: list[tuple[int, float]] = []

    @classmethod
    def for_run(cls, tiles, steps: int, measure=None, name="loss") -> HeldOutGuard:
        return cls(tiles, math.ceil(steps / CHECKS), measure, name)

    def start(self, module) -> None:
        """Score and keep the unadapted module: the fallback and the bar to clear."""
        self.reference = self.measure(module, self.tiles)
        self.original = _state(module)
        self.history.append((-1, float(self.reference.mean())))

    def offer(self, step: int, module) -> None:
        """Score the module at `step`; keep its weights when they are the best so far."""
        losses = self.measure(module, self.tiles)
        mean = float(losses.mean())
        self.history.append((step, mean))
        if mean < self.best_loss:
            self.best_loss, self.best_step, self.best_losses = mean, step, losses
            self.best_state = _state(module)

    def improved(self) -> bool:
        """Whether the best weights beat the unadapted ones by more than the noise."""
        if self.best_losses is None or self.reference is None:
            return False
        gain = self.reference - self.best_losses
        margin = SIGNIFICANCE * gain.std(ddof=1) / math.sqrt(len(gain)) if len(gain) > 1 else 0
        floor = MIN_GAIN * float(np.abs(self.reference).mean())
        return bool(gain.mean() > max(margin, floor))

    def finish(self, module, steps: int) -> str:
        """Load the best weights into `module`, or the unadapted ones when adaptation did not
        help; says which on stderr and returns it in a few words."""
        keep = self.improved()
        module.load_state_dict(self.best_state if keep else self.original)
        ref = float(self.reference.mean())
        if keep:
            print(f"adaptation: held-out {self.name} {ref:.4g} -> {self.best_loss:.4g}; keeping "
                  f"the weights of step {self.best_step} of {steps}", file=sys.stderr)  # fmt: skip
            return f"held-out best at step {self.best_step}"
        print(f"adaptation did not improve the held-out {self.name} ({ref:.4g}, best "
              f"{self.best_loss:.4g}); using the unadapted model", file=sys.stderr)  # fmt: skip
        return f"not kept: held-out {self.name} not improved"


def guard_callback(guard: HeldOutGuard):
    """A Lightning callback that offers the module to `guard` at step 0 and every
    `guard.every` steps, and after the last."""
    import lightning as L

    class _Offer(L.Callback):
        def on_train_start(self, trainer, module):
            guard.offer(0, module)

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            step = trainer.global_step
            if step % guard.every == 0 or step >= trainer.max_steps:
                guard.offer(step, module)

    return _Offer()
