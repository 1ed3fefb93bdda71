"""SSDN with a blind square (`blind_square`): config checks, the level it measures on
correlated noise, and a run that keeps its square through the model file."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from PIL import Image

from medenoise.config import ModelConfig, TrainConfig


def test_a_blind_square_lifts_the_correlated_noise_refusal_for_ssdn_only():
    correlated = dict(noise="gaussian:25,kernel=box3", width=8)
    with pytest.raises(ValueError, match="spatially correlated"):
        TrainConfig(model=ModelConfig(method="ssdn", **correlated))
    assert TrainConfig(model=ModelConfig(method="ssdn", blind_square=5, **correlated))
    with pytest.raises(ValueError, match="blind_square is SSDN's"):
        TrainConfig(model=ModelConfig(method="n2v", blind_square=3, width=8))
    with pytest.raises(ValueError):
        ModelConfig(blind_square=4)


def _box3_noise(sigma: float) -> torch.Tensor:
    from medenoise.noise import make_noise_model

    noise = make_noise_model(f"gaussian:{sigma},kernel=box3")
    clean = torch.full((2, 1, 192, 192), 0.5)
    y, _ = noise.sample(clean, torch.Generator().manual_seed(3))
    return y


@pytest.mark.parametrize("side,reads_true", [(1, False), (3, False), (5, True)])
def test_the_measured_level_reads_the_per_pixel_std_past_the_squares_reach(side, reads_true):
    from medenoise.methods.ssdn import SSDN

    cfg = ModelConfig(noise="gaussian", noise_param="per-image", width=8, blind_square=side)
    ssdn = SSDN(cfg, TrainConfig(model=cfg, data_kind="noisy", level_from_measurement=True))
    y = _box3_noise(25)
    level = ssdn._measured_level(y)
    assert level.shape == (2, 1)
    true = float((y - 0.5).std())
    # box3 noise is white from lag 3 on, where side 5 measures it (stride-3 views); at lag 2
    # (side 3) its correlation is 1/3 and at lag 1 2/3, and the Haar measure reads low there
    close = torch.allclose(level.float(), torch.full_like(level.float(), true), rtol=0.06)
    assert close == reads_true, (side, level.flatten().tolist(), true)


def test_the_guard_reads_the_squares_reach_from_the_model():
    from medenoise.guard import checks

    for side, reach in ((1, 1), (3, 2), (5, 3), (7, 4)):
        den = types.SimpleNamespace(config=ModelConfig(blind_square=side), source="m.safetensors")
        assert checks.model_info(den).reach == reach


def test_a_blind_square_model_trains_and_keeps_its_square_in_the_file(tmp_path):
    from medenoise.api import load_model
    from medenoise.train import run_training

    data = tmp_path / "clean"
    data.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((96, 96)) * 255).astype(np.uint8)).save(data / "a.png")
    cfg = TrainConfig(
        data=[str(data)], steps=2, batch_size=1, patch=64, rampup=0.0, rampdown=0.0,
        checkpoint_every=2, val_every=2, accelerator="cpu", val_images=0,
        model=ModelConfig(method="ssdn", width=8, noise="gaussian:25,kernel=box3",
                          blind_square=5),
    )  # fmt: skip
    path = run_training(cfg, tmp_path / "run", progress=False)
    den = load_model(path)
    assert den.config.blind_square == 5 and den.module.net.blind_square == 5
    x = torch.rand(1, 1, 64, 64, requires_grad=True)
    den.module.net(x)[0, :, 30, 30].sum().backward()
    assert torch.count_nonzero(x.grad[0, 0, 28:33, 28:33]) == 0
    assert torch.count_nonzero(x.grad[0, 0, 27, 28:33]) == 5
