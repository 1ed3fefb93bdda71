"""`train --init` across noise-level modes: a known-σ model warm-starts a per-image model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medenoise.config import ModelConfig
from medenoise.errors import UserError
from medenoise.methods import build_method
from medenoise.modelfile import save_model
from medenoise.train import init_weights
from tiny_models import make_tiny_model


def _saved(tmp_path, **kw):
    module = make_tiny_model("ssdn", **kw)
    with torch.no_grad():  # unlike any fresh net, so loaded weights are recognisable
        for p in module.parameters():
            p.add_(0.25)
    return module, save_model(module, tmp_path / "init.safetensors")


def test_a_known_sigma_model_warm_starts_a_per_image_model_network_only(tmp_path, capsys):
    source, path = _saved(tmp_path, noise="gaussian:25", noise_param="known")
    torch.manual_seed(1)
    run = build_method(
        ModelConfig(method="ssdn", width=8, noise="gaussian:5-50", noise_param="per-image")
    )
    fresh_estimator = {
        k: v.clone() for k, v in run.state_dict().items() if k.startswith("noise_param.")
    }
    assert fresh_estimator  # the per-image model has an estimator to keep fresh
    init_weights(run, str(path))
    theirs, ours = source.state_dict(), run.state_dict()
    net_keys = [k for k in theirs if k.startswith("net.")]
    assert net_keys and all(torch.equal(ours[k], theirs[k].to(ours[k].dtype)) for k in net_keys)
    for k, v in fresh_estimator.items():  # zero-initialised head stays zero: θ = 0 at start
        assert torch.equal(ours[k], v)
    assert "fresh: noise_param" in capsys.readouterr().err


def test_a_per_image_model_continues_with_its_estimator(tmp_path):
    source, path = _saved(tmp_path, noise="gaussian:5-50", noise_param="per-image")
    run = build_method(
        ModelConfig(method="ssdn", width=8, noise="gaussian:5-50", noise_param="per-image")
    )
    init_weights(run, str(path))
    for k, v in source.state_dict().items():
        assert torch.equal(run.state_dict()[k], v), k


@pytest.mark.parametrize("change", [{"width": 4}, {"covariance": "diag"}, {"method": "n2c"}])
def test_a_different_network_is_refused_with_the_file_named(tmp_path, change):
    _, path = _saved(tmp_path, noise="gaussian:25")
    cfg = dict(method="ssdn", width=8, noise="gaussian:25") | change
    with pytest.raises(UserError) as err:
        init_weights(build_method(ModelConfig(**cfg)), str(path))
    assert str(path) in str(err.value)
    assert next(iter(change)) in str(err.value)


@pytest.mark.parametrize("freeze", [0, 2])
def test_freeze_net_steps_trains_only_the_level_estimator_first(tmp_path, freeze):
    from PIL import Image

    from medenoise.config import TrainConfig
    from medenoise.modelfile import load_module
    from medenoise.train import run_training

    source, path = _saved(tmp_path, noise="gaussian:25", noise_param="known")
    data = tmp_path / "clean"
    data.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(data / "a.png")
    cfg = TrainConfig(
        data=[str(data)],
        init=str(path),
        steps=2,
        batch_size=1,
        patch=32,
        lr=1e-2,
        rampup=0.0,
        rampdown=0.0,
        checkpoint_every=2,
        val_every=2,
        accelerator="cpu",
        freeze_net_steps=freeze,
        model=ModelConfig(method="ssdn", width=8, noise="gaussian:5-50", noise_param="per-image"),
    )
    tuned = load_module(run_training(cfg, tmp_path / "run", progress=False)).state_dict()
    start = source.state_dict()
    net_moved = any(not torch.equal(tuned[k], start[k]) for k in start if k.startswith("net."))
    head = "noise_param.estimator.net.head.2.conv.weight"
    assert head in tuned and tuned[head].abs().max() > 0  # the estimator trained either way
    assert net_moved == (freeze == 0)


def _per_image(level_from_synthesis: bool):
    from medenoise.config import TrainConfig

    torch.manual_seed(0)
    model = ModelConfig(method="ssdn", width=8, noise="gaussian:5-50", noise_param="per-image")
    train = TrainConfig(data=["x"], model=model, level_from_synthesis=level_from_synthesis)
    return build_method(model, train)


def test_level_from_synthesis_trains_the_prior_with_the_true_level():
    from medenoise.noise.likelihood import negative_log_likelihood, paper_loss, prior_from_head

    m = _per_image(True)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 1, 32, 32, generator=g)
    true = torch.tensor([[0.05], [0.15]], dtype=torch.float64)
    loss, logs = m.training_loss({"noisy": y, "params": true})
    est = m.noise_param(y)
    prior = prior_from_head(m.net(y), 1, "full")
    nll = paper_loss(negative_log_likelihood(y, prior, m.noise.variance(prior.mu, true)), 1)
    expected = nll.mean() + ((est.log() - true.log()) ** 2).mean()
    assert torch.allclose(loss, expected.float(), rtol=1e-5)
    assert logs["level_log_error"] > 0
    # the prior's gradient does not depend on the estimate: only the log error reaches it
    loss.backward()
    est_head = m.noise_param.estimator.net.head[-1].conv.bias.grad
    assert est_head is not None and est_head.abs().sum() > 0


def test_level_from_synthesis_teaches_the_estimator_the_level_and_likelihood_does_not():
    """A few steps on one batch: supervised, σ̂ reaches the true 0.12 (θ = 0 starts at 0.019);
    the paper's joint likelihood leaves it far off in the same steps (the prior absorbs it)."""
    finals = {}
    for supervised in (True, False):
        m = _per_image(supervised)
        opt = torch.optim.Adam(m.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(1)
        clean = torch.rand(4, 1, 32, 32, generator=g) * 0.5 + 0.25
        true = torch.full((4, 1), 0.12, dtype=torch.float64)
        y = clean + 0.12 * torch.randn(clean.shape, generator=g)
        for _ in range(60):
            opt.zero_grad()
            m.training_loss({"noisy": y, "params": true})[0].backward()
            opt.step()
        finals[supervised] = m.noise_param(y).mean().item()
    assert abs(finals[True] - 0.12) < 0.02, finals
    assert abs(finals[False] - 0.12) > 0.03, finals


def test_a_learned_global_level_gets_its_own_rate_when_given(tmp_path):
    from medenoise.config import TrainConfig
    from medenoise.methods.training import as_trainable

    def groups(**optim):
        module = as_trainable(
            build_method(ModelConfig(method="ssdn", width=8, noise_param="global"))
        )
        module.train_config = TrainConfig(
            model={"method": "ssdn", "width": 8, "noise_param": "global"},
            dataset={"data": [str(tmp_path)]},
            optim={"steps": 10, "lr": 1e-4, **optim},
        )
        opt = module.configure_optimizers()["optimizer"]
        return [(g["initial_lr"], sum(p.numel() for p in g["params"])) for g in opt.param_groups]

    total = sum(p.numel() for p in build_method(ModelConfig(width=8)).parameters()) + 1
    assert groups() == [(1e-4, total)]  # one rate for all, as before
    assert groups(level_lr=0.01) == [(1e-4, total - 1), (0.01, 1)]  # θ alone at its rate


def test_a_fresh_global_level_starts_at_the_level_measured_on_the_training_data():
    from medenoise.adaptation_level import start_at_training_level

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    planes = [
        (0.5 + 0.3 * np.sin(xx / (5 + k)) * np.cos(yy / 7))[..., None].astype(np.float32)
        for k in range(3)
    ]
    module = build_method(
        ModelConfig(method="ssdn", width=8, noise="gaussian:30", noise_param="global")
    )
    said = start_at_training_level(module, planes, "clean", seed=0)
    sigma = float(module.noise.map_learned(module.noise_param.theta.detach()[None].double())[0, 0])
    assert said and abs(sigma * 255 - 30) < 2  # fresh: σ = softplus(−4) + 1e-3 ≈ 5/255
    noisy = [p + rng.normal(0, 10 / 255, p.shape).astype(np.float32) for p in planes]
    assert start_at_training_level(module, noisy, "noisy", seed=0) is None  # θ set: kept
    known = build_method(ModelConfig(method="ssdn", width=8, noise="gaussian:30"))
    assert start_at_training_level(known, planes, "clean", seed=0) is None
