"""Faster inference paths give eager float32's output: ONNX Runtime and channels_last."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medenoise.config import ModelConfig
from medenoise.inference.denoiser import Denoiser
from medenoise.inference.options import InferenceOptions
from tiny_models import perturbed_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

# Stated tolerance: 1e-4 on the [0, 1] scale (ONNX Runtime fuses and reorders float32
# sums; measured ≤ 2e-5), far below one 16-bit grey level (1.5e-5 × 65535 ≈ 1 level).
TOL = 1e-4

CONFIGS = [
    ModelConfig(method="ssdn", noise="gaussian:25", width=8),
    ModelConfig(method="ssdn", noise="poisson:30", noise_param="global", width=8),
    ModelConfig(method="ssdn", noise="gaussian:25", covariance="diag", channels=3, width=8),
    ModelConfig(method="n2c", noise="gaussian:25", width=8),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.method}-{c.noise_param}-{c.channels}")
def test_onnxruntime_matches_eager(cfg, tmp_path, one_thread):
    from medenoise.inference.onnx import OnnxRunner

    module = perturbed_model(cfg)
    img = np.random.default_rng(0).random((1, 90, 70, cfg.channels), dtype=np.float32)
    eager = Denoiser(module, "m").denoise_planes(img)
    runner = OnnxRunner(module, onnx_path=tmp_path / "m.onnx")
    onnx = Denoiser(module, "m", InferenceOptions(backend="onnx"), runner=runner)
    out = onnx.denoise_planes(img)
    assert (tmp_path / "m.onnx").is_file()
    assert np.abs(out - eager).max() < TOL
    # a second size goes through the same graph (side is dynamic)
    img2 = np.random.default_rng(1).random((1, 40, 130, cfg.channels), dtype=np.float32)
    assert (
        np.abs(onnx.denoise_planes(img2) - Denoiser(module, "m").denoise_planes(img2)).max() < TOL
    )


def test_onnx_memory_arena_only_for_small_passes(tmp_path, monkeypatch, one_thread):
    """Small passes run in the arena session (faster), larger ones in the session without an
    arena (bounded peak memory); both give the same output."""
    from medenoise.inference import onnx as onnx_mod
    from medenoise.inference import ort_session

    module = perturbed_model(CONFIGS[3])
    runner = onnx_mod.OnnxRunner(module, onnx_path=tmp_path / "m.onnx")
    x = torch.rand(1, 1, 64, 96)
    small = runner.run(x, None)
    assert set(runner.ort.sessions) == {True}
    monkeypatch.setattr(ort_session, "ARENA_MAX_PIXELS", 64 * 64)  # now the same pass is large
    large = runner.run(x, None)
    assert set(runner.ort.sessions) == {True, False}
    assert runner.ort.sessions[False].get_session_options().enable_cpu_mem_arena is False
    assert runner.ort.sessions[True].get_session_options().enable_cpu_mem_arena is True
    assert torch.equal(small, large)


def test_onnx_export_is_cached_by_content(tmp_path, monkeypatch, one_thread):
    from medenoise.inference.onnx import model_digest

    monkeypatch.setenv("MEDENOISE_CACHE", str(tmp_path))
    module = perturbed_model(CONFIGS[0])
    onnx = InferenceOptions(backend="onnx")
    first = Denoiser(module, "m", onnx).runner
    assert first.onnx_path.parent == tmp_path / "onnx"
    assert first.onnx_path.stem == model_digest(module)
    stamp = first.onnx_path.stat().st_mtime_ns
    assert Denoiser(module, "m", onnx).runner.onnx_path.stat().st_mtime_ns == stamp  # reused
    with torch.no_grad():
        next(module.parameters()).add_(1.0)
    assert model_digest(module) != first.onnx_path.stem  # new weights → new export


def test_per_image_models_are_refused_with_a_clear_error(tmp_path):
    from medenoise.errors import UserError
    from medenoise.inference.onnx import export_onnx

    module = perturbed_model(
        ModelConfig(method="ssdn", noise="gaussian:5-50", noise_param="per-image", width=8)
    )
    with pytest.raises(UserError, match="per-image"):
        export_onnx(module, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_channels_last_matches_contiguous(one_thread):
    module = perturbed_model(CONFIGS[0])
    x = torch.rand(2, 1, 64, 64)
    params = module.noise.fixed_params(2)
    with torch.inference_mode():
        ref = module.denoise(x, params)
        cl = module.to(memory_format=torch.channels_last)
        out = cl.denoise(x.contiguous(memory_format=torch.channels_last), params)
    assert (out - ref).abs().max().item() < TOL


def test_bf16_autocast_is_close_and_keeps_float32_output(one_thread):
    module = perturbed_model(CONFIGS[0])
    img = np.random.default_rng(0).random((1, 64, 64, 1), dtype=np.float32)
    ref = Denoiser(module, "m").denoise_planes(img)
    bf16 = Denoiser(module, "m", InferenceOptions(precision="bf16")).denoise_planes(img)
    assert bf16.dtype == np.float32
    # bfloat16 keeps 8 mantissa bits: ~0.4 % per op; the float64 posterior is unchanged
    assert 0 < np.abs(bf16 - ref).max() < 0.05
    assert np.abs(bf16 - ref).mean() < 0.01


def test_unknown_precision_is_refused():
    from medenoise.errors import UserError

    with pytest.raises(UserError, match="precision"):
        Denoiser(perturbed_model(CONFIGS[0]), "m", InferenceOptions(precision="fp8"))
