"""The blind-spot property (no output sees its own input pixel) and the backbone's size."""

import pytest
import torch

from medenoise.nets import BlindSpotUNet, NoiseLevelEstimator, UNet

PIXELS = [(0, 0), (0, 63), (63, 0), (63, 63), (17, 40), (32, 31), (1, 62)]


def input_gradient(net, x, i, j):
    x = x.clone().requires_grad_(True)
    net(x)[0, :, i, j].sum().backward()
    return x.grad[0].abs().sum(0)


def neighbours(i, j, size):
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if (di, dj) != (0, 0) and 0 <= i + di < size and 0 <= j + dj < size:
                yield i + di, j + dj


def check_blind_spot(net, channels):
    x = torch.rand(1, channels, 64, 64)
    for i, j in PIXELS:
        g = input_gradient(net, x, i, j)
        assert g[i, j].item() == 0.0, f"output ({i},{j}) sees its own input pixel"
        for p in neighbours(i, j, 64):
            assert g[p].item() != 0.0, f"output ({i},{j}) does not see neighbour {p}"


@pytest.mark.parametrize("channels,out", [(1, 2), (3, 9)])
def test_output_never_sees_its_own_pixel(channels, out):
    torch.manual_seed(0)
    check_blind_spot(BlindSpotUNet(channels, out, width=8), channels)


def test_blind_spot_survives_a_training_step():
    torch.manual_seed(1)
    net = BlindSpotUNet(1, 2, width=8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    y = torch.rand(2, 1, 64, 64)
    loss = ((net(y)[:, :1] - y) ** 2).mean()  # identity would be the trivial optimum
    loss.backward()
    opt.step()
    check_blind_spot(net, 1)


def test_plain_unet_does_see_its_own_pixel():
    torch.manual_seed(0)
    g = input_gradient(UNet(1, 1, width=8), torch.rand(1, 1, 64, 64), 20, 20)
    assert g[20, 20].item() != 0.0


def count(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_match_the_paper():
    assert abs(count(BlindSpotUNet(3, 9)) - 1.27e6) < 0.01e6
    assert abs(count(UNet(3, 3)) - 1.10e6) < 0.01e6


def test_shapes_and_input_checks():
    net = BlindSpotUNet(1, 2, width=8)
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 2, 32, 32)
    with pytest.raises(ValueError, match="square"):
        net(torch.rand(1, 1, 32, 64))
    with pytest.raises(ValueError, match="multiples of 32"):
        UNet(1, 1, width=8)(torch.rand(1, 1, 40, 40))
    assert UNet(1, 1, width=8)(torch.rand(1, 1, 32, 64)).shape == (1, 1, 32, 64)


def test_estimator_starts_at_zero_for_every_image():
    est = NoiseLevelEstimator(1, n_params=2, width=8)
    out = est(torch.rand(3, 1, 32, 32))
    assert out.shape == (3, 2)
    assert torch.count_nonzero(out) == 0
    assert any(p.requires_grad for p in est.parameters())


@pytest.mark.parametrize("side", [3, 5])
def test_blind_square_hides_the_whole_square_and_nothing_outside_it(side):
    torch.manual_seed(2)
    net, r = BlindSpotUNet(1, 2, width=8, blind_square=side), side // 2
    xs = torch.rand(6, 1, 1, 64, 64)
    for i, j in [(17, 40), (32, 31), (40, 12)]:
        # summed over inputs: past the first pooling, max-pool passes gradient to one pixel
        # of each 2×2 cell, so a pixel two or more away may get none from a single input
        g = sum(input_gradient(net, x, i, j) for x in xs)
        square = g[i - r : i + r + 1, j - r : j + r + 1]
        assert torch.count_nonzero(square) == 0, f"output ({i},{j}) sees inside its square"
        # the ring just outside the square, corners left out: at its first visible row a
        # branch reaches sideways only as far as its full-resolution convs do
        ring = torch.cat(
            [
                g[i - r - 1, j - r : j + r + 1],
                g[i + r + 1, j - r : j + r + 1],
                g[i - r : i + r + 1, j - r - 1],
                g[i - r : i + r + 1, j + r + 1],
            ]
        )
        assert torch.all(ring != 0), f"output ({i},{j}) misses pixels just outside its square"


def test_blind_square_must_be_odd():
    with pytest.raises(ValueError, match="odd"):
        BlindSpotUNet(1, 2, width=8, blind_square=2)
