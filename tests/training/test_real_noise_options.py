"""SSDN options for real noisy data: cut-off values leave the likelihood, the learned level
stops training after a set step."""

from __future__ import annotations

import pytest
import torch

from medenoise.config import ModelConfig, TrainConfig
from medenoise.methods import build_method
from medenoise.noise.likelihood import (
    negative_log_likelihood,
    paper_loss,
    prior_from_head,
    unclipped_weight,
)


def _ssdn(**options):
    torch.manual_seed(0)
    model = ModelConfig(method="ssdn", width=8, noise="gaussian", noise_param="global")
    train = TrainConfig(data=["x"], data_kind="noisy", model=model, **options)
    return build_method(model, train)


def _clipped_batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    y = 0.3 + 0.05 * torch.randn(2, 1, 32, 32, generator=g)
    y[:, :, :12, :] = 0.0  # air recorded at the range's floor
    y[1, :, 20, 20] = 1.0  # one saturated pixel
    return y


def test_unclipped_weight_drops_cut_off_pixels_and_their_neighbours():
    w = unclipped_weight(_clipped_batch())
    assert w.shape == (2, 32, 32)
    assert (w[:, :13] == 0).all()  # the floor rows and the row beside them
    assert (w[:, 13:] == 1).sum() == 2 * 19 * 32 - 9  # all else but the saturated 3×3
    assert (w[1, 19:22, 19:22] == 0).all() and w[0, 20, 20] == 1


def test_ignore_clipped_averages_the_likelihood_over_uncut_pixels_only():
    y = _clipped_batch()
    m = _ssdn(ignore_clipped=True)
    loss, _ = m.training_loss({"noisy": y})
    prior = prior_from_head(m.net(y), 1, "full")
    var_n = m.noise.variance(prior.mu, m.noise_param(y))
    nll = paper_loss(negative_log_likelihood(y, prior, var_n), 1)
    keep = unclipped_weight(y)
    expected = (nll * keep).sum() / keep.sum() - m.noise.regulariser(var_n)
    torch.testing.assert_close(loss, expected.float(), rtol=1e-5, atol=1e-5)
    plain, _ = _ssdn().training_loss({"noisy": y})
    assert abs(plain.item() - loss.item()) > 0.1  # the floor's zero spread counts otherwise


@pytest.mark.parametrize(("after", "step", "trains"), [(0, 50, True), (10, 9, True),
                                                       (10, 10, False)])  # fmt: skip
def test_freeze_level_after_stops_the_level_not_the_network(monkeypatch, after, step, trains):
    m = _ssdn(freeze_level_after=after)
    monkeypatch.setattr(type(m), "global_step", property(lambda self: step))
    loss, _ = m.training_loss({"noisy": _clipped_batch()})
    loss.backward()
    level = [p.grad for p in m.noise_param.parameters()]
    assert level and all(p.grad is not None for p in m.net.parameters())
    assert all(g is not None and g.abs().sum() > 0 for g in level) == trains


def test_haar_level_reads_white_noise_std_over_smooth_signal_and_skips_cut_values():
    from medenoise.noise.measured_level import haar_level

    g = torch.Generator().manual_seed(2)
    ramp = torch.linspace(0.2, 0.8, 64).expand(64, 64)
    y = (ramp + 0.04 * torch.randn(3, 1, 64, 64, generator=g)).clamp(0, 1)
    y[1, :, :40] = 0.0  # most of it cut off at the floor: measured on the rest
    y[2, :, :62] = 0.0  # too little left to measure
    level = haar_level(y)
    assert level.shape == (3, 1) and level.dtype == torch.float64
    assert abs(level[0, 0].item() - 0.04) < 0.004 and abs(level[1, 0].item() - 0.04) < 0.006
    assert level[2].isnan().all()


def test_level_from_measurement_trains_the_prior_with_the_measured_level():
    from medenoise.noise.measured_level import haar_level

    model = ModelConfig(method="ssdn", width=8, noise="gaussian", noise_param="per-image")
    train = TrainConfig(data=["x"], data_kind="noisy", model=model, level_from_measurement=True)
    torch.manual_seed(0)
    m = build_method(model, train)
    g = torch.Generator().manual_seed(3)
    sigma = torch.tensor([0.02, 0.08]).view(2, 1, 1, 1)
    y = 0.4 + sigma * torch.randn(2, 1, 32, 32, generator=g)
    loss, logs = m.training_loss({"noisy": y})
    measured = haar_level(y)
    prior = prior_from_head(m.net(y), 1, "full")
    nll = paper_loss(negative_log_likelihood(y, prior, m.noise.variance(prior.mu, measured)), 1)
    err = (m.noise_param(y).log() - measured.log()) ** 2
    torch.testing.assert_close(loss, (nll.mean() + err.mean()).float(), rtol=1e-5, atol=1e-5)
    assert logs["level_log_error"] > 0
    with pytest.raises(ValueError, match="per-image Gaussian"):
        pg = ModelConfig(method="ssdn", noise="pg", noise_param="per-image")
        TrainConfig(data=["x"], data_kind="noisy", level_from_measurement=True, model=pg)
