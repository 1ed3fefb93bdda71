"""Noise synthesis statistics, seeding, no clipping, and spec parsing."""

import math

import pytest
import torch

from medenoise.errors import UserError
from medenoise.noise import make_noise_model, parse_noise_spec


def flat(value, n=4, size=256):
    return torch.full((n, 1, size, size), value)


def draw(spec, x, seed=0):
    return make_noise_model(spec).sample(x, torch.Generator().manual_seed(seed))


def test_gaussian_has_the_right_sigma_and_is_not_clipped():
    y, params = draw("gaussian:25", flat(0.02))
    assert params[0, 0].item() == pytest.approx(25 / 255)
    assert (y - 0.02).std().item() == pytest.approx(25 / 255, rel=0.01)
    assert abs((y - 0.02).mean().item()) < 1e-3
    assert y.min() < 0, "negative values must survive (no clipping)"
    y, _ = draw("gaussian:25", flat(0.98))
    assert y.max() > 1


@pytest.mark.parametrize("lam,x", [(30.0, 0.5), (5.0, 0.2), (50.0, 0.9)])
def test_poisson_mean_is_x_and_variance_x_over_lambda(lam, x):
    y, params = draw(f"poisson:{lam:g}", flat(x))
    assert params[0, 0].item() == pytest.approx(1 / lam)
    assert y.mean().item() == pytest.approx(x, rel=0.01)
    assert y.var().item() == pytest.approx(x / lam, rel=0.02)
    # values live on the lattice k/λ (Poisson(λx)/λ, not λx + Poisson(1))
    k = y * lam
    assert torch.allclose(k, k.round(), atol=1e-3)


def test_poisson_of_zero_is_zero():
    y, _ = draw("poisson:30", flat(0.0, n=1, size=32))
    assert torch.count_nonzero(y) == 0


@pytest.mark.parametrize("a,b", [(0.01, 0.0004), (0.02, -0.0005), (0.0, 0.001)])
def test_poisson_gaussian_moments(a, b):
    x = 0.4
    y, _ = draw(f"pg:a={a},b={b}", flat(x))
    assert y.mean().item() == pytest.approx(x, abs=2e-3)
    assert y.var().item() == pytest.approx(a * x + b, rel=0.03)


def test_ranges_draw_per_image_levels_in_range():
    y, params = draw("gaussian:5-50", flat(0.5, n=64, size=64))
    sig = params[:, 0] * 255
    assert sig.min() >= 5 and sig.max() <= 50 and sig.std() > 5
    per_image_std = (y - 0.5).std(dim=(1, 2, 3)) * 255
    assert torch.allclose(per_image_std, sig.float(), rtol=0.05)


def test_same_seed_same_noise_other_seed_other_noise():
    x = torch.rand(2, 1, 32, 32)
    for spec in ("gaussian:25", "poisson:5-50", "pg:a=0.01,b=0.001", "rician:20", "impulse:0.3"):
        a, _ = draw(spec, x, seed=7)
        b, _ = draw(spec, x, seed=7)
        c, _ = draw(spec, x, seed=8)
        assert torch.equal(a, b), spec
        assert not torch.equal(a, c), spec


def test_rician_is_biased_at_zero_and_gaussian_at_high_snr():
    s = 20 / 255
    y0, _ = draw("rician:20", flat(0.0))
    assert y0.mean().item() == pytest.approx(s * math.sqrt(math.pi / 2), rel=0.01)
    y1, _ = draw("rician:20", flat(0.9))
    assert y1.mean().item() == pytest.approx(0.9, abs=0.01)
    assert y1.std().item() == pytest.approx(s, rel=0.03)


def test_spec_parsing_round_trips_and_rejects_nonsense():
    assert str(parse_noise_spec("gaussian:25")) == "gaussian:25"
    assert str(parse_noise_spec("Poisson:5-50")) == "poisson:5-50"
    assert parse_noise_spec("pg:a=0.016,b=-0.0002").ranges == {
        "a": (0.016, 0.016),
        "b": (-0.0002, -0.0002),
    }
    assert not parse_noise_spec("gaussian").has_level
    # numbers as Python prints them: the inspector's fitted b of a clean camera plane is tiny
    tiny = parse_noise_spec("pg:a=1.5e-3,b=-9.52e-05")
    assert tiny.ranges == {"a": (0.0015, 0.0015), "b": (-9.52e-05, -9.52e-05)}
    assert parse_noise_spec(str(tiny)).ranges == tiny.ranges
    assert parse_noise_spec("pg:a=1e-3-2e-2,b=-1e-4-0").ranges == {
        "a": (0.001, 0.02),
        "b": (-0.0001, 0.0),
    }
    for bad in (
        "gaussian:5-",
        "gaussian:1e",
        "gaussian:5--",
        "laplace:3",
        "gaussian:abc",
        "gaussian:50-5",
        "gaussian:-3",
        "pg:a=0.1",
        "poisson:sigma=3",
        "impulse:2",
        "gaussian:nan",
    ):
        with pytest.raises(UserError):
            parse_noise_spec(bad)


def test_synthesis_without_a_level_is_a_user_error():
    with pytest.raises(UserError, match="no level"):
        draw("gaussian", flat(0.5, n=1, size=32))
