"""Scale-out: `medenoise train --devices 2 --accelerator cpu --strategy ddp` (gloo) trains,
rank 0 alone writes the checkpoint and the model, and the model loads and denoises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def test_two_process_ddp_training_on_cpu(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        Image.fromarray((rng.random((80, 80)) * 255).astype(np.uint8)).save(data / f"{i}.png")
    out = tmp_path / "run"
    exe = Path(sys.executable).with_name("medenoise")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [
            str(exe),
            "train",
            str(data),
            "-o",
            str(out),
            "--method",
            "n2c",
            "--noise",
            "gaussian:25",
            "--width",
            "8",
            "--steps",
            "4",
            "--batch-size",
            "2",
            "--patch",
            "32",
            "--checkpoint-every",
            "2",
            "--devices",
            "2",
            "--accelerator",
            "cpu",
            "--strategy",
            "ddp",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.count("model written to") == 1  # one rank reports
    assert "data-parallel on 2 processes (gloo)" in res.stderr
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["last.ckpt"]
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    from medenoise.api import load_model

    den = load_model(out / "model.safetensors")
    assert den.config.method == "n2c"
    img = rng.random((40, 40), dtype=np.float32)
    assert den.denoise(img).shape == (40, 40)
