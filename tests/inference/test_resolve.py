"""Loading apart from running: what a name resolves to (`resolve_model`), that resolving
and loading never pull in training code, and that the public face re-exports the pieces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medenoise import zoo
from medenoise.inference.resolve import ModelRef, model_path, resolve_model


def test_baseline_names_resolve_case_insensitively():
    assert resolve_model("BM3D") == ModelRef("baseline", None, "bm3d")
    assert resolve_model("vst-bm3d").kind == "baseline"


def test_baseline_names_are_the_registered_baselines():
    from medenoise.inference.resolve import BASELINE_NAMES, is_baseline_name
    from medenoise.methods import baselines

    assert list(BASELINE_NAMES) == list(baselines.BASELINES)
    assert all(is_baseline_name(name.upper()) for name in baselines.BASELINES)


def test_zoo_names_resolve_to_verified_weights_with_the_entry_ensemble_default():
    for e in zoo.registry():
        ref = resolve_model(e.name)
        assert ref.kind == "zoo" and ref.name == e.name
        assert ref.path == zoo.weights(e) == model_path(e.name)
        assert ref.default_ensemble is e.ensemble
    assert {resolve_model(e.name).default_ensemble for e in zoo.registry()} == {True, False}


def test_files_and_checkpoints(tmp_path, monkeypatch):
    ref = resolve_model(tmp_path / "m.safetensors")
    assert ref == ModelRef("file", tmp_path / "m.safetensors", str(tmp_path / "m.safetensors"))
    ckpt = tmp_path / "last.ckpt"
    assert resolve_model(ckpt).kind == "file"  # refused later by the model-file reader
    assert resolve_model(ckpt, trust_pickle=True).kind == "checkpoint"
    assert resolve_model(tmp_path / "x.CKPT", trust_pickle=True).kind == "checkpoint"
    assert resolve_model(tmp_path / "x.pt", trust_pickle=True).kind == "file"
    # an existing file wins over a baseline or zoo name of the same spelling
    monkeypatch.chdir(tmp_path)
    name = zoo.registry()[0].name
    for shadow in ("bm3d", name):
        Path(shadow).write_bytes(b"")
        assert resolve_model(shadow) == ModelRef("file", Path(shadow), shadow)


def test_a_pickle_checkpoint_without_consent_keeps_its_error(tmp_path):
    from medenoise.api import load_model
    from medenoise.errors import UserError

    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="--trust-pickle"):
        load_model(ckpt)


def probe(code: str) -> list:
    """Run `code` in a fresh interpreter and return what it printed as JSON."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


LOAD = """
import json, sys
import numpy as np
import medenoise.inference.onnx
mods = ("medenoise.api", "medenoise.inference.denoiser")
onnx_alone = sorted(m for m in mods if m in sys.modules)
import medenoise.inference, medenoise.inference.denoiser, medenoise.inference.options
import medenoise.inference.padding, medenoise.inference.resolve, medenoise.inference.runners
import medenoise.api
from medenoise.inference.resolve import resolve_model
resolve_model("{zoo}"), resolve_model("{file}")
at_import = sorted(m for m in ("lightning", "medenoise.train") if m in sys.modules)
out = medenoise.api.load_model("{file}").denoise(np.zeros((40, 40), np.float32))
after_load = sorted(m for m in ("lightning", "medenoise.train") if m in sys.modules)
print(json.dumps([onnx_alone, at_import, after_load, out.shape]))
"""


def test_inference_imports_neither_training_nor_lightning(model_file):
    code = LOAD.format(zoo=zoo.registry()[0].name, file=model_file)
    onnx_alone, at_import, after_load, shape = probe(code)
    assert onnx_alone == []  # the ONNX backend imports neither the API nor the denoiser
    assert at_import == []  # no training code, no Lightning to import or resolve
    assert after_load == []  # denoising with a model file imports no training code either
    assert shape == [40, 40]


def test_importing_the_api_stays_light():
    code = "import json, sys, medenoise.api; print(json.dumps('torch' in sys.modules))"
    assert probe(code) is False  # the re-exports load on first use


def test_api_reexports_the_moved_names():
    from medenoise import api
    from medenoise.inference import denoiser, padding

    for name in ("Denoiser", "ArrayDenoiser", "ClassicalDenoiser"):
        assert getattr(api, name) is getattr(denoiser, name)
    assert api.pad_reflect is padding.pad_reflect and api.padded_size is padding.padded_size
    with pytest.raises(AttributeError):
        api.OnnxDenoiser  # noqa: B018 (the subclass is gone: the backend is a runner now)


def test_checking_for_onnx_runtime_does_not_import_the_exporter():
    # onnxscript (the exporter, seconds to import) is only looked up: a cached export runs
    # in ONNX Runtime without it
    code = (
        "import json, sys; from medenoise.inference.ort_session import onnx_available; "
        "print(json.dumps([onnx_available(), 'onnxscript' in sys.modules]))"
    )
    available, imported = probe(code)
    assert available is True and imported is False
