"""Train SSDN from the command line on a real image, then denoise with the model file.

Uses `skimage.data.camera` (shipped with scikit-image), a reduced width and small patches
so the whole test stays around a minute on 2 cores; the width is a normal option.
"""

import csv

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage import data

from medenoise.eval.metrics import psnr

STEPS = 300


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cli):
    root = tmp_path_factory.mktemp("e2e")
    cam = data.camera()
    (root / "train").mkdir()
    PILImage.fromarray(cam[:256, :256]).save(root / "train" / "cam_top.png")
    PILImage.fromarray(cam[256:, 256:]).save(root / "train" / "cam_bottom.png")
    test = cam[256:, :256].astype(np.float64) / 255  # held out
    (root / "val").mkdir()
    PILImage.fromarray(cam[:128, 300:428]).save(root / "val" / "cam_val.png")
    rng = np.random.default_rng(0)
    noisy = test + rng.normal(0, 25 / 255, test.shape)
    noisy16 = np.clip(np.rint(noisy * 65535), 0, 65535).astype(np.uint16)
    PILImage.fromarray(noisy16).save(root / "noisy.png")
    run = root / "run"
    result = cli(
        "train", root / "train", "--method", "ssdn", "--noise", "gaussian:25",
        "--noise-param", "known", "-o", run, "--steps", STEPS, "--width", "12",
        "--patch", "64", "--batch-size", "4", "--lr", "2e-3", "--checkpoint-every", "100",
        "--val", root / "val", "--val-every", "150", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root, run, test, noisy16


def test_training_writes_model_log_and_checkpoint(trained):
    _, run, _, _ = trained
    assert (run / "model.safetensors").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    log = (run / "metrics.csv").read_text()
    assert "train/loss" in log
    rows = list(csv.DictReader(log.splitlines()))
    val = [float(r["val/psnr"]) for r in rows if r.get("val/psnr")]
    assert len(val) == 2, "validation every 150 of 300 steps"
    assert val[-1] > 25.0, f"validation PSNR {val}"


def test_denoising_a_noisy_png_raises_psnr_clearly(trained, cli):
    root, run, test, noisy16 = trained
    out = root / "out"
    result = cli("denoise", root / "noisy.png", "-o", out, "--model", run / "model.safetensors")
    assert result.exit_code == 0, result.output
    den = np.asarray(PILImage.open(out / "noisy.png"))
    assert den.dtype == noisy16.dtype and den.shape == noisy16.shape
    before = psnr(noisy16 / 65535, test)
    after = psnr(den / 65535, test)
    assert after > before + 5.0, f"PSNR {before:.2f} → {after:.2f} dB"
