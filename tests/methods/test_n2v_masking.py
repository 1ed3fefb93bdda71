"""Tests for Noise2Void masking: blind-spot replacement, density, determinism, masked loss."""

import pytest
import torch

from medenoise.methods.n2v_masking import (
    DEFAULT_FRACTION,
    grid_cell,
    masked_mse,
    n2v_mask,
)


def _unique_batch(n=3, c=2, h=37, w=45):
    return torch.arange(n * c * h * w, dtype=torch.float64).reshape(n, c, h, w)


@pytest.mark.parametrize("window", [3, 5, 7])
@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5])
def test_replacement_is_a_true_neighbour(window, fraction):
    y = _unique_batch()
    g = torch.Generator().manual_seed(0)
    masked, mask = n2v_mask(y, fraction=fraction, window=window, generator=g)
    assert mask.shape == (3, 1, 37, 45) and mask.dtype == torch.bool
    r = window // 2
    n_idx, _, rows, cols = torch.nonzero(mask, as_tuple=True)
    assert rows.numel() > 0
    for n, i, j in zip(n_idx.tolist(), rows.tolist(), cols.tolist(), strict=True):
        new = masked[n, :, i, j]
        assert torch.all(new != y[n, :, i, j])
        # unique values -> locate the source pixel from channel 0 and check all channels agree
        src = torch.nonzero(y[n, 0] == new[0])
        assert src.shape[0] == 1
        si, sj = src[0].tolist()
        assert max(abs(si - i), abs(sj - j)) <= r
        assert (si, sj) != (i, j)
        assert torch.equal(new, y[n, :, si, sj])


def test_borders_with_fraction_one_never_self():
    # every pixel masked: exercises all border positions, including corners
    y = _unique_batch(n=4, c=1, h=9, w=9)
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        masked, mask = n2v_mask(y, fraction=1.0, window=5, generator=g)
        assert mask.all()
        assert torch.all(masked != y)


def test_tiny_image_never_self():
    y = _unique_batch(n=2, c=1, h=1, w=3)
    g = torch.Generator().manual_seed(0)
    masked, mask = n2v_mask(y, fraction=1.0, window=5, generator=g)
    assert torch.all(masked[mask.expand_as(y)] != y[mask.expand_as(y)])


@pytest.mark.parametrize("fraction", [0.002, DEFAULT_FRACTION, 0.02])
def test_fraction_close_to_requested(fraction):
    y = torch.zeros(8, 1, 256, 256)
    g = torch.Generator().manual_seed(1)
    _, mask = n2v_mask(y, fraction=fraction, generator=g)
    got = mask.float().mean().item()
    assert got == pytest.approx(fraction, rel=0.15)
    assert got == pytest.approx(1.0 / grid_cell(fraction) ** 2, rel=0.02)


def test_default_fraction_is_one_per_8x8_cell():
    assert grid_cell(DEFAULT_FRACTION) == 8
    _, mask = n2v_mask(torch.zeros(2, 3, 64, 64), generator=torch.Generator().manual_seed(0))
    assert mask.sum().item() == 2 * 64


def test_unmasked_pixels_unchanged():
    y = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    masked, mask = n2v_mask(y, fraction=0.05, generator=torch.Generator().manual_seed(4))
    keep = ~mask.expand_as(y)
    assert torch.equal(masked[keep], y[keep])
    assert not torch.equal(masked, y)


def test_seeded_generator_is_deterministic():
    y = torch.randn(2, 1, 40, 40)
    a = n2v_mask(y, generator=torch.Generator().manual_seed(7))
    b = n2v_mask(y, generator=torch.Generator().manual_seed(7))
    c = n2v_mask(y, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_masked_mse_ignores_unmasked_pixels():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, 3, 16, 16, generator=g)
    pred = torch.randn(2, 3, 16, 16, generator=g)
    _, mask = n2v_mask(target, fraction=0.1, generator=g)
    loss = masked_mse(pred, target, mask)
    m = mask.expand_as(pred)
    assert loss.item() == pytest.approx(((pred - target)[m] ** 2).mean().item())
    pred2 = pred.clone()
    pred2[~m] = 1e6
    assert masked_mse(pred2, target, mask).item() == pytest.approx(loss.item())


def test_masked_mse_gradient_only_on_masked():
    target = torch.zeros(1, 1, 8, 8)
    pred = torch.ones(1, 1, 8, 8, requires_grad=True)
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[0, 0, 2, 3] = True
    masked_mse(pred, target, mask).backward()
    assert pred.grad[0, 0, 2, 3].item() == pytest.approx(2.0)
    assert pred.grad.abs().sum().item() == pytest.approx(2.0)


def test_bad_arguments():
    with pytest.raises(ValueError):
        n2v_mask(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError):
        n2v_mask(torch.zeros(1, 1, 8, 8), window=4)
    with pytest.raises(ValueError):
        n2v_mask(torch.zeros(1, 1, 8, 8), fraction=0.0)
