"""`train --compile`: training steps go through torch.compile's module, while checkpoints and
the model file keep the eager net's parameter names (so they load without compile)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def test_compile_trains_through_the_compiled_net_and_saves_eager_keys(tmp_path, monkeypatch, cli):
    from safetensors import safe_open

    from medenoise.api import load_model

    data = tmp_path / "imgs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(data / f"{i}.png")

    real_compile, compiled, calls = torch.compile, [], []

    def spy_compile(model, **kw):
        compiled.append(type(model).__name__)
        opt = real_compile(model, backend="eager")  # the wiring, without a C++ toolchain

        def run(x):
            calls.append(tuple(x.shape))
            return opt(x)

        return run

    monkeypatch.setattr(torch, "compile", spy_compile)
    args = ["train", str(data), "-o", str(tmp_path / "run"), "--method", "ssdn", "--width", "8"]
    args += ["--steps", "2", "--batch-size", "1", "--patch", "32", "--no-progress"]
    res = cli(*args, "--compile")
    assert res.exit_code == 0, res.output
    assert compiled == ["BlindSpotUNet"]
    assert calls == [(1, 1, 32, 32)] * 2  # every training step used the compiled net
    path = tmp_path / "run" / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())
    assert keys and not any("_orig_mod" in k or "compiled" in k for k in keys)
    load_model(path)  # loads as an ordinary model

    compiled.clear()
    res = cli(*args[:3], tmp_path / "run2", *args[4:])
    assert res.exit_code == 0, res.output
    assert compiled == []  # off by default
