"""Widening a trained network (nets/widen.py, `train --init` from a narrower model)."""

from __future__ import annotations

import pytest
import torch

from medenoise.config import ModelConfig
from medenoise.methods import build_method
from medenoise.modelfile import save_model
from medenoise.nets import BlindSpotUNet, UNet
from medenoise.nets.widen import widen_state
from medenoise.train import init_weights


def _trained_like(net: torch.nn.Module) -> torch.nn.Module:
    """Nonzero biases and shifted weights, so a misplaced block changes the output."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return net


@pytest.mark.parametrize(
    "cls,channels,out", [(BlindSpotUNet, 1, 2), (BlindSpotUNet, 3, 9), (UNet, 1, 1)]
)
def test_the_widened_network_computes_the_narrow_ones_function(cls, channels, out):
    torch.manual_seed(0)
    narrow = _trained_like(cls(channels, out, width=8)).eval()
    wide = cls(channels, out, width=12).eval()
    state = widen_state(
        {f"net.{k}": v for k, v in narrow.state_dict().items()},
        {f"net.{k}": v for k, v in wide.state_dict().items()},
        channels=channels,
        old_width=8,
        new_width=12,
        blind=cls is BlindSpotUNet,
        out_channels=out,
    )
    wide.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})
    x = torch.rand(2, channels, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(wide(x), narrow(x), atol=1e-5, rtol=1e-5)
    # the new channels are live: the wide net has weights the narrow one does not, and the
    # zero weights that mute them for the old channels get a gradient at once
    first = wide.trunk.enc0[0].conv.weight
    assert first[8:].abs().sum() > 0
    wide(x).square().mean().backward()
    mute = wide.trunk.enc0[1].conv.weight
    assert torch.all(mute.detach()[:8, 8:] == 0)
    assert mute.grad[:8, 8:].abs().sum() > 0


def test_narrowing_is_refused():
    state = {f"net.{k}": v for k, v in UNet(1, 1, width=8).state_dict().items()}
    with pytest.raises(ValueError, match="cannot narrow"):
        widen_state(
            state, state, channels=1, old_width=12, new_width=8, blind=False, out_channels=1
        )


def test_init_from_a_narrower_model_starts_where_it_ended(tmp_path, capsys):
    torch.manual_seed(0)
    source = build_method(ModelConfig(method="ssdn", width=8, noise="gaussian:25"))
    _trained_like(source.net)
    path = save_model(source, tmp_path / "narrow.safetensors")
    run = build_method(ModelConfig(method="ssdn", width=12, noise="gaussian:25"))
    init_weights(run, str(path))
    assert "width 8 widened to 12" in capsys.readouterr().err
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(run.net.eval()(x), source.net.eval()(x), atol=1e-5, rtol=0)
