"""`medenoise inspect`: human lines, --json, --plot, and bad files among good ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage


@pytest.fixture()
def images(tmp_path):
    """A folder with white noise on grey and a smooth gradient with stronger noise (PNG)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    grey = np.clip(np.round(128 + rng.normal(0, 15, (128, 128))), 0, 255).astype(np.uint8)
    PILImage.fromarray(grey).save(folder / "grey.png")
    ramp = np.linspace(40, 200, 128)[None, :] + rng.normal(0, 25, (128, 128))
    PILImage.fromarray(np.clip(np.round(ramp), 0, 255).astype(np.uint8)).save(
        folder / "sub" / "ramp.png"
    )
    return folder


def test_human_output_names_the_verdict_and_the_command(cli, images):
    result = cli("inspect", images / "grey.png")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for label in ("range", "noise", "vs brightness", "correlation", "clipped", "verdict", "run"):
        assert f"  {label}" in out
    assert "white:" in out
    assert f"medenoise denoise {images / 'grey.png'} -o denoised --model ssdn-gauss5-50-gray" in out


def test_json_lists_one_profile_per_image(cli, images):
    result = cli("inspect", images, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [p["source"] for p in doc] == [str(images / "grey.png"), str(images / "sub/ramp.png")]
    first = doc[0]
    for key in ("sigma", "pg_a", "pg_b", "pg_fit_r2", "corr_x", "corr_y", "clipped_low",
                "clipped_high", "bins", "value_range", "range_source", "verdict"):  # fmt: skip
        assert key in first
    assert first["sigma"] * 255 == pytest.approx(15, rel=0.1)
    assert first["verdict"]["kind"] == "white"
    assert first["verdict"]["blind_spot_safe"] is True
    assert first["extra"]["command"].startswith("medenoise denoise")
    assert len(first["extra"]["corr_map"]) == 7


def test_plot_writes_one_png_per_image(cli, images, tmp_path):
    result = cli("inspect", images, "--plot", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["grey.png.inspect.png", "ramp.png.inspect.png"]
    with PILImage.open(tmp_path / "plots" / pngs[0]) as im:
        assert im.size[0] > 300


def test_bad_file_one_error_line_exit_2_good_one_still_reported(cli, images, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = cli("inspect", bad, images / "grey.png", tmp_path / "missing.png", "--json")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len([e for e in errors if str(bad) in e]) == 1
    assert len([e for e in errors if "missing.png" in e]) == 1
    assert [p["source"] for p in json.loads(result.stdout)] == [str(images / "grey.png")]


def test_range_and_axis_travel_into_the_command(cli, images):
    result = cli("inspect", images / "grey.png", "--range", "0,510", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)[0]
    assert doc["value_range"] == [0.0, 510.0]
    assert "--range=0,510" in doc["extra"]["command"]
    assert cli("inspect", images, "--range", "5").exit_code == 2


def test_a_dicom_series_is_inspected_as_one_volume(cli, tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file

    folder = tmp_path / "ct"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for k in range(3):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.7"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.7.{k + 1}"
        ds.ImagePositionPatient = [-80.0, -80.0, 2.5 * k]
        plane = 1000 + rng.normal(0, 20, (ds.Rows, ds.Columns))
        ds.PixelData = np.round(plane).astype("<i2").tobytes()
        ds.save_as(folder / f"IM{2 - k}.dcm")
    result = cli("inspect", folder, "--json")
    assert result.exit_code == 0, result.output
    (profile,) = json.loads(result.output)
    assert "series of 3 slices" in profile["source"]
    assert profile["shape"][0] == 3
    assert profile["range_source"].startswith("data range of this series")
    command = profile["extra"]["command"]
    assert command is None or f"denoise {folder} " in command


def test_white_noise_in_a_dicom_file_is_sent_to_the_medical_model(cli, tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    plane = 1000 + np.random.default_rng(6).normal(0, 20, (ds.Rows, ds.Columns))
    ds.PixelData = np.round(plane).astype("<i2").tobytes()
    ds.save_as(tmp_path / "white.dcm")
    PILImage.fromarray(np.round(128 + plane - 1000).astype(np.uint8)).save(tmp_path / "w.png")
    result = cli("inspect", tmp_path / "white.dcm", tmp_path / "w.png", "--json")
    assert result.exit_code == 0, result.output
    scan, photo = json.loads(result.output)
    assert scan["verdict"]["kind"] == photo["verdict"]["kind"] == "white"
    assert "--model ssdn-med-gray" in scan["extra"]["command"]
    assert "--model ssdn-gauss5-50-gray" in photo["extra"]["command"]
