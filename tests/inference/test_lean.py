"""The torch-free path (inference/lean.py): a model file whose ONNX export and path decision
are cached runs without PyTorch and gives the Denoiser's ONNX output bit for bit; anything it
does not cover goes to the full Denoiser; a changed file or a decision for eager is never
taken for a cached ONNX Runtime one."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from medenoise.api import load_model
from medenoise.config import ModelConfig
from medenoise.errors import UserError
from medenoise.inference import lean
from medenoise.inference.measured_level import MEASURED
from medenoise.inference.options import InferenceOptions
from medenoise.inference.path_choice import (
    EAGER32,
    ONNX32,
    PathChoice,
    candidates,
    choice_key,
    save_choice,
)
from medenoise.modelfile import save_model
from tiny_models import perturbed_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

ONNX = InferenceOptions(backend="onnx", ensemble=True, threads=1)
PLAIN = ModelConfig(method="n2c", noise="gaussian:25", width=8)
GLOBAL_SSDN = ModelConfig(method="ssdn", noise="poisson:30", noise_param="global", width=8)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A fresh cache per test: the same seeded model must not find another test's export."""
    monkeypatch.setenv("MEDENOISE_CACHE", str(tmp_path / "cache"))


def no_fallback():
    raise AssertionError("the torch-free path loaded the full model")


def saved(tmp_path, cfg, name="m.safetensors"):
    """A perturbed model of `cfg` in a file, and the ONNX-path Denoiser loaded from it (which
    records the file for the torch-free path)."""
    path = save_model(perturbed_model(cfg), tmp_path / name)
    return path, load_model(path, options=ONNX)


@pytest.mark.parametrize("cfg", [PLAIN, GLOBAL_SSDN], ids=["plain", "blind-spot"])
def test_lean_output_equals_the_onnx_denoiser_bit_for_bit(cfg, tmp_path, one_thread):
    path, den = saved(tmp_path, cfg)
    fast = lean.lean_denoiser(str(path), ONNX, no_fallback)
    assert fast is not None and fast.ensemble and fast.config == den.config
    planes = np.random.default_rng(0).random((2, 70, 90, 1), dtype=np.float32)
    assert np.array_equal(fast.denoise_planes(planes), den.denoise_planes(planes))
    image = (planes[0, :, :, 0] * 65535).astype(np.uint16)
    assert np.array_equal(fast.denoise(image), den.denoise(image))


def test_lean_runs_without_importing_torch(tmp_path, one_thread):
    path, _ = saved(tmp_path, PLAIN)
    code = (
        "import sys, numpy as np; from medenoise.inference import lean; "
        "from medenoise.inference.options import InferenceOptions as O; "
        f"d = lean.lean_denoiser({str(path)!r}, O(backend='onnx', threads=1), None); "
        "out = d.denoise(np.zeros((40, 50), np.uint8)); "
        "print(out.shape, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(40,", "50)", "False"]


def test_no_record_for_a_graph_that_takes_the_level_or_a_changed_file(tmp_path, one_thread):
    known, _ = saved(tmp_path, ModelConfig(method="ssdn", noise="gaussian:25", width=8))
    assert lean.lean_denoiser(str(known), ONNX, no_fallback) is None  # level is an input
    path, _ = saved(tmp_path, PLAIN, "plain.safetensors")
    assert lean.lean_denoiser(str(path), ONNX, no_fallback) is not None
    other = save_model(
        perturbed_model(PLAIN.model_copy(update={"width": 4})), tmp_path / "o.safetensors"
    )
    path.write_bytes(other.read_bytes())  # same name, other weights: another hash
    assert lean.lean_denoiser(str(path), ONNX, no_fallback) is None
    assert lean.lean_denoiser(str(path), ONNX.with_(backend="torch"), no_fallback) is None


def test_automatic_path_is_lean_only_where_the_cached_probe_chose_onnx(tmp_path, one_thread):
    path, _ = saved(tmp_path, PLAIN)
    auto = InferenceOptions(precision="auto", backend="auto", threads=1)
    assert lean.lean_denoiser(str(path), auto, no_fallback) is None  # no decision cached
    names, _ = candidates(auto)
    digest = json.loads(lean.record_file(path).read_text())["digest"]
    key = choice_key(digest, names, 1)
    save_choice(key, PathChoice(EAGER32, {n: {"seconds": 1.0, "diff": 0.0} for n in names}))
    assert lean.lean_denoiser(str(path), auto, no_fallback) is None
    save_choice(key, PathChoice(ONNX32, {n: {"seconds": 1.0, "diff": 0.0} for n in names}))
    fast = lean.lean_denoiser(str(path), auto, no_fallback)
    assert fast is not None and fast.runner.path.name == ONNX32
    assert lean.lean_denoiser(str(path), auto.with_(threads=2), no_fallback) is None


def test_tiled_planes_and_measured_levels_go_to_the_full_denoiser(tmp_path, one_thread):
    path, den = saved(tmp_path, PLAIN)
    calls = []

    def full():
        calls.append(1)
        return den

    fast = lean.lean_denoiser(str(path), ONNX.with_(tile=384), full)
    small = np.random.default_rng(1).random((1, 100, 120, 1), dtype=np.float32)
    fast.denoise_planes(small)
    assert calls == []
    big = np.random.default_rng(2).random((1, 400, 100, 1), dtype=np.float32)
    assert np.array_equal(fast.denoise_planes(big), den.denoise_planes(big))
    assert calls == [1]
    with pytest.raises(UserError, match="measured"):  # the full Denoiser's refusal
        fast.denoise_planes(small, MEASURED)
    assert fast.delegate() is den and calls == [1]  # loaded once


def test_cli_second_run_skips_torch_and_writes_the_same_file(cli, tmp_path, one_thread):
    from PIL import Image

    path = save_model(perturbed_model(PLAIN), tmp_path / "m.safetensors")
    src = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50), np.uint8)).save(src)
    outs = []
    for run in ("first", "second"):
        out = tmp_path / run
        args = ("denoise", src, "--model", path, "-o", out, "--verbose", "--threads", "1")
        done = cli(*args, "--backend", "onnx")
        assert done.exit_code == 0, done.output
        outs.append((out / "in.png").read_bytes())
        assert (lean.NOTE in done.stderr) == (run == "second")
    assert outs[0] == outs[1]
