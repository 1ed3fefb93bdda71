"""`default_level: measured-map`: a per-image Gaussian SSDN whose posterior takes the noise std
measured tile by tile on what it denoises, whole or in tiles, unless a level is given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_models import make_tiny_model


def _two_levels(side: int = 192) -> np.ndarray:
    """A flat plane at 0.5 with white noise of std 6/255 on its left half, 24/255 on its right
    (never clipped at 0 or 1: a tile with a clipped value would fall back to the whole level)."""
    rng = np.random.default_rng(0)
    sigma = np.where(np.arange(side)[None, :] < side // 2, 6 / 255, 24 / 255)
    return (0.5 + sigma * rng.normal(size=(side, side))).astype(np.float32)


def _map_model(**extra):
    return make_tiny_model(
        noise="gaussian", noise_param="per-image", default_level="measured-map", **extra
    )


def _captured_variances(module, monkeypatch) -> list[torch.Tensor]:
    seen = []
    original = module.noise.posterior_mean

    def capture(y, prior, var_n, level, recording):
        seen.append(var_n.detach().clone())
        return original(y, prior, var_n, level, recording)

    monkeypatch.setattr(module.noise, "posterior_mean", capture)
    return seen


@pytest.mark.parametrize("side", [1, 5])
def test_the_posterior_takes_each_regions_own_level(side, monkeypatch):
    module = _map_model(blind_square=side)
    seen = _captured_variances(module, monkeypatch)
    with torch.no_grad():
        module.denoise(torch.from_numpy(_two_levels())[None, None])
    std = seen[0][0, 0].sqrt()
    left, right = float(std[:, 10:60].median()), float(std[:, 132:182].median())
    assert left == pytest.approx(6 / 255, rel=0.12)
    assert right == pytest.approx(24 / 255, rel=0.12)
    estimated = make_tiny_model(noise="gaussian", noise_param="per-image")
    seen_est = _captured_variances(estimated, monkeypatch)
    with torch.no_grad():
        estimated.denoise(torch.from_numpy(_two_levels())[None, None])
    assert float(seen_est[0].std()) < 1e-12  # one level per image without the map


def test_a_given_level_replaces_the_map(monkeypatch):
    from medenoise.inference.denoiser import _fixed_noise_level

    module = _map_model()
    seen = _captured_variances(module, monkeypatch)
    given = torch.tensor([[25 / 255]])
    with torch.no_grad(), _fixed_noise_level(module, True):
        module.denoise(torch.from_numpy(_two_levels())[None, None], given)
    assert torch.allclose(seen[0], torch.full_like(seen[0], (25 / 255) ** 2))


def test_tiled_and_whole_runs_both_measure_the_map(tmp_path, monkeypatch):
    from medenoise.api import load_model
    from medenoise.config import ModelConfig
    from medenoise.modelfile import save_model

    path = save_model(_map_model(blind_square=5), tmp_path / "m.safetensors")
    whole = load_model(path, ensemble=False)
    tiled = load_model(path, ensemble=False, tile=640)  # the least a blind-spot tile takes
    for den, side, calls in ((whole, 192, 1), (tiled, 704, 4)):
        seen = _captured_variances(den.module, monkeypatch)
        den.denoise(_two_levels(side))
        assert len(seen) == calls
        spread = torch.cat([v.flatten() for v in seen]).sqrt()
        assert float(spread.min()) < 9 / 255 and float(spread.max()) > 20 / 255
    with pytest.raises(ValueError, match="per-image"):
        ModelConfig(noise="gaussian", default_level="measured-map")
    with pytest.raises(ValueError, match="Gaussian"):
        ModelConfig(noise="poisson", noise_param="per-image", default_level="measured-map")
