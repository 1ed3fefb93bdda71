"""The automatic execution path: the probe keeps only candidates whose output agrees with
eager float32, picks the fastest, caches the decision as JSON, and falls back to PyTorch
when ONNX Runtime is missing or the export fails."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
import torch

from medenoise.inference import autopath
from medenoise.inference.autopath import EAGER32, EAGER_BF16, ONNX32, PathChoice
from medenoise.inference.denoiser import Denoiser
from medenoise.inference.options import Backend, InferenceOptions, Precision
from medenoise.inference.runners import TorchRunner
from tiny_models import make_tiny_model

AUTO = InferenceOptions(precision="auto", backend="auto")


class Fake:
    """A runner that answers eager float32's output plus `offset`, taking `delay` seconds
    (the network runs once; its output is reused so that the delay alone sets the time)."""

    device = torch.device("cpu")

    def __init__(self, module, offset=0.0, delay=0.0):
        self.inner, self.offset, self.delay, self.calls = TorchRunner(module), offset, delay, 0
        self.out = None

    def run(self, x, params):
        import time

        self.calls += 1
        if self.out is None:
            self.out = self.inner.run(x, params)
        time.sleep(self.delay)
        return self.out + self.offset


@pytest.fixture()
def module():
    return make_tiny_model("n2c")


def test_probe_rejects_a_faster_candidate_beyond_the_tolerance(module):
    runners = {
        EAGER32: Fake(module, delay=0.06),
        EAGER_BF16: Fake(module, offset=2e-3, delay=0.0),  # fastest, but 2e-3 off
        ONNX32: Fake(module, offset=5e-4, delay=0.03),  # within 1e-3: allowed
    }
    choice = autopath.run_probe(module, runners, side=64)
    assert choice.name == ONNX32
    assert choice.probe[EAGER_BF16]["diff"] == pytest.approx(2e-3, rel=1e-3)
    assert choice.probe[ONNX32]["diff"] == pytest.approx(5e-4, rel=1e-2)
    assert all(r.calls == 1 + autopath.PROBE_REPEATS for r in runners.values())
    runners[ONNX32].offset = 1.5e-3  # now nothing but the reference agrees
    assert autopath.run_probe(module, runners, side=64).name == EAGER32


def test_probe_picks_the_fastest_agreeing_candidate(module):
    runners = {EAGER32: Fake(module, delay=0.05), EAGER_BF16: Fake(module, offset=1e-4)}
    choice = autopath.run_probe(module, runners, side=64)
    assert choice.name == EAGER_BF16
    assert choice.probe[EAGER_BF16]["seconds"] < choice.probe[EAGER32]["seconds"]


def test_candidates_follow_the_options(monkeypatch):
    monkeypatch.setattr("medenoise.inference.ort_session.onnx_available", lambda: True)
    assert autopath.candidates(AUTO)[0] == [EAGER32, EAGER_BF16, ONNX32]
    assert autopath.candidates(AUTO.with_(precision="32"))[0] == [EAGER32, ONNX32]
    assert autopath.candidates(AUTO.with_(backend="torch"))[0] == [EAGER32, EAGER_BF16]
    assert autopath.candidates(AUTO.with_(precision="bf16"))[0] == [EAGER_BF16]
    assert autopath.candidates(AUTO.with_(backend="onnx"))[0] == [ONNX32]


def _no_onnxruntime(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in ("onnxruntime", "onnxscript"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_without_onnxruntime_auto_falls_back_to_eager(module, monkeypatch):
    _no_onnxruntime(monkeypatch)
    names, notes = autopath.candidates(AUTO)
    assert names == [EAGER32, EAGER_BF16] and notes == ["onnxruntime not installed"]
    den = Denoiser(module, "m", AUTO)  # no error: the torch candidates are probed
    assert isinstance(den.runner, TorchRunner)
    assert den.runner.path.name in (EAGER32, EAGER_BF16)
    assert "onnxruntime not installed" in autopath.describe(den)
    den = Denoiser(module, "m", InferenceOptions(backend="auto"))  # float32 only: no probe
    assert isinstance(den.runner, TorchRunner) and not den.runner.bf16
    assert den.runner.path.probe == {}
    planes = np.random.default_rng(0).random((1, 40, 40, 1), dtype=np.float32)
    assert np.isfinite(den.denoise_planes(planes)).all()


def test_a_failing_onnx_export_falls_back_to_eager(module, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDENOISE_CACHE", str(tmp_path))  # no export left by other tests
    monkeypatch.setattr("medenoise.inference.ort_session.onnx_available", lambda: True)

    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr("medenoise.inference.onnx.export_onnx", broken)
    den = Denoiser(module, "m", InferenceOptions(backend="auto"))
    assert isinstance(den.runner, TorchRunner) and den.runner.path.name == EAGER32
    assert any("exporter exploded" in n for n in den.runner.path.notes)


def test_cache_round_trip_and_corrupt_cache_ignored(module, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDENOISE_CACHE", str(tmp_path))
    probes = []
    real = autopath.run_probe

    def counting(mod, runners, *a, **k):
        probes.append(sorted(runners))
        return real(mod, runners, *a, **k)

    monkeypatch.setattr(autopath, "run_probe", counting)
    options = InferenceOptions(precision="auto", backend="torch")
    first = Denoiser(module, "m", options).runner.path
    assert len(probes) == 1 and not first.cached
    (saved,) = (tmp_path / "paths").glob("*.json")
    assert json.loads(saved.read_text())["choice"] == first.name
    second = Denoiser(module, "m", options).runner.path
    assert len(probes) == 1 and second.cached  # no second probe
    assert (second.name, second.probe) == (first.name, first.probe)
    for corrupt in ("{not json", json.dumps({"format": 1, "choice": "eager fp64", "probe": {}})):
        saved.write_text(corrupt)
        again = Denoiser(module, "m", options).runner.path
        assert not again.cached and again.name in (EAGER32, EAGER_BF16)
    assert len(probes) == 3
    assert json.loads(saved.read_text())["choice"] == again.name  # rewritten


def test_cache_key_depends_on_weights_and_threads(module):
    key = autopath.cache_key(module, [EAGER32, EAGER_BF16])
    assert key == autopath.cache_key(module, [EAGER_BF16, EAGER32])
    assert key != autopath.cache_key(make_tiny_model("n2c", seed=1), [EAGER32, EAGER_BF16])
    assert key != autopath.cache_key(module, [EAGER32, ONNX32])
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        assert key != autopath.cache_key(module, [EAGER32, EAGER_BF16])
    finally:
        torch.set_num_threads(threads)


def test_auto_reports_what_runs_and_options_parse():
    assert Precision.parse("auto") is Precision.AUTO and Backend("auto") is Backend.AUTO
    assert Precision.AUTO.lightning == "32-true"  # training has no automatic choice
    den = Denoiser(make_tiny_model("n2c"), "m", InferenceOptions(precision="auto"))
    assert den.precision in ("32", "bf16")
    assert den.precision == ("bf16" if den.runner.bf16 else "32")


def test_describe_names_path_threads_tiling_and_probe(module):
    den = Denoiser(module, "m", InferenceOptions(tile=384))
    den.runner.path = PathChoice(
        EAGER32, {EAGER32: {"seconds": 0.2, "diff": 0.0}, ONNX32: {"seconds": 0.3, "diff": 4e-3}}
    )
    line = autopath.describe(den, (3, "cgroup quota"))
    assert line.startswith("path: eager fp32, 3 threads (cgroup quota), tile 384, overlap ")
    assert "batch 1" in line and "onnxruntime fp32 0.300 s (max diff 4.0e-03 > 0.001" in line


def test_onnx_runner_takes_a_batch_image_by_image(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from medenoise.inference.onnx import OnnxRunner

    module = make_tiny_model("ssdn")
    runner = OnnxRunner(module, tmp_path / "m.onnx", threads=1)
    x, params = torch.rand(3, 1, 64, 64), module.noise.fixed_params(1).float()
    out = runner.run(x, params)
    singles = torch.cat([runner.run(x[i : i + 1], params) for i in range(3)])
    assert out.shape == (3, 1, 64, 64) and torch.equal(out, singles)
    with torch.inference_mode():
        assert (out - module.denoise(x, module.noise.fixed_params(3))).abs().max() < 1e-4


def test_denoise_verbose_says_which_path_ran(cli, tmp_path, tiny_model_file):
    from PIL import Image

    model = tiny_model_file("n2c")
    pixels = np.random.default_rng(0).integers(0, 255, (48, 40), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    args = ("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "--model", model)
    res = cli(*args, "--verbose", "--threads", "1", "--precision", "auto", "--backend", "torch")
    assert res.exit_code == 0, res.output
    (line,) = [s for s in res.stderr.splitlines() if "path: " in s]
    assert line.startswith("n2c.safetensors: path: eager ")
    assert ", 1 thread (--threads), tile " in line and "probe: eager fp32 " in line
    again = cli(*args, "--overwrite", "--verbose", "--threads", "1", "--backend", "torch")
    assert again.exit_code == 0 and "(cached)" in again.stderr  # auto is the default
    quiet = cli(*args, "--overwrite", "--backend", "torch", "--precision", "32")
    assert quiet.exit_code == 0 and "path: " not in quiet.stderr
    assert (tmp_path / "out" / "a.png").is_file()


def test_on_a_gpu_auto_keeps_eager_float32_without_a_probe(module, monkeypatch):
    from medenoise.inference.runners import make_runner

    monkeypatch.setattr(autopath, "run_probe", lambda *a, **k: pytest.fail("probed on a GPU"))
    runner = make_runner(module, AUTO.with_(device="cuda"))  # built only: nothing runs
    assert isinstance(runner, TorchRunner) and runner.device.type == "cuda" and not runner.bf16
    assert runner.path.name == EAGER32 and runner.path.notes == ["GPU: eager PyTorch"]
    bf16 = make_runner(module, AUTO.with_(device="cuda", precision="bf16"))
    assert bf16.bf16 and bf16.path.name == EAGER_BF16
