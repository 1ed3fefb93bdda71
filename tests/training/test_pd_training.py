"""Blind-spot training on pixel-shuffle sub-images (`pd_stride`): batches, config, round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from medenoise.config import ModelConfig, TrainConfig
from medenoise.methods.training import pd_split_batch


def _lag1(x: torch.Tensor) -> float:
    """Mean lag-1 correlation of (N, C, H, W) noise along rows and columns."""
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    var = (x * x).mean()
    rows = (x[..., 1:, :] * x[..., :-1, :]).mean() / var
    cols = (x[..., :, 1:] * x[..., :, :-1]).mean() / var
    return float((rows + cols) / 2)


def test_the_split_batch_holds_every_kth_pixel_and_repeats_per_image_values():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    params = torch.tensor([[0.1], [0.2]])
    out = pd_split_batch({"noisy": x, "params": params}, 3)
    assert out["noisy"].shape == (18, 1, 2, 2)
    for n in range(2):
        for i in range(3):
            for j in range(3):
                assert torch.equal(out["noisy"][n * 9 + i * 3 + j], x[n, :, i::3, j::3])
    assert torch.equal(out["params"], torch.tensor([[0.1]] * 9 + [[0.2]] * 9))
    assert pd_split_batch({"noisy": x}, 1)["noisy"] is x


def test_box3_noise_is_white_in_its_stride_3_sub_images():
    from medenoise.noise import make_noise_model

    noise = make_noise_model("gaussian:25,kernel=box3")
    clean = torch.zeros(4, 1, 192, 192)
    y, _ = noise.sample(clean, torch.Generator().manual_seed(0))
    assert _lag1(y) == pytest.approx(2 / 3, abs=0.03)  # box3: lag 1 shares 2 of 3 columns
    sub = pd_split_batch({"noisy": y}, 3)["noisy"]
    assert abs(_lag1(sub)) < 0.03
    # the per-pixel level is kept
    assert float(sub.std()) == pytest.approx(float(y.std()), rel=0.02)
    assert abs(_lag1(pd_split_batch({"noisy": y}, 2)["noisy"])) > 0.25  # lag 2 is still 1/3


def test_pd_stride_lifts_the_blind_spot_refusal_for_blind_spot_methods_only():
    correlated = dict(noise="gaussian:25,kernel=box3", width=8)
    with pytest.raises(ValueError, match="spatially correlated"):
        TrainConfig(model=ModelConfig(method="ssdn", **correlated))
    ok = TrainConfig(model=ModelConfig(method="ssdn", pd_stride=3, **correlated))
    assert ok.model.pd_stride == 3
    with pytest.raises(ValueError, match="blind-spot methods"):
        TrainConfig(model=ModelConfig(method="n2c", pd_stride=2, width=8))


def test_a_pd_model_trains_on_sub_images_and_denoises_through_them(tmp_path, monkeypatch):
    from medenoise.api import load_model
    from medenoise.correlated import PixelShuffleDenoiser, with_pd
    from medenoise.methods.ssdn import SSDN
    from medenoise.train import run_training

    data = tmp_path / "clean"
    data.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((96, 96)) * 255).astype(np.uint8)).save(data / "a.png")
    seen = []
    original = SSDN.training_loss

    def recording(self, batch):
        seen.append(tuple(batch["noisy"].shape))
        return original(self, batch)

    monkeypatch.setattr(SSDN, "training_loss", recording)
    cfg = TrainConfig(
        data=[str(data)], steps=2, batch_size=1, patch=32, rampup=0.0, rampdown=0.0,
        checkpoint_every=2, val_every=2, accelerator="cpu", val=[str(data)], val_crop=96,
        model=ModelConfig(method="ssdn", width=8, noise="gaussian:25,kernel=box3", pd_stride=2),
    )  # fmt: skip
    path = run_training(cfg, tmp_path / "run", progress=False)
    # validated through sub-images too: 96² crops give 48² ones, padded to the U-Net's 64²
    assert "val/psnr" in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]
    assert seen and all(shape == (4, 1, 32, 32) for shape in seen)  # 64² crops → 4 × 32²
    den = load_model(path)
    assert isinstance(den, PixelShuffleDenoiser) and den.stride == 2
    noisy = (rng.random((64, 64)) * 255).astype(np.uint8)
    by_hand = PixelShuffleDenoiser(den.inner, 2).denoise(noisy)
    assert np.array_equal(den.denoise(noisy), by_hand)
    assert not np.array_equal(den.inner.denoise(noisy), by_hand)
    restrided = with_pd(den, "3")  # --pd K replaces the model's own stride, not stacks on it
    assert restrided.inner is den.inner and restrided.stride == 3
