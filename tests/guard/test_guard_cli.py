"""`medenoise denoise` with the guard, end to end through the CLI: a flagged output gets a
warning (or with --strict an error and no file), --report holds the figures, and without
--model the inspector's verdict picks the model or refuses."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from medenoise import api
from medenoise.api import ArrayDenoiser
from medenoise.guard import session
from medenoise.inspection.profile import NoiseProfile, Verdict


class Blur(ArrayDenoiser):
    """A 'denoiser' that blurs heavily: it erases the texture of a lightly noisy image."""

    def __init__(self):
        self.config = SimpleNamespace(method="blur")
        self.source = "blur"

    def denoise_planes(self, planes, noise=None):
        return ndimage.gaussian_filter(planes, (0, 3, 3, 0)).astype(np.float32)


def images(folder):
    """flat.tif: noise on a flat grey (blurring removes just the noise); texture.tif: a
    photo with little noise (blurring erases its detail)."""
    from skimage import data, transform

    rng = np.random.default_rng(0)
    folder.mkdir()
    flat = 0.5 + rng.normal(0, 0.05, (96, 96))
    photo = transform.resize(data.camera() / 255.0, (192, 192), anti_aliasing=True)
    texture = photo + rng.normal(0, 0.02, photo.shape)
    for name, a in (("flat.tif", flat), ("texture.tif", texture)):
        tifffile.imwrite(folder / name, np.clip(a, 0, 1).astype(np.float32))
    return folder


@pytest.fixture()
def blur(monkeypatch):
    monkeypatch.setattr(api, "load_model", lambda *a, **k: Blur())


def stderr_lines(result, prefix):
    return [ln for ln in result.output.splitlines() if ln.startswith(prefix)]


def test_flagged_output_is_written_with_one_warning_and_reported(cli, tmp_path, blur):
    src = images(tmp_path / "in")
    report = tmp_path / "r" / "report.json"
    result = cli("denoise", src, "-o", tmp_path / "out", "--model", "x", "--report", report)
    assert result.exit_code == 0, result.output
    warnings = stderr_lines(result, "warning:")
    assert len(warnings) == 1 and "texture.tif" in warnings[0], result.output
    assert "diagnosis" in warnings[0]
    assert (tmp_path / "out/flat.tif").exists() and (tmp_path / "out/texture.tif").exists()
    doc = json.loads(report.read_text())
    assert doc["model"]["method"] == "blur"
    files = {r["file"].rsplit("/", 1)[-1]: r for r in doc["files"]}
    assert not files["flat.tif"]["flagged"] and files["texture.tif"]["flagged"]
    for row in files.values():
        assert row["written"] and row["profile"]["sigma"] > 0
        assert {"energy_ratio", "low_freq_share", "edge_correlation", "range_excess"} <= set(
            row["figures"]
        )
    assert files["texture.tif"]["figures"]["energy_ratio"] > 2
    assert doc["thresholds"]["energy_limit"] > 1


def test_strict_writes_nothing_for_a_flagged_file_and_exits_2(cli, tmp_path, blur):
    src = images(tmp_path / "in")
    report = tmp_path / "report.json"
    args = ["denoise", src, "-o", tmp_path / "out", "--model", "x", "--strict"]
    result = cli(*args, "--report", report)
    assert result.exit_code == 2, result.output
    errors = stderr_lines(result, "error:")
    assert "texture.tif" in errors[0] and "--strict" in errors[0], result.output
    assert (tmp_path / "out/flat.tif").exists()
    assert not (tmp_path / "out/texture.tif").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["flat.tif"]  # no leftovers
    rows = json.loads(report.read_text())["files"]  # written although the run failed
    assert [r["written"] for r in rows] == [True, False]


def test_report_may_not_overwrite_an_input(cli, tmp_path, blur):
    src = images(tmp_path / "in")
    target = src / "flat.tif"
    before = target.read_bytes()
    result = cli("denoise", src, "-o", tmp_path / "out", "--model", "x", "--report", target)
    assert result.exit_code == 2 and "--report" in result.output
    assert target.read_bytes() == before and not (tmp_path / "out").exists()


def verdict_profile(verdict):
    """A stand-in for the inspector: this verdict, white noise of σ 0.05."""

    def measure(image):
        return NoiseProfile(
            source="t", shape=image.array.shape, value_range=(0.0, 1.0), range_source="t",
            sigma=0.05, pg_a=0.0, pg_b=0.0025, pg_fit_r2=0.0, corr_x=(0.0, 0.0, 0.0),
            corr_y=(0.0, 0.0, 0.0), clipped_low=0.0, clipped_high=0.0, verdict=verdict,
        )  # fmt: skip

    return measure


def test_without_model_the_verdict_chooses(cli, tmp_path, monkeypatch):
    src = images(tmp_path / "in")
    chosen = []
    real = api.load_model

    def load(name, **kwargs):
        chosen.append(name)
        return real(name, **kwargs)

    monkeypatch.setattr(api, "load_model", load)
    verdict = Verdict("white", "White noise of σ 13.", "identity", ("--range", "0,2"))
    monkeypatch.setattr(session, "profile_of", verdict_profile(verdict))
    result = cli("denoise", src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert chosen == ["identity"]
    notes = stderr_lines(result, "note:")
    assert len(notes) == 1 and "flat.tif" in notes[0] and "first readable input" in notes[0]
    assert "--model identity --range 0,2" in notes[0] and "White noise" in notes[0]
    np.testing.assert_allclose(  # identity through the verdict's range gives the input back
        tifffile.imread(tmp_path / "out/texture.tif"), tifffile.imread(src / "texture.tif")
    )


def test_without_model_a_verdict_without_model_refuses(cli, tmp_path, monkeypatch):
    src = images(tmp_path / "in")
    verdict = Verdict("no-noise", "No measurable noise. Nothing to denoise.", None)
    monkeypatch.setattr(session, "profile_of", verdict_profile(verdict))
    result = cli("denoise", src, "-o", tmp_path / "out")
    assert result.exit_code == 2
    errors = stderr_lines(result, "error:")
    assert len(errors) == 1, result.output
    assert "No measurable noise" in errors[0] and "medenoise inspect" in errors[0]
    assert "flat.tif" in errors[0] and not (tmp_path / "out").exists()


def test_without_model_an_unreadable_first_file_is_passed_over(cli, tmp_path, monkeypatch):
    src = images(tmp_path / "in")
    (src / "a_broken.tif").write_bytes(b"not a tiff")
    verdict = Verdict("white", "White noise.", "identity")
    monkeypatch.setattr(session, "profile_of", verdict_profile(verdict))
    result = cli("denoise", src, "-o", tmp_path / "out")
    assert result.exit_code == 2  # the broken file still fails, on its own line
    assert "flat.tif" in stderr_lines(result, "note:")[0]
    assert "a_broken.tif" in stderr_lines(result, "error:")[0]
    assert (tmp_path / "out/flat.tif").exists() and (tmp_path / "out/texture.tif").exists()


def test_real_inspector_on_white_noise_drives_the_default(cli, tmp_path, monkeypatch):
    src = images(tmp_path / "in")
    chosen = []
    monkeypatch.setattr(api, "load_model", lambda name, **k: chosen.append(name) or Blur())
    result = cli("denoise", src / "flat.tif", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert chosen and chosen[0] in {"ssdn-gauss5-50-gray", "bm3d", "vst-bm3d"}
    assert f"--model {chosen[0]}" in stderr_lines(result, "note:")[0]
