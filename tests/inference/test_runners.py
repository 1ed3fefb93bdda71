"""The network call as a strategy: the Denoiser runs whatever runner it is given, the
options choose torch or ONNX with the ONNX rules kept, and capabilities come from modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medenoise.config import ModelConfig
from medenoise.errors import UserError
from medenoise.inference.denoiser import ClassicalDenoiser, Denoiser
from medenoise.inference.options import InferenceOptions
from medenoise.inference.runners import TorchRunner, make_runner
from medenoise.methods import build_method
from tiny_models import make_tiny_model


def tiny(method: str = "ssdn", **kw):
    return make_tiny_model(method, **kw)


class Halver:
    """A runner that records its inputs and returns half of them."""

    device = torch.device("cpu")

    def __init__(self):
        self.calls = []

    def run(self, x, params):
        self.calls.append((tuple(x.shape), params))
        return x / 2


def test_the_denoiser_runs_the_runner_it_is_given():
    runner = Halver()
    den = Denoiser(tiny(), "m", runner=runner)
    planes = np.random.default_rng(0).random((2, 40, 50, 1), dtype=np.float32)
    out = den.denoise_planes(planes, "gaussian:10")
    np.testing.assert_allclose(out, planes / 2, rtol=1e-6)  # padded, then cropped back
    assert [shape for shape, _ in runner.calls] == [(1, 1, 64, 64)] * 2
    params = runner.calls[0][1]  # known level: the spec's parameters reach the runner
    assert torch.allclose(params.float(), torch.tensor([[10 / 255]]), atol=1e-6)


def test_ensemble_goes_through_the_runner_once_per_view():
    runner = Halver()
    Denoiser(tiny(), "m", InferenceOptions(ensemble=True), runner=runner).denoise_planes(
        np.zeros((1, 32, 32, 1), np.float32)
    )
    assert len(runner.calls) == 2  # blind spot: identity and mirror
    runner.calls.clear()
    Denoiser(tiny("n2c"), "m", InferenceOptions(ensemble=None), runner=runner).denoise_planes(
        np.zeros((1, 32, 32, 1), np.float32)
    )
    assert len(runner.calls) == 1  # None means off here


def test_torch_runner_is_the_module_denoise_in_channels_last():
    module = tiny()
    x, params = torch.rand(2, 1, 64, 64), module.noise.fixed_params(2)
    with torch.inference_mode():
        ref = module.denoise(x, params)
        runner = TorchRunner(module, "cpu", "32")
        out = runner.run(x, params)
    assert next(p for p in module.parameters() if p.ndim == 4).is_contiguous(
        memory_format=torch.channels_last
    )
    assert out.dtype == torch.float32 and (out - ref).abs().max() < 1e-4


def test_options_choose_the_runner_and_onnx_rules_hold():
    module = tiny()
    assert isinstance(make_runner(module, InferenceOptions()), TorchRunner)
    den = Denoiser(module, "m", InferenceOptions(precision="bf16"))
    assert isinstance(den.runner, TorchRunner) and den.runner.bf16 and den.precision == "bf16"
    with pytest.raises(UserError, match="bf16 needs --backend torch"):
        make_runner(module, InferenceOptions(backend="onnx", precision="bf16"))
    with pytest.raises(UserError, match="runs on the CPU"):
        make_runner(module, InferenceOptions(backend="onnx", device="cuda"))
    with pytest.raises(UserError, match="unknown backend"):
        InferenceOptions(backend="tensorrt")


def test_bad_tile_or_batch_is_refused_before_any_runner_is_built(monkeypatch):
    import medenoise.inference.denoiser as denoiser_module

    def boom(*a, **k):
        raise AssertionError("runner built for invalid options")

    monkeypatch.setattr(denoiser_module, "make_runner", boom)
    with pytest.raises(UserError, match="multiple of 32"):
        Denoiser(tiny(), "m", InferenceOptions(tile=700, backend="onnx"))
    with pytest.raises(UserError, match="batch 0"):
        Denoiser(tiny(), "m", InferenceOptions(batch=0, backend="onnx"))


@pytest.mark.parametrize(
    ("kw", "known", "per_image"),
    [
        (dict(method="ssdn"), True, False),
        (dict(method="ssdn", noise_param="global"), False, False),
        (dict(method="ssdn", noise_param="per-image", noise="gaussian:5-50"), False, True),
        (dict(method="ssdn", covariance="mu"), False, False),
        (dict(method="n2c"), False, False),
    ],
)
def test_capabilities_come_from_the_module(kw, known, per_image):
    torch.manual_seed(0)
    module = build_method(ModelConfig(**{"noise": "gaussian:25", "width": 8, **kw}))
    den = Denoiser(module, "m", runner=Halver())
    assert den.takes_known_level is known and den.estimates_level_per_image is per_image
    assert (den.noise_params(None) is not None) is known


def test_baselines_answer_the_capabilities_with_false():
    den = ClassicalDenoiser("bm3d")
    assert den.takes_known_level is False and den.estimates_level_per_image is False
    assert den.config.takes_known_level is False
    assert den.config.estimates_level_per_image is False
