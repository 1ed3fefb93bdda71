"""TrainConfig.balance_noise_levels: SSDN's NLL weighted by σ_y over a level range."""

import torch

from medenoise.config import ModelConfig, TrainConfig
from medenoise.methods import build_method
from medenoise.noise.likelihood import (
    BALANCE_REF_STD,
    Prior,
    level_balance_weight,
    negative_log_likelihood,
    paper_loss,
    prior_from_head,
)


def _ssdn(balance: bool, channels: int = 1):
    torch.manual_seed(0)
    model = ModelConfig(
        method="ssdn", width=8, channels=channels, noise="gaussian:5-50", noise_param="per-image"
    )
    train = TrainConfig(
        data=["x"], model=model, level_from_synthesis=True, balance_noise_levels=balance
    )
    return build_method(model, train)


def test_weight_is_the_total_std_over_the_reference():
    mu = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    var_x = torch.full_like(mu, 0.03**2)
    var_n = torch.full_like(mu, 0.04**2)
    w = level_balance_weight(Prior(mu, var_x, diagonal=True), var_n)
    assert w.shape == (1, 2, 2)
    assert torch.allclose(w, torch.full_like(w, 0.05 / BALANCE_REF_STD))


def test_rgb_weight_uses_the_mean_channel_variance():
    m = _ssdn(True, channels=3)
    out = m.net(torch.rand(1, 3, 32, 32))
    prior = prior_from_head(out, 3, "full")
    var_n = torch.full_like(prior.mu, 0.1**2)
    w = level_balance_weight(prior, var_n)
    diag = torch.diagonal(prior.cov, dim1=-2, dim2=-1).mean(-1)
    assert torch.allclose(w, (diag + 0.01).sqrt() / BALANCE_REF_STD)
    assert not w.requires_grad


def test_balanced_loss_is_the_weighted_nll_plus_the_level_error():
    m = _ssdn(True)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 1, 32, 32, generator=g)
    true = torch.tensor([[0.02], [0.2]], dtype=torch.float64)
    loss, _ = m.training_loss({"noisy": y, "params": true})
    prior = prior_from_head(m.net(y), 1, "full")
    var_n = m.noise.variance(prior.mu, true)
    nll = paper_loss(negative_log_likelihood(y, prior, var_n), 1)
    est = m.noise_param(y)
    expected = (nll * level_balance_weight(prior, var_n)).mean()
    expected = expected + ((est.log() - true.log()) ** 2).mean()
    assert torch.allclose(loss, expected.float(), rtol=1e-5)


def _mu_grad_ratio(balance: bool) -> float:
    """|∂loss/∂μ| of a σ = 0.2 patch over a σ = 0.02 patch, same prior, same residual/σ_y."""
    mu = torch.zeros(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    var_x = torch.full((2, 1, 8, 8), 0.01**2, dtype=torch.float64)
    std_n = torch.tensor([0.02, 0.2], dtype=torch.float64).view(2, 1, 1, 1)
    var_n = (std_n**2).expand(2, 1, 8, 8)
    y = (var_x + var_n).sqrt() * 0.5  # the same residual in units of σ_y
    prior = Prior(mu, var_x, diagonal=True)
    loss = paper_loss(negative_log_likelihood(y, prior, var_n), 1)
    if balance:
        loss = loss * level_balance_weight(prior, var_n)
    loss.sum().backward()
    g = mu.grad.abs().flatten(1).mean(1)
    return (g[1] / g[0]).item()


def test_balancing_evens_out_the_prior_gradient_across_levels():
    plain, balanced = _mu_grad_ratio(False), _mu_grad_ratio(True)
    assert plain < 0.15  # unweighted, the noisy patch pulls ~1/9 as hard
    assert abs(balanced - 1.0) < 1e-9


def test_balancing_leaves_the_per_pixel_optimum_in_place():
    """Fit one constant prior (μ, σ_x) to samples of N(0.3, 0.05² + σ_n²): weighted or not,
    it converges to the sample mean and the excess variance."""
    g = torch.Generator().manual_seed(3)
    var_n = torch.full((1, 1, 64, 64), 0.1**2, dtype=torch.float64)
    noise = torch.randn(1, 1, 64, 64, generator=g, dtype=torch.float64)
    y = 0.3 + (0.05**2 + 0.1**2) ** 0.5 * noise
    fits = []
    for balance in (False, True):
        mu = torch.zeros((), dtype=torch.float64, requires_grad=True)
        a = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([mu, a], lr=0.01)
        for _ in range(1500):
            opt.zero_grad()
            prior = Prior(mu.expand_as(y), (a**2).expand_as(y), diagonal=True)
            loss = paper_loss(negative_log_likelihood(y, prior, var_n), 1)
            if balance:
                loss = loss * level_balance_weight(prior, var_n)
            loss.mean().backward()
            opt.step()
        fits.append((mu.item(), a.abs().item()))
    excess = max(y.var().item() - 0.1**2, 0.0) ** 0.5
    for mu_fit, a_fit in fits:
        assert abs(mu_fit - y.mean().item()) < 1e-3
        assert abs(a_fit - excess) < 2e-3
