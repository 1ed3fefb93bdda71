"""`medenoise denoise` with the guard, end to end through the CLI: a flagged output gets a
warning (or with --strict an error and no file), --report holds the figures, and without
--model the inspector's verdict picks the model or refuses."""

from __future__ import annotations

import json
from pathlib import Path
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


def test_without_model_each_input_s_verdict_chooses(cli, tmp_path, monkeypatch):
    src = images(tmp_path / "in")
    chosen, used = [], []
    real = api.load_model

    def load(name, **kwargs):
        chosen.append(name)
        model = real(name, **kwargs)
        inner = model.denoise_image
        model.denoise_image = lambda image, noise=None: used.append(noise) or inner(image, noise)
        return model

    monkeypatch.setattr(api, "load_model", load)
    verdict = Verdict("white", "White noise of σ 13.", "identity", ("--noise", "gaussian:13"))
    monkeypatch.setattr(session, "profile_of", verdict_profile(verdict))
    result = cli("denoise", src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert chosen == ["identity"], "one model, loaded once for both files"
    assert used == ["gaussian:13", "gaussian:13"], "the verdict's level reaches the model"
    notes = stderr_lines(result, "note:")
    assert len(notes) == 2 and "flat.tif" in notes[0] and "texture.tif" in notes[1]
    assert all("--model identity --noise gaussian:13" in n and "White noise" in n for n in notes)
    np.testing.assert_allclose(  # identity gives the input back
        tifffile.imread(tmp_path / "out/texture.tif"), tifffile.imread(src / "texture.tif")
    )


def test_without_model_the_given_noise_wins_and_models_follow_each_file(cli, tmp_path, monkeypatch):
    src = images(tmp_path / "in")
    chosen = []
    monkeypatch.setattr(api, "load_model", lambda name, **k: chosen.append(name) or Blur())
    verdicts = {
        "flat.tif": Verdict("white", "White.", "bm3d", ("--noise", "gaussian:13")),
        "texture.tif": Verdict("correlated", "Correlated.", "nlm", blind_spot_safe=False),
    }
    pick = lambda image: verdict_profile(verdicts[Path(image.meta.source).name])(image)  # noqa: E731
    monkeypatch.setattr(session, "profile_of", pick)
    result = cli("denoise", src, "-o", tmp_path / "out", "--noise", "gaussian:20")
    assert result.exit_code == 0, result.output
    assert chosen == ["bm3d", "nlm"]
    notes = stderr_lines(result, "note:")
    assert "--model bm3d --noise gaussian:20" in notes[0] and "--model nlm" in notes[1]


def test_without_model_an_input_with_nothing_safe_is_refused_alone(cli, tmp_path, monkeypatch):
    src = images(tmp_path / "in")
    verdicts = {
        "flat.tif": Verdict("no-noise", "No measurable noise. Nothing to denoise.", None),
        "texture.tif": Verdict("white", "White noise.", "identity"),
    }
    pick = lambda image: verdict_profile(verdicts[Path(image.meta.source).name])(image)  # noqa: E731
    monkeypatch.setattr(session, "profile_of", pick)
    result = cli("denoise", src, "-o", tmp_path / "out")
    assert result.exit_code == 2
    errors = stderr_lines(result, "error:")
    assert "flat.tif" in errors[0] and "No measurable noise" in errors[0]
    assert "medenoise inspect" in errors[0] and "1 of 2 files failed" in errors[-1]
    assert not (tmp_path / "out/flat.tif").exists() and (tmp_path / "out/texture.tif").exists()


def test_without_model_an_unreadable_file_fails_alone(cli, tmp_path, monkeypatch):
    src = images(tmp_path / "in")
    (src / "a_broken.tif").write_bytes(b"not a tiff")
    verdict = Verdict("white", "White noise.", "identity")
    monkeypatch.setattr(session, "profile_of", verdict_profile(verdict))
    result = cli("denoise", src, "-o", tmp_path / "out")
    assert result.exit_code == 2  # the broken file fails, on its own line
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
