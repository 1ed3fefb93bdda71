"""Training SSDN by SURE (`objective: sure`): the loss is the estimate of the posterior
mean's own error at the data's level, patches carry their plane's level, and `--adapt`
trains by it only when the data's level is given or measured per plane."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data as skdata

from medenoise.config import TrainConfig, validated
from medenoise.data.patches import PatchDataset
from medenoise.errors import UserError
from medenoise.noise.sure import posterior_and_gain, sure_risk, sure_training_loss
from tiny_models import make_tiny_model

SIGMA = 25 / 255


def _run(**over):
    raw = dict(data_kind="noisy", noise="gaussian:25", objective="sure", steps=2)
    return validated(TrainConfig, {**raw, **over}, "options")


def _with_run(module, **over):
    """`module` given a SURE training run's config, as the Trainer gives it."""
    module.train_config = _run(**over)
    return module


def _noisy_camera(seed=0, side=128):
    top, left = min(64, 512 - side), min(160, 512 - side)
    clean = skdata.camera()[top : top + side, left : left + side].astype(np.float32) / 255
    noise = np.random.default_rng(seed).normal(0, SIGMA, clean.shape).astype(np.float32)
    return clean, clean + noise


def test_sure_is_refused_where_it_cannot_score_the_output():
    assert _run().method_options.objective == "sure"
    for over, words in (
        ({"data_kind": "clean"}, "real noisy data"),
        ({"method": "n2v"}, "method ssdn"),
        ({"covariance": "mu"}, "method ssdn"),
        ({"noise": "rician:25"}, "no rician"),
        ({"clip": [0.0, 1.0]}, "clip"),
    ):
        with pytest.raises(UserError, match=words):
            _run(**over)


def test_patches_carry_the_level_of_the_plane_they_came_from():
    planes = [np.full((40, 40, 1), float(k), np.float32) for k in range(4)]
    levels = [(0.01 * (k + 1), -0.001 * k) for k in range(4)]
    ds = PatchDataset(planes, 32, 50, seed=3, key="noisy", levels=levels)
    drawn = set()
    for i in range(50):
        item = ds[i]
        k = int(item["noisy"][0, 0, 0])
        assert item["level"].tolist() == pytest.approx(levels[k])
        drawn.add(k)
    assert len(drawn) == 4
    assert "level" not in PatchDataset(planes, 32, 5, key="noisy")[0]
    with pytest.raises(ValueError, match="3 levels for 4 planes"):
        PatchDataset(planes, 32, 5, levels=levels[:3])


def test_the_loss_is_sure_at_the_datas_level_not_at_the_models():
    module = _with_run(
        make_tiny_model("ssdn", noise="gaussian:5-50", noise_param="per-image"),
        noise="gaussian:5-50",
        noise_param="per-image",
    )
    _, noisy = _noisy_camera()
    y = torch.from_numpy(noisy)[None, None]
    with torch.no_grad():
        x, gain, _ = posterior_and_gain(module, y)
        for level in (SIGMA, 2 * SIGMA):
            batch = {"noisy": y, "level": torch.tensor([[level]], dtype=torch.float64)}
            loss, logs = sure_training_loss(module, batch)
            want = sure_risk(x, y, torch.tensor(level**2, dtype=torch.float64), gain).mean()
            assert loss.item() == pytest.approx(want.item(), rel=1e-5)
        # no level given: a Gaussian level measured on the patch, close to the true one
        measured, _ = sure_training_loss(module, {"noisy": y})
        at_truth = sure_risk(x, y, torch.tensor(SIGMA**2, dtype=torch.float64), gain).mean()
        assert measured.item() == pytest.approx(at_truth.item(), abs=0.1 * SIGMA**2)
    pg = _with_run(
        make_tiny_model("ssdn", noise="pg", noise_param="global"), noise="pg", noise_param="global"
    )
    with pytest.raises(UserError, match="needs the data's pg level"):
        sure_training_loss(pg, {"noisy": y.clamp(0, 1)})


def _fit(module, y, steps, lr):
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(steps):
        loss, _ = module.training_loss({"noisy": y})
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_training_by_sure_lowers_the_true_error_with_no_clean_reference():
    """From a prior the likelihood taught, SURE steps lower the posterior mean's error against
    the clean image they never see, and the loss estimates that error. (A loss missing its
    divergence term would teach the identity, error σ²; a flipped one the prior mean.)"""
    clean, noisy = _noisy_camera()
    y = torch.from_numpy(noisy)[None, None]
    truth = torch.from_numpy(clean)[None, None].double()

    def error(module):
        with torch.no_grad():
            return float(((posterior_and_gain(module, y)[0] - truth) ** 2).mean()) / SIGMA**2

    torch.manual_seed(0)
    module = _with_run(make_tiny_model("ssdn"), objective="likelihood").train()
    _fit(module, y, 80, 3e-3)
    start = error(module)
    module.train_config = _run()
    _fit(module, y, 60, 1e-3)
    assert error(module) < start - 0.01, (start, error(module))
    with torch.no_grad():
        estimate = float(module.training_loss({"noisy": y})[0]) / SIGMA**2
    assert estimate == pytest.approx(error(module), abs=0.05)


def test_adapt_trains_by_sure_only_at_a_level_it_can_trust():
    """The user's level, or each plane's measured one for a learned global level; a
    per-image model told nothing keeps the likelihood (a measured σ 7 % high biases SURE)."""
    from medenoise.adaptation_level import sure_levels

    _, noisy = _noisy_camera()
    planes = [noisy[..., None], noisy[:64, :, None]]
    per_image = make_tiny_model("ssdn", noise="gaussian:5-50", noise_param="per-image")
    given = sure_levels(per_image, planes, "gaussian:25")
    assert given == [pytest.approx((SIGMA,))] * 2
    assert sure_levels(per_image, planes, None) is None
    assert sure_levels(per_image, planes, "poisson:30") is None  # not the model's kind
    assert sure_levels(make_tiny_model("ssdn"), planes, None) is None
    assert sure_levels(make_tiny_model("ssdn", covariance="mu"), planes, "gaussian:25") is None
    learned = make_tiny_model("ssdn", noise="gaussian", noise_param="global")
    big = [_noisy_camera(seed, side=384)[1][..., None] for seed in (1, 2)]  # enough to measure
    measured = sure_levels(learned, big, None)
    assert len(measured) == 2 and all(abs(v[0] - SIGMA) < 0.15 * SIGMA for v in measured)


@pytest.mark.parametrize("noise, objective", [("gaussian:25", "sure"), (None, "likelihood")])
def test_adapt_records_the_objective_it_trained_by(tmp_path, noise, objective):
    from medenoise.adaptation import adapt
    from medenoise.modelfile import save_model

    _, noisy = _noisy_camera()
    model = make_tiny_model("ssdn", noise="gaussian:5-50", noise_param="per-image")
    path = save_model(model, tmp_path / "m.st")
    tuned = adapt(str(path), [noisy], 2, noise=noise)
    run = tuned.module.train_config
    assert run.method_options.objective == objective
    assert run.optim.lr == (3e-5 if objective == "sure" else 1e-4)


def test_adapt_refuses_a_level_whose_held_out_sure_is_negative(tmp_path, capsys):
    """A squared error cannot be negative: told 4× the noise there is, the adaptation says
    so and leaves the weights as they were, rather than learn to smooth."""
    from medenoise.adaptation import adapt
    from medenoise.modelfile import save_model

    _, noisy = _noisy_camera(side=256)
    torch.manual_seed(0)  # a prior the likelihood taught, so the posterior shrinks
    model = _with_run(make_tiny_model("ssdn"), objective="likelihood").train()
    _fit(model, torch.from_numpy(noisy[:128, :128])[None, None], 60, 3e-3)
    path = save_model(model.eval(), tmp_path / "m.st")
    tuned = adapt(str(path), [noisy], 2, noise="gaussian:100")
    assert "not adapted: noise level above the data's" in tuned.source
    assert "held-out SURE risk is negative" in capsys.readouterr().err
    before = model.state_dict()
    after = tuned.module.state_dict()
    assert all(torch.equal(before[k], after[k].to(before[k].dtype)) for k in before)
    kept = adapt(str(path), [noisy], 2, noise="gaussian:25")  # the true level: it trains
    assert "not adapted" not in kept.source


def test_adapt_keeps_the_likelihood_for_a_model_sure_cannot_score(tmp_path):
    """Given a level, a clipped-data model (its posterior is not the plain Gaussian one SURE
    scores) still adapts, by the likelihood, rather than failing on the objective."""
    from medenoise.adaptation import adapt
    from medenoise.modelfile import save_model

    _, noisy = _noisy_camera()
    path = save_model(make_tiny_model("ssdn", clip=(0.0, 1.0)), tmp_path / "m.st")
    tuned = adapt(str(path), [noisy.clip(0, 1)], 2, noise="gaussian:25")
    assert tuned.module.train_config.method_options.objective == "likelihood"


class _CopyingHead(torch.nn.Module):
    """A network head whose prior mean is 0 with a huge spread: the posterior copies y."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, y):
        return torch.cat([torch.zeros_like(y), torch.full_like(y, 10.0)], dim=1)


def test_sure_takes_the_variance_at_the_data_so_a_model_cannot_zero_it():
    # Poisson-Gaussian with a pedestal (b < 0): the variance a·x + b clamps to ~0 below
    # x = −b/a. A model whose prior mean sits there (and so copies its input) must still be
    # charged the noise it keeps: SURE of an output equal to y is σ²(y), not ~0.
    from medenoise.adaptation_sure import sure_measure

    a, b = 0.05, -0.004
    module = make_tiny_model("ssdn", noise=f"pg:a={a},b={b}", noise_param="known")
    module.net = _CopyingHead()
    rng = np.random.default_rng(0)
    x = np.full((64, 64), 0.3)
    y = (x + rng.normal(0, np.sqrt(a * x + b))).astype(np.float32)
    noisy = torch.from_numpy(y)[None, None]
    with torch.no_grad():
        out, gain, _ = posterior_and_gain(module, noisy)
        loss, _ = sure_training_loss(_with_run(module, noise=f"pg:a={a},b={b}"), {"noisy": noisy})
    assert torch.allclose(out.float(), noisy, atol=1e-4) and float(gain.min()) > 0.999
    assert float(loss) == pytest.approx(a * 0.3 + b, rel=0.1)
    held_out = sure_measure(module, [(a, b)])(module, [y[..., None]])
    assert held_out[0] == pytest.approx(a * 0.3 + b, rel=0.1)


def test_a_model_that_runs_at_measured_levels_is_left_unadapted(tmp_path, capsys):
    """A per-image model shipped to run at each plane's measured level keeps its weights:
    adapting it by the likelihood at its own estimate has no measure that tells gain from loss."""
    from medenoise.adaptation import adapt
    from medenoise.modelfile import save_model

    _, noisy = _noisy_camera()
    model = make_tiny_model("ssdn", noise="pg", noise_param="per-image")
    model.model_config = model.model_config.model_copy(update={"default_level": "measured"})
    path = save_model(model, tmp_path / "m.st")
    tuned = adapt(str(path), [noisy], 2)
    assert "not adapted: runs at the measured levels" in tuned.source
    assert "not adapting" in capsys.readouterr().err
    before, after = model.state_dict(), tuned.module.state_dict()
    assert all(torch.equal(before[k], after[k].to(before[k].dtype)) for k in before)
    assert tuned.config.default_level == "measured"  # and it still runs at the measured levels
