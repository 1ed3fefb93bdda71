"""`--noise measured`: each plane denoised at the level the inspector measures on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medenoise.config import ModelConfig
from medenoise.errors import UserError
from medenoise.inference.denoiser import ClassicalDenoiser, Denoiser
from medenoise.inference.measured_level import MEASURED, measured_spec
from medenoise.inference.options import InferenceOptions
from medenoise.noise.spec import parse_noise_spec
from tiny_models import perturbed_model


def _scene(size: int = 128) -> np.ndarray:
    """A smooth test scene in [0.1, 0.9] (flat enough for the inspector's blocks)."""
    y, x = np.mgrid[0:size, 0:size] / size
    return (0.5 + 0.4 * np.sin(3 * x) * np.cos(2 * y)).astype(np.float32)


def test_measured_spec_finds_the_synthesised_levels():
    rng = np.random.default_rng(0)
    clean = _scene(256)
    gauss = clean + rng.normal(0, 20 / 255, clean.shape).astype(np.float32)
    sigma = float(measured_spec("gaussian", gauss[..., None]).split(":")[1])
    assert sigma == pytest.approx(20, rel=0.1)
    a, b = 0.02, 0.0004
    pg = clean + rng.normal(0, 1, clean.shape) * np.sqrt(a * clean + b)
    spec = parse_noise_spec(measured_spec("pg", pg.astype(np.float32)[..., None]))
    assert spec.ranges["a"][0] == pytest.approx(a, rel=0.25)
    assert spec.kind == "pg"
    poisson = parse_noise_spec(measured_spec("poisson", pg.astype(np.float32)[..., None]))
    assert 1 / poisson.ranges["lam"][0] == pytest.approx(a, rel=0.25)


def test_known_level_model_runs_each_plane_at_its_level(one_thread):
    module = perturbed_model(ModelConfig(method="ssdn", noise="gaussian:25", width=8))
    den = Denoiser(module, "m")
    rng = np.random.default_rng(1)
    planes = np.stack([_scene() + rng.normal(0, s / 255, (128, 128)) for s in (8, 40)])
    planes = planes.astype(np.float32)[..., None]
    out = den.denoise_planes(planes, MEASURED)
    for i in range(2):
        spec = measured_spec("gaussian", planes[i])
        np.testing.assert_array_equal(out[i], den.denoise_planes(planes[i : i + 1], spec)[0])
    assert not np.allclose(out[0], den.denoise_planes(planes[:1])[0], atol=1e-4)


def test_global_level_model_takes_the_measured_level_and_gets_its_own_back(one_thread):
    from medenoise.adaptation_level import start_at_level

    module = perturbed_model(ModelConfig(method="ssdn", noise="pg", noise_param="global", width=8))
    theta = module.noise_param.theta.detach().clone()
    den = Denoiser(module, "m")
    rng = np.random.default_rng(2)
    clean = _scene(256)
    noisy = clean + rng.normal(0, 1, clean.shape) * np.sqrt(0.02 * clean + 0.0004)
    planes = noisy.astype(np.float32)[None, ..., None]
    own = den.denoise_planes(planes)
    out = den.denoise_planes(planes, MEASURED)
    assert torch.equal(module.noise_param.theta, theta)  # restored bit for bit
    spec = parse_noise_spec(measured_spec("pg", planes[0]))
    start_at_level(module, (spec.ranges["a"][0], spec.ranges["b"][0]))
    np.testing.assert_allclose(out, den.denoise_planes(planes), atol=1e-6)
    assert np.abs(out - own).max() > 1e-3  # the level changed the output


def test_global_level_model_on_onnx_runs_the_measured_level_eagerly(tmp_path, one_thread):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from medenoise.inference.onnx import OnnxRunner

    module = perturbed_model(ModelConfig(method="ssdn", noise="pg", noise_param="global", width=8))
    rng = np.random.default_rng(3)
    clean = _scene(256)
    noisy = clean + rng.normal(0, 1, clean.shape) * np.sqrt(0.02 * clean + 0.0004)
    planes = noisy.astype(np.float32)[None, ..., None]
    assert measured_spec("pg", planes[0]) is not None
    eager = Denoiser(module, "m").denoise_planes(planes, MEASURED)
    runner = OnnxRunner(module, onnx_path=tmp_path / "m.onnx")
    onnx = Denoiser(module, "m", InferenceOptions(backend="onnx"), runner=runner)
    np.testing.assert_allclose(onnx.denoise_planes(planes, MEASURED), eager, atol=1e-5)
    assert onnx.runner is runner  # the ONNX runner is back for ordinary calls


def test_models_without_a_noise_model_refuse(one_thread):
    den = Denoiser(perturbed_model(ModelConfig(method="n2c", noise="gaussian:25", width=8)), "m.st")
    with pytest.raises(UserError, match="measured needs a model"):
        den.denoise_planes(np.full((1, 64, 64, 1), 0.5, np.float32), MEASURED)


def test_per_image_level_models_run_each_plane_at_its_measured_level(one_thread):
    from medenoise.noise import make_noise_model

    cfg = ModelConfig(method="ssdn", noise="pg", noise_param="per-image", width=8)
    module = perturbed_model(cfg)
    den = Denoiser(module, "m")
    rng = np.random.default_rng(5)
    clean = _scene(256)
    planes = np.stack(
        [clean + rng.normal(0, 1, clean.shape) * np.sqrt(a * clean + 4e-4) for a in (0.01, 0.02)]
    ).astype(np.float32)[..., None]
    out = den.denoise_planes(planes, MEASURED)
    for i in range(2):
        params = make_noise_model(measured_spec("pg", planes[i])).fixed_params(1)
        np.testing.assert_array_equal(out[i], den.denoise_planes_at(planes[i : i + 1], params)[0])
        # tiled, the plane's one given level reaches every tile (closer to the whole-plane
        # run at that level than the tiles at the estimator's level are)
        tiler = Denoiser(module, "m", InferenceOptions(tile=64), overlap=32)
        given = np.abs(tiler.denoise_planes_at(planes[i : i + 1], params)[0] - out[i]).mean()
        own = np.abs(tiler.denoise_planes(planes[i : i + 1])[0] - out[i]).mean()
        assert given < own / 2, (given, own)
    assert module.noise_param.mode == "per-image"  # the estimator is back
    assert np.abs(out - den.denoise_planes(planes)).max() > 1e-3  # its estimate is not used


def test_per_image_level_models_keep_their_estimate_where_the_fit_fails(one_thread):
    cfg = ModelConfig(method="ssdn", noise="gaussian:5-50", noise_param="per-image", width=8)
    den = Denoiser(perturbed_model(cfg), "m")
    plane = np.ones((1, 64, 64, 1), dtype=np.float32)  # all clipped: nothing to measure
    assert measured_spec("gaussian", plane[0]) is None
    np.testing.assert_array_equal(den.denoise_planes(plane, MEASURED), den.denoise_planes(plane))


def test_baselines_treat_measured_as_their_own_estimate():
    rng = np.random.default_rng(4)
    plane = (_scene(64) + rng.normal(0, 0.05, (64, 64))).astype(np.float32)[None, ..., None]
    den = ClassicalDenoiser("bm3d")
    # BM3D with several threads is not bitwise repeatable (differences of ~4e-7)
    np.testing.assert_allclose(
        den.denoise_planes(plane, MEASURED), den.denoise_planes(plane), atol=1e-5
    )


def test_without_model_measured_means_the_verdicts_level(capsys):
    """No --model: the verdict already picks a model and a level measured on the image."""
    from medenoise.data.io import from_array
    from medenoise.guard import session

    rng = np.random.default_rng(6)
    arr = np.clip(_scene(256) + rng.normal(0, 20 / 255, (256, 256)), 0, 1)
    image = from_array((arr * 255 + 0.5).astype(np.uint8))
    seen = []

    class Stub:
        def denoise_image(self, image, noise=None):
            seen.append(noise)
            return image

    chooser = session.ChoosingDenoiser(lambda name: Stub(), MEASURED)
    chooser.choose(session.profile_of(image), "x.png")
    chooser.denoise_image(image, MEASURED)
    assert seen == [chooser.spec] and MEASURED not in seen


def _pg_planes(seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = _scene(128)
    noisy = [
        clean + rng.normal(0, 1, clean.shape) * np.sqrt(a * clean + 4e-4) for a in (0.01, 0.03)
    ]
    return np.stack(noisy).astype(np.float32)[..., None]


def test_a_model_whose_default_is_measured_runs_there_unless_told(tmp_path, one_thread):
    """`default_level: measured` survives the model file and makes `measured` the level when
    none is given, on the full Denoiser and on the lean one (which hands such planes over)."""
    from medenoise.api import load_model
    from medenoise.inference.lean import LeanDenoiser
    from medenoise.modelfile import save_model

    cfg = dict(method="ssdn", noise="pg", noise_param="per-image", width=8)
    own = Denoiser(perturbed_model(ModelConfig(**cfg)), "m")
    path = tmp_path / "wf.safetensors"
    save_model(perturbed_model(ModelConfig(**cfg, default_level="measured")), path)
    den = load_model(path, ensemble=False)
    assert den.config.default_level == MEASURED
    planes = _pg_planes()
    out = den.denoise_planes(planes)
    np.testing.assert_array_equal(out, own.denoise_planes(planes, MEASURED))
    assert np.abs(out - own.denoise_planes(planes)).max() > 1e-3  # not the estimator's level
    lean = LeanDenoiser("m", den.config, None, InferenceOptions(), True, 32, lambda: den)
    np.testing.assert_array_equal(lean.denoise_planes(planes), out)


def test_default_level_measured_is_for_per_image_models():
    with pytest.raises(ValueError, match="per-image"):
        ModelConfig(method="ssdn", noise="pg", noise_param="global", default_level="measured")
