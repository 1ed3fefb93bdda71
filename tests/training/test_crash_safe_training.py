"""Crash-safe training: SIGTERM saves and stops cleanly, `kill -9` loses only the steps since
the last checkpoint, a resumed run ends bit-identical to an uninterrupted one (same steps, LR
schedule and RNG state), and a full disk while checkpointing keeps the previous checkpoint.
Also: a run's own last.ckpt loads as a model with --trust-pickle."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from safetensors.torch import load_file
from skimage import data

from medenoise.api import load_model
from medenoise.checkpointing import AtomicCheckpointIO
from medenoise.config import ModelConfig, TrainConfig
from medenoise.errors import UserError
from medenoise.train import run_training

STEPS = 12
# The CLI in a child process, each step slowed down (and announced in a file) so that the
# test can signal it mid-run. The CLI and this driver add nothing else to the run.
DRIVER = """
import sys, time
from pathlib import Path
import lightning as L
import medenoise.train as T

PROGRESS = Path(sys.argv[1])


class Pace(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        PROGRESS.write_text(str(trainer.global_step))
        if trainer.global_step >= 3:  # from here on, leave the test time to signal
            time.sleep(0.3)

run = T.run_training
T.run_training = lambda *a, **k: run(*a, **{**k, "callbacks": [Pace()]})
from medenoise.cli import main
sys.argv = ["medenoise", *sys.argv[2:]]
main()
"""


@pytest.fixture(scope="module", autouse=True)
def _single_thread(one_thread):
    """Every test here (and its module fixtures) runs on one thread (conftest.one_thread)."""


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    PILImage.fromarray(data.camera()[:96, :96]).save(root / "a.png")
    PILImage.fromarray(data.camera()[300:380, 200:300]).save(root / "b.png")
    return root


def config(images, **kw) -> TrainConfig:
    model = ModelConfig(method="n2c", noise="gaussian:25", width=8)
    options = dict(steps=STEPS, batch_size=2, patch=32, checkpoint_every=4, seed=5) | kw
    return TrainConfig(data=[str(images)], model=model, **options)


def cli_args(images, out: Path, checkpoint_every: int) -> list[str]:
    return [
        "train", str(images), "-o", str(out), "--method", "n2c", "--noise", "gaussian:25",
        "--width", "8", "--steps", str(STEPS), "--batch-size", "2", "--patch", "32",
        "--checkpoint-every", str(checkpoint_every), "--seed", "5", "--no-progress",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory):
    """An uninterrupted run: its weights are what every interrupted + resumed run must give."""
    out = tmp_path_factory.mktemp("ref") / "run"
    path = run_training(config(images), out, progress=False)
    return out, load_file(str(path))


def same_weights(path: Path, reference) -> None:
    weights = load_file(str(path))
    assert weights.keys() == reference[1].keys()
    for key, value in weights.items():
        assert torch.equal(value, reference[1][key]), key


def start(tmp_path, images, checkpoint_every: int) -> tuple[subprocess.Popen, Path, Path]:
    script, progress = tmp_path / "driver.py", tmp_path / "progress"
    script.write_text(DRIVER)
    out = tmp_path / "run"
    args = [sys.executable, str(script), str(progress), *cli_args(images, out, checkpoint_every)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    return proc, progress, out


def wait_for_step(proc, progress: Path, step: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if progress.is_file() and int(progress.read_text() or 0) >= step:
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("training did not get going")


def checkpoint_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


def test_sigterm_saves_a_checkpoint_and_exits_with_a_resume_hint(tmp_path, images, reference):
    proc, progress, out = start(tmp_path, images, checkpoint_every=1000)  # no periodic ones
    wait_for_step(proc, progress, 3)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    last = out / "checkpoints" / "last.ckpt"
    step = checkpoint_step(last)
    assert 3 <= step < STEPS
    assert stderr.strip().splitlines()[-1] == (
        f"interrupted: SIGTERM at step {step} of {STEPS}: saved {last}; run the same command "
        "with --resume to continue"
    )
    assert "Traceback" not in stderr and not (out / "model.safetensors").exists()
    same_weights(run_training(config(images), out, resume=True, progress=False), reference)


def test_kill_9_resumes_from_the_last_checkpoint_bit_identically(tmp_path, images, reference):
    proc, progress, out = start(tmp_path, images, checkpoint_every=2)
    wait_for_step(proc, progress, 5)  # checkpoints at steps 2 and 4 are on disk
    proc.kill()
    proc.communicate()
    last = out / "checkpoints" / "last.ckpt"
    assert checkpoint_step(last) in range(4, STEPS, 2)  # whole, and a periodic one
    resumed = run_training(config(images), out, resume=True, progress=False)
    same_weights(resumed, reference)
    assert not [p for p in (out / "checkpoints").iterdir() if p.name != "last.ckpt"]


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, images, monkeypatch):
    real_save, saved = torch.save, {}
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"

    def save_then_fill_the_disk(obj, f, *args, **kwargs):
        if not saved:  # the first checkpoint (step 4) goes through
            saved["step"] = obj["global_step"]
            return real_save(obj, f, *args, **kwargs)
        saved["bytes"] = hashlib.sha256(last.read_bytes()).hexdigest()
        f.write(b"partial checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_then_fill_the_disk)
    with pytest.raises(UserError, match="No space left on device.*previous checkpoint is kept"):
        run_training(config(images, steps=8), tmp_path / "run", progress=False)
    assert hashlib.sha256(last.read_bytes()).hexdigest() == saved["bytes"]
    assert checkpoint_step(last) == saved["step"] == 4
    assert [p.name for p in last.parent.iterdir()] == ["last.ckpt"]  # no torn temporary


def test_atomic_checkpoint_io_replaces_whole_files_only(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "c" / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    io.save_checkpoint({"step": torch.tensor(2)}, path)
    assert int(torch.load(path, weights_only=True)["step"]) == 2

    def torn(obj, f, *args, **kwargs):
        f.write(b"torn")
        raise KeyboardInterrupt  # killed mid-write: not even an OSError

    monkeypatch.setattr(torch, "save", torn)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": torch.tensor(3)}, path)
    assert int(torch.load(path, weights_only=True)["step"]) == 2
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_a_torn_checkpoint_is_refused_on_resume(tmp_path, images, reference):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 torn")
    config(images).to_yaml(out / "config.yaml")
    with pytest.raises(UserError, match="does not load"):
        run_training(config(images), out, resume=True, progress=False)


def test_own_checkpoint_loads_with_trust_pickle_and_matches_the_model_file(
    reference, tmp_path, cli
):
    out, _ = reference
    ckpt = out / "checkpoints" / "last.ckpt"
    with pytest.raises(UserError, match="--trust-pickle"):
        load_model(ckpt)
    x = np.random.default_rng(0).random((40, 36)).astype(np.float32)
    expected = load_model(out / "model.safetensors").denoise(x)
    np.testing.assert_array_equal(load_model(ckpt, trust_pickle=True).denoise(x), expected)
    image = tmp_path / "in" / "x.png"
    image.parent.mkdir()
    PILImage.fromarray((x * 255).astype(np.uint8)).save(image)
    args = ["denoise", str(image), "-o", str(tmp_path / "out"), "--model", str(ckpt)]
    result = cli(*args, "--trust-pickle")
    assert result.exit_code == 0 and (tmp_path / "out" / "x.png").is_file(), result.output
    # checkpoints of older runs carry no config: it comes from the run's config.yaml
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    del state["medenoise_model_config"]
    old = tmp_path / "run" / "checkpoints" / "old.ckpt"
    old.parent.mkdir(parents=True)
    torch.save(state, old)
    with pytest.raises(UserError, match="no model config"):
        load_model(old, trust_pickle=True)
    os.link(out / "config.yaml", tmp_path / "run" / "config.yaml")
    np.testing.assert_array_equal(load_model(old, trust_pickle=True).denoise(x), expected)
