"""Noise2Noise and Noise2Void: trained like every method (run_training → model file), N2N
matches N2C on the same data and budget, N2V beats the noisy input; round trips and resume."""

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from safetensors.torch import load_file
from skimage import data

from callbacks import StopAt
from medenoise.api import load_model
from medenoise.config import ModelConfig, TrainConfig
from medenoise.eval.metrics import psnr
from medenoise.methods import METHODS, build_method
from medenoise.methods.n2v_masking import DEFAULT_FRACTION, masked_mse, n2v_mask
from medenoise.modelfile import load_module, save_model
from medenoise.train import run_training

STEPS = 400  # ≈ 12 s per run on 2 cores at width 8, 64² patches


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """Train on the left half of the camera image; hold out a crop of the right half."""
    root = tmp_path_factory.mktemp("camera")
    cam = data.camera()
    PILImage.fromarray(cam[:, :256]).save(root / "left.png")
    test = cam[256:384, 320:448].astype(np.float64) / 255
    noisy = test + np.random.default_rng(0).normal(0, 25 / 255, test.shape)
    return root, test, noisy.astype(np.float32)


def train(root, method, outdir, resume=False, callbacks=None, **kw):
    model = ModelConfig(method=method, noise="gaussian:25", width=8)
    options = dict(steps=STEPS, batch_size=4, patch=64, lr=3e-3, seed=1, checkpoint_every=STEPS)
    cfg = TrainConfig(data=[str(root)], model=model, **(options | kw))
    return run_training(cfg, outdir, resume=resume, progress=False, callbacks=callbacks)


@pytest.fixture(scope="module")
def scores(camera, tmp_path_factory):
    root, test, noisy = camera
    out = tmp_path_factory.mktemp("runs")
    result = {"noisy": psnr(noisy, test)}
    for method in ("n2c", "n2n", "n2v"):
        path = train(root, method, out / method)
        result[method] = psnr(load_model(path).denoise(noisy), test)
    print(" ".join(f"{k} {v:.2f} dB" for k, v in result.items()))
    return result


@pytest.mark.slow
def test_n2n_on_synthetic_pairs_matches_n2c(scores):
    # both estimate E[x | y]: the same seed and budget land within a small margin
    assert abs(scores["n2n"] - scores["n2c"]) < 0.5, scores
    assert scores["n2c"] > scores["noisy"] + 5, scores
    assert scores["n2n"] > scores["noisy"] + 5, scores


@pytest.mark.slow
def test_n2v_improves_over_the_noisy_input(scores):
    assert scores["n2v"] > scores["noisy"] + 4, scores


def test_methods_are_registered():
    assert {"ssdn", "n2c", "n2n", "n2v"} <= set(METHODS)


@pytest.mark.parametrize("method", ["n2n", "n2v"])
@pytest.mark.parametrize("channels", [1, 3])
def test_model_file_round_trip(tmp_path, method, channels):
    torch.manual_seed(0)
    module = build_method(ModelConfig(method=method, channels=channels, width=8)).eval()
    path = save_model(module, tmp_path / "m.safetensors")
    loaded = load_module(path)
    assert loaded.model_config == module.model_config
    y = torch.rand(2, channels, 64, 32)
    with torch.no_grad():
        assert torch.equal(module.denoise(y), loaded.denoise(y))
    assert load_model(path).config.method == method


def test_n2n_draws_two_independent_noisy_copies():
    module = build_method(ModelConfig(method="n2n", noise="gaussian:25", width=8))
    clean = torch.full((2, 1, 32, 32), 0.5)
    batch = module.with_noise({"clean": clean})
    a, b = batch["noisy"] - clean, batch["target"] - clean
    assert abs(a.std().item() - 25 / 255) < 0.01 and abs(b.std().item() - 25 / 255) < 0.01
    assert abs(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()) < 0.1
    pairs = {"noisy": clean, "target": clean + 1}
    assert module.with_noise(pairs) is pairs  # real pairs pass through untouched


def test_n2v_loss_is_the_masked_mse_of_n2v_masking():
    module = build_method(ModelConfig(method="n2v", width=8))
    y = torch.rand(2, 1, 64, 64)
    state = module.noise_generator.get_state()
    loss, _ = module.training_loss({"noisy": y})
    gen = torch.Generator().set_state(state)  # replay the method's seeded draws
    masked, mask = n2v_mask(y, DEFAULT_FRACTION, generator=gen)
    assert mask.sum() == 2 * 64 * 64 // 64 and not torch.equal(masked, y)
    with torch.no_grad():
        assert torch.allclose(loss, masked_mse(module.net(masked), y, mask))
        assert not torch.allclose(loss, ((module.net(masked) - y) ** 2).mean())


@pytest.mark.parametrize("method", ["n2n", "n2v"])
def test_plain_methods_reject_options_they_cannot_use(method):
    model = ModelConfig(method=method, noise="gaussian:25", noise_param="global")
    with pytest.raises(ValueError, match="ssdn only"):
        TrainConfig(data=["x"], model=model)
    with pytest.raises(ValueError, match="zero-mean"):
        TrainConfig(data=["x"], model=ModelConfig(method=method, noise="impulse:0.2"))
    TrainConfig(data=["x"], model=ModelConfig(method=method, noise="gaussian:25"))


@pytest.mark.parametrize("method", ["n2n", "n2v"])
def test_resumed_run_matches_uninterrupted_run(tmp_path, camera, method):
    root = camera[0]
    kw = dict(steps=8, patch=32, batch_size=2, checkpoint_every=4)
    straight = train(root, method, tmp_path / "a", **kw)
    train(root, method, tmp_path / "b", callbacks=[StopAt(4)], **kw)
    resumed = train(root, method, tmp_path / "b", resume=True, **kw)
    wa, wb = load_file(str(straight)), load_file(str(resumed))
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
