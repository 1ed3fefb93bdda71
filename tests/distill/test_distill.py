"""`medenoise distill`: a student learns its teacher's output (not the noisy input), names its
teacher, denoises like any model file, resumes, and refuses bad input before writing."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from tiny_models import make_tiny_model

STEPS = 40


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny network teacher (random SSDN) and a folder of two clean images."""
    from skimage import data

    from medenoise.modelfile import save_model

    root = tmp_path_factory.mktemp("distill")
    teacher = save_model(make_tiny_model("ssdn", seed=3), root / "teacher.safetensors")
    clean = root / "clean"
    clean.mkdir()
    tifffile.imwrite(clean / "a.tif", data.camera()[:96, :128])
    tifffile.imwrite(clean / "b.tif", data.moon()[200:296, 100:228])
    return root, teacher, clean


def student_args(setup, out, steps=STEPS, teacher=None):
    root, tiny, clean = setup
    teacher = teacher or tiny
    return (
        "distill", teacher, clean, "--noise", "gaussian:25", "-o", out, "--width", "8",
        "--depth", "4", "--steps", steps, "--batch-size", "4", "--patch", "32", "--lr", "0.003",
        "--realizations", "2",
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained(setup, tmp_path_factory):
    """A student of NLM, a teacher that smooths strongly (a random tiny net's output is no
    function a few dozen steps can learn), so its output is far from the noisy input."""
    from typer.testing import CliRunner

    from medenoise.cli import app

    out = tmp_path_factory.mktemp("run") / "student"
    args = student_args(setup, out, teacher="nlm")
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return out


def mse(a, b):
    return float(((np.asarray(a) - np.asarray(b)) ** 2).mean())


def test_student_learns_the_teacher_output_not_the_noisy_input(trained):
    from medenoise.config import TrainConfig
    from medenoise.inference.denoiser import Denoiser
    from medenoise.modelfile import load_module
    from medenoise.train import build_module

    cfg = TrainConfig.from_yaml(trained / "config.yaml")
    with np.load(trained / "teacher_targets.npz", allow_pickle=False) as z:
        assert int(z["count"]) == 4  # 2 images × 2 noisy copies
        noisy, target = z["noisy_0"], z["target_0"]
    inner = np.s_[16:-16, 16:-16]  # patches teach the interior; borders are reflected
    noisy, target = noisy[inner], target[inner]
    assert mse(noisy, target) > 0.005  # the teacher's output is far from its input
    before = Denoiser(build_module(cfg, warm_start=False), "init").denoise(noisy)
    after = Denoiser(load_module(trained / "model.safetensors"), "s").denoise(noisy)
    assert mse(after, target) < 0.01 * mse(before, target)
    # trained on the noisy input as target, the student would be nearer to it than this
    assert mse(after, target) < 0.3 * mse(after, noisy)


def test_denoise_with_a_student_ignores_a_noise_level_like_n2c(trained, setup, cli, tmp_path):
    model = trained / "model.safetensors"
    src = setup[2] / "a.tif"
    plain = cli("denoise", src, "-o", tmp_path / "plain", "--model", model)
    assert plain.exit_code == 0, plain.output
    level = cli(
        "denoise", src, "-o", tmp_path / "level", "--model", model, "--noise", "gaussian:25"
    )
    assert level.exit_code == 0, level.output
    first = tifffile.imread(tmp_path / "plain" / "a.tif")
    np.testing.assert_array_equal(first, tifffile.imread(tmp_path / "level" / "a.tif"))
    assert first.shape == (96, 128) and first.dtype == np.uint8


def test_resume_continues_from_the_checkpoint_with_cached_targets(setup, cli, tmp_path):
    out = tmp_path / "run"
    first = cli(*student_args(setup, out, steps=6))
    assert first.exit_code == 0, first.output
    assert "denoising 4 images" in first.output  # 2 images × 2 noisy copies
    again = cli(*student_args(setup, out, steps=12))
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = cli(*student_args(setup, out, steps=12), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "denoising" not in resumed.output  # teacher outputs came from the run's cache
    import torch

    from medenoise.modelfile import read_header

    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 12
    # the student's file names its teacher, in its config and in the file's metadata
    config, extra = read_header(out / "model.safetensors")
    assert config.method == "student" and config.depth == 4 and config.width == 8
    assert config.teacher == str(setup[1])
    assert extra["teacher"] == str(setup[1]) and len(extra["teacher_sha256"]) == 64


def test_bad_teacher_is_one_line_and_writes_nothing(setup, cli, tmp_path):
    _, _, clean = setup
    out = tmp_path / "run"
    result = cli("distill", tmp_path / "missing.safetensors", clean, "-o", out, "--steps", "2")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "missing.safetensors" in lines[0]
    assert not out.exists()


def test_distill_needs_a_teacher_and_data(cli, tmp_path):
    result = cli("distill", "-o", tmp_path / "run")
    assert result.exit_code == 2 and "no teacher" in result.output
