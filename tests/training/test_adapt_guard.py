"""The safeguard of `--adapt`: held-out tiles never trained on, the best weights kept, the
unadapted ones restored when the held-out loss does not fall; the start at the data's level."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medenoise.adaptation_guard import HOLD_EVERY, HeldOutGuard, split_heldout
from tiny_models import make_tiny_model


class _Quadratic(nn.Module):
    """A stand-in method whose per-tile loss is (w − tile mean)²: its weights set the loss."""

    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(w)))

    @property
    def device(self):
        return self.w.device

    @staticmethod
    def nhwc(batch):
        return batch

    def training_loss(self, batch):
        return (self.w - batch["noisy"].mean()) ** 2, {}


def _tiles(n=8):
    rng = np.random.default_rng(0)
    return [np.full((4, 4, 1), 1.0, np.float32) + rng.normal(0, 1e-3, (4, 4, 1)).astype(np.float32)
            for _ in range(n)]  # fmt: skip


def _run(start: float, steps: list[float]):
    module, guard = _Quadratic(start), HeldOutGuard(_tiles(), every=1)
    guard.start(module)
    for i, w in enumerate(steps):
        with torch.no_grad():
            module.w.fill_(w)
        guard.offer(i + 1, module)
    return module, guard


def test_guard_restores_the_unadapted_weights_exactly_when_the_held_out_loss_worsens(capsys):
    module, guard = _run(1.5, [2.0, 3.0, 1.6])  # every step further from the tiles' mean 1
    outcome = guard.finish(module, 3)
    assert module.w.item() == 1.5  # bit for bit the unadapted weight
    assert "not kept" in outcome
    assert "using the unadapted model" in capsys.readouterr().err


def test_guard_keeps_the_best_steps_weights_not_the_last(capsys):
    module, guard = _run(3.0, [2.0, 1.01, 2.5])
    outcome = guard.finish(module, 3)
    assert module.w.item() == pytest.approx(1.01) and guard.best_step == 2
    assert "step 2" in outcome and "keeping the weights of step 2" in capsys.readouterr().err


def test_guard_needs_the_gain_to_exceed_the_tiles_noise():
    """A fall smaller than two standard errors of the per-tile change is not a gain."""
    tiles = [np.full((4, 4, 1), v, np.float32) for v in (0.0, 2.0, 0.0, 2.02)]
    guard, module = HeldOutGuard(tiles, every=1), _Quadratic(1.0)
    guard.start(module)
    with torch.no_grad():
        module.w.fill_(1.005)  # half the tiles a little better, half a little worse
    guard.offer(1, module)
    assert guard.best_loss < guard.reference.mean()  # the mean did fall, by 2.5e-5
    assert not guard.improved()


def test_held_out_rows_are_never_in_the_training_pieces():
    planes = [np.arange(512 * 96, dtype=np.float32).reshape(512, 96, 1) + 1e6 * i for i in range(3)]
    train, tiles, owners, pieces_of = split_heldout(planes, 64)
    seen = set(np.concatenate([p.ravel() for p in train]).tolist())
    held = set(np.concatenate([t.ravel() for t in tiles]).tolist())
    assert tiles and not seen & held
    total = sum(p.size for p in planes)
    held_bands = sum(len([b for b in range(8) if (b + k) % HOLD_EVERY == 1]) for k in range(3))
    assert sum(p.size for p in train) == total - held_bands * 64 * 96
    assert all(t.shape == (64, 64, 1) for t in tiles)
    again = split_heldout(planes, 64)[1]
    assert all(np.array_equal(a, b) for a, b in zip(tiles, again, strict=True))
    for tile, k in zip(tiles, owners, strict=True):  # each tile knows its plane
        assert tile.min() >= 1e6 * k and tile.max() < 1e6 * (k + 1)
    assert len(pieces_of) == len(train) and set(pieces_of) == {0, 1, 2}
    for piece, k in zip(train, pieces_of, strict=True):  # so does each training piece
        assert piece.min() >= 1e6 * k and piece.max() < 1e6 * (k + 1)


def test_every_plane_of_two_bands_or_more_is_held_out_somewhere():
    """Planes of a few bands each (a 256² slice beside a 512² radiograph) are each scored: a
    count over all planes would leave some with no held-out tile, and the guard would pick
    weights for the others alone."""
    planes = [np.zeros((512, 64, 1), np.float32)] + [np.zeros((256, 64, 1), np.float32)] * 4
    _, _, owners, pieces_of = split_heldout(planes, 128)
    assert set(owners) == set(range(5)) and set(pieces_of) == set(range(5))


def test_a_held_out_band_of_tall_patches_is_scored_as_rows_of_smaller_tiles():
    plane = np.arange(512 * 256, dtype=np.float32).reshape(512, 256, 1)
    train, tiles, _, _ = split_heldout([plane], 128, 64)
    assert len(tiles) == 2 * 4 and all(t.shape == (64, 64, 1) for t in tiles)
    held = np.concatenate([t.ravel() for t in tiles])
    assert np.array_equal(np.sort(held), plane[128:256].ravel())  # band 1, every pixel once
    assert sum(p.shape[0] for p in train) == 512 - 128


def test_small_planes_still_hold_out_half_and_a_single_row_holds_out_nothing():
    train, tiles, _, _ = split_heldout([np.ones((40, 40, 1), np.float32)], 64)
    assert [p.shape[0] for p in train] == [20] and tiles and tiles[0].shape == (64, 64, 1)
    train, tiles, _, pieces_of = split_heldout([np.ones((1, 40, 1), np.float32)], 64)
    assert tiles == [] and len(train) == 1 and pieces_of == [0]


def test_adapt_that_diverges_returns_the_unadapted_weights(tmp_path, capsys):
    """A learning rate so large that training diverges: the held-out loss rises, and the
    adapted model is the unadapted one, bit for bit."""
    import medenoise
    from medenoise.modelfile import save_model

    model = save_model(make_tiny_model("ssdn"), tmp_path / "m.safetensors")
    rng = np.random.default_rng(1)
    noisy = [np.clip(0.5 + rng.normal(0, 0.1, (128, 128)), 0, 1).astype(np.float32)]
    tuned = medenoise.adapt(str(model), noisy, 6, lr=50.0)
    base = medenoise.load_model(str(model))
    a, b = base.module.state_dict(), tuned.module.state_dict()
    assert all(torch.equal(a[k], b[k].to(a[k].dtype)) for k in a)
    assert "using the unadapted model" in capsys.readouterr().err
    assert "not kept" in str(tuned.source)


def test_learned_level_starts_at_the_level_measured_on_the_data():
    from medenoise.adaptation_level import start_at_data_level

    module = make_tiny_model("ssdn", noise="pg", noise_param="global")
    rng = np.random.default_rng(2)
    ramp = np.linspace(0.1, 0.6, 256, dtype=np.float64)[None, :].repeat(256, 0)
    a, b = 0.01, 0.0005  # the untrained level: a = 0.0191, b = 0 (θ = 0)
    noisy = ramp + rng.normal(0, 1, ramp.shape) * np.sqrt(a * ramp + b)
    said = start_at_data_level(module, [noisy[..., None].astype(np.float32)])
    got = module.noise_param(torch.zeros(1, 1, 8, 8))[0].detach()
    assert said is not None and said.startswith("a=")
    assert got[0].item() == pytest.approx(a, rel=0.1)
    assert got[1].item() == pytest.approx(b, abs=2e-4)
    known = make_tiny_model("ssdn")  # a known-level model has no learned level to move
    assert start_at_data_level(known, [noisy[..., None].astype(np.float32)]) is None


@pytest.mark.parametrize("channels", [1, 3])
def test_sure_gain_is_the_posterior_means_derivative_in_its_own_pixel(channels):
    """The blind spot keeps μ_x and Σ_x blind to y_i, so ∂x̂_i/∂y_i is the closed form."""
    from medenoise.noise.sure import posterior_and_gain

    module = make_tiny_model("ssdn", channels=channels).double()
    y = torch.rand(
        1, channels, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    with torch.no_grad():
        x, gain, _ = posterior_and_gain(module, y)
        h, (i, j) = 1e-4, (13, 17)
        for ch in range(channels):
            bumped = y.clone()
            bumped[0, ch, i, j] += h
            x2, _, _ = posterior_and_gain(module, bumped)
            numeric = (x2 - x)[0, ch, i, j].item() / h
            assert numeric == pytest.approx(gain[0, ch, i, j].item(), rel=1e-4, abs=1e-6)
            assert 0 < numeric < 1


def test_sure_estimates_the_denoised_tiles_error_without_the_clean_image():
    from skimage import data as skdata

    from medenoise.adaptation_sure import sure_measure
    from medenoise.noise.sure import posterior_and_gain

    module = make_tiny_model("ssdn")  # Gaussian σ = 25, known
    clean = skdata.camera()[:256, :256].astype(np.float32) / 255
    noisy = clean + np.random.default_rng(4).normal(0, 25 / 255, clean.shape).astype(np.float32)

    def cut(a):
        return [
            a[y : y + 64, x : x + 64, None] for y in range(0, 256, 64) for x in range(0, 256, 64)
        ]

    tiles, truth = cut(noisy), cut(clean)
    estimate = sure_measure(module, None)(module, tiles)
    with torch.no_grad():
        errors = [
            float(((posterior_and_gain(module, torch.from_numpy(t.transpose(2, 0, 1)[None]))[0]
                    - torch.from_numpy(c.transpose(2, 0, 1)[None])) ** 2).mean())
            for t, c in zip(tiles, truth, strict=True)
        ]  # fmt: skip
    # unbiased per tile, so the mean over 16 tiles is close (the noise's own variance: 0.0096)
    assert estimate.mean() == pytest.approx(np.mean(errors), abs=0.001)
    assert np.corrcoef(estimate, errors)[0, 1] > 0.5
