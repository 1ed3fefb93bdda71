"""structN2V masking: no masked neighbour's original value reaches the network (gradients)."""

import pytest
import torch

from medenoise.methods.n2v_masking import footprint, masked_mse, n2v_mask, struct_mask
from medenoise.nets import UNet


def masked_gradient(mask_fn, extent=(2, 2), seed=0):
    """Gradient of the masked loss w.r.t. the noisy input, through the network's input only."""
    torch.manual_seed(seed)
    net = UNet(1, 1, width=8)
    y = torch.rand(1, 1, 64, 64, requires_grad=True)
    g = torch.Generator().manual_seed(seed)
    masked, mask = mask_fn(y, g)
    loss = masked_mse(net(masked), y.detach(), mask)
    loss.backward()
    return y.grad[0, 0].abs(), mask[0, 0]


def covered(mask, extent):
    """Every pixel within the structured footprint of a masked pixel."""
    out = torch.zeros_like(mask)
    h, w = mask.shape
    for i, j in mask.nonzero().tolist():
        for dy, dx in footprint(extent):
            if 0 <= i + dy < h and 0 <= j + dx < w:
                out[i + dy, j + dx] = True
    return out


@pytest.mark.parametrize("extent", [(2, 2), (0, 3), (1, 0)])
def test_loss_never_sees_masked_pixels_or_their_neighbours(extent):
    grad, mask = masked_gradient(lambda y, g: struct_mask(y, extent, generator=g), extent)
    cover = covered(mask, extent)
    assert mask.sum() >= 40  # one pixel per 8×8 cell on 64²
    assert grad[cover].max().item() == 0.0
    assert (grad[~cover] > 0).float().mean() > 0.9  # everything else does reach the loss


def test_plain_n2v_lets_neighbours_through():
    # the leak the structured mask closes: N2V's loss sees the masked pixel's neighbours
    grad, mask = masked_gradient(lambda y, g: n2v_mask(y, generator=g))
    cover = covered(mask, (1, 1)) & ~mask
    assert (grad[cover] > 0).float().mean() > 0.9


def test_output_at_a_masked_pixel_ignores_its_footprint_only():
    torch.manual_seed(0)
    net = UNet(1, 1, width=8)
    y = torch.rand(1, 1, 64, 64, requires_grad=True)
    masked, mask = struct_mask(y, (1, 2), fraction=1 / 1024, generator=torch.Generator())
    i, j = mask[0, 0].nonzero()[0].tolist()  # one pixel per 32×32 cell: the first
    net(masked)[0, 0, i, j].backward()
    g = y.grad[0, 0].abs()
    for dy, dx in footprint((1, 2)):
        if 0 <= i + dy < 64 and 0 <= j + dx < 64:
            assert g[i + dy, j + dx] == 0.0, (dy, dx)
    outside = [(i + 2, j), (i - 2, j), (i, j + 3), (i, j - 3)]
    assert any(0 <= a < 64 and 0 <= b < 64 and g[a, b] > 0 for a, b in outside)


def test_replacements_stay_in_the_image_range_and_loss_pixels_are_centres():
    y = torch.rand(2, 3, 32, 48) * 0.5 + 0.25
    masked, mask = struct_mask(y, (1, 1), generator=torch.Generator().manual_seed(1))
    assert mask.shape == (2, 1, 32, 48) and mask.sum() == 2 * 4 * 6
    assert masked.min() >= y.min() and masked.max() <= y.max()
    changed = (masked != y).any(1, keepdim=True)
    assert changed[mask].all()  # centres replaced
    assert changed.sum() > 5 * mask.sum()  # and their 3×3 neighbourhoods too


def test_footprint_rejects_negative_extent():
    assert len(footprint((1, 2))) == 15
    with pytest.raises(ValueError, match="non-negative"):
        footprint((-1, 0))


def test_n2v_trains_on_the_structured_mask_when_asked():
    from medenoise.config import MethodOptions, ModelConfig, TrainConfig
    from medenoise.methods import build_method

    model = ModelConfig(method="n2v", width=8)
    train = TrainConfig(data=["x"], model=model, method_options=MethodOptions(n2v_struct=(1, 2)))
    module = build_method(model, train)
    y = torch.rand(2, 1, 64, 64)
    state = module.noise_generator.get_state()
    loss, _ = module.training_loss({"noisy": y})
    gen = torch.Generator().set_state(state)
    masked, mask = struct_mask(y, (1, 2), generator=gen)
    plain, _ = n2v_mask(y, generator=torch.Generator().set_state(state))
    with torch.no_grad():
        assert torch.allclose(loss, masked_mse(module.net(masked), y, mask))
        assert not torch.allclose(loss, masked_mse(module.net(plain), y, mask))
