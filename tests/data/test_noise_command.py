"""`medenoise noise add`: reproducible noisy copies in the input's format, dtype and layout."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from medenoise.commands.noise import file_seed

RNG = np.random.default_rng(0)


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def one_error_line(result, *needles):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def pydicom_file(name: str) -> Path:
    import pydicom.data

    path = Path(pydicom.data.__file__).parent / "test_files" / name
    if not path.exists():
        pytest.skip(f"pydicom test file {name} not bundled")
    return path


@pytest.fixture()
def folder(tmp_path):
    """A folder tree with one image of each writable kind."""
    import nibabel as nib

    root = tmp_path / "clean"
    (root / "sub").mkdir(parents=True)
    PILImage.fromarray(RNG.integers(0, 256, (40, 50), dtype=np.uint8)).save(root / "a.png")
    PILImage.fromarray(RNG.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(root / "rgb.png")
    tifffile.imwrite(
        root / "sub" / "u16.tif",
        RNG.integers(0, 4096, (3, 32, 24), np.uint16),
        photometric="minisblack",
    )
    tifffile.imwrite(root / "sub" / "f32.tif", RNG.random((32, 24), dtype=np.float32))
    vol = RNG.integers(-200, 2000, (16, 12, 5)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), root / "sub" / "vol.nii.gz")
    (root / "sub" / "ct.dcm").write_bytes(pydicom_file("CT_small.dcm").read_bytes())
    (root / "notes.txt").write_text("not an image")
    return root


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(cli, tmp_path, folder):
    ok(cli("noise", "add", "gaussian:25", folder, "-o", tmp_path / "o1"))
    ok(cli("noise", "add", "gaussian:25", folder, "-o", tmp_path / "o2", "--seed", "0"))
    ok(cli("noise", "add", "gaussian:25", folder, "-o", tmp_path / "o3", "--seed", "1"))
    first, again, other = (files_under(tmp_path / n) for n in ("o1", "o2", "o3"))
    expected = {"a.png", "rgb.png", "sub/u16.tif", "sub/f32.tif", "sub/vol.nii.gz", "sub/ct.dcm"}
    assert set(first) == expected  # relative paths kept, non-images ignored
    assert first == again
    assert all(first[k] != other[k] for k in expected)


def test_noise_depends_on_relative_name_not_location(cli, tmp_path, folder):
    import shutil

    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(folder, moved)
    ok(cli("noise", "add", "poisson:30", folder, "-o", tmp_path / "o1"))
    ok(cli("noise", "add", "poisson:30", moved, "-o", tmp_path / "o2"))
    assert files_under(tmp_path / "o1") == files_under(tmp_path / "o2")
    assert file_seed(0, "a/b.png") == 5816923660982221243  # the hash must never change
    assert file_seed(1, "a/b.png") != file_seed(0, "a/b.png") != file_seed(0, "a/c.png")


@pytest.mark.parametrize(
    "spec", ["gaussian:25", "poisson:5-50", "pg:a=0.01,b=0.0001", "rician:10", "impulse:0.2"]
)
def test_outputs_keep_format_dtype_and_shape(cli, tmp_path, folder, spec):
    from medenoise.data.io import read

    ok(cli("noise", "add", spec, folder, "-o", tmp_path / "out", "--seed", "3"))
    for rel in files_under(folder):
        if rel.endswith(".txt"):
            continue
        a, b = read(folder / rel), read(tmp_path / "out" / rel)
        assert b.meta.format == a.meta.format and b.meta.scaling.dtype == a.meta.scaling.dtype, rel
        assert b.array.shape == a.array.shape, rel
        assert not np.array_equal(b.array, a.array), rel


def test_dicom_output_is_a_derived_instance(cli, tmp_path, folder):
    import pydicom

    ok(
        cli(
            "noise",
            "add",
            "gaussian:25",
            folder / "sub" / "ct.dcm",
            "-o",
            tmp_path / "out",
            "--range=-1024,3071",
        )
    )
    src, out = (
        pydicom.dcmread(folder / "sub" / "ct.dcm"),
        pydicom.dcmread(tmp_path / "out" / "ct.dcm"),
    )
    assert out.SOPInstanceUID != src.SOPInstanceUID and out.PatientID == src.PatientID
    assert "noise add gaussian:25" in out.DerivationDescription
    assert "synthetic noise" in out.SeriesDescription
    diff = out.pixel_array.astype(float) - src.pixel_array
    # --range in HU: σ = 25/255 of 4095 HU; without it, 25/255 of the whole int16 range
    assert abs(diff.std() / (25 / 255 * 4095) - 1) < 0.05


def test_noise_level_is_relative_to_the_working_range_of_a_sliver_of_int16(cli, tmp_path, folder):
    import pydicom

    # CT fills a tenth of int16: the working range is its own min..max, so gaussian:25 adds
    # σ = 25/255 of what the slice spans, and the output records that range.
    src = folder / "sub" / "ct.dcm"
    result = ok(cli("noise", "add", "gaussian:25", src, "-o", tmp_path / "out"))
    assert "note:" not in result.output
    clean = pydicom.dcmread(src).pixel_array.astype(np.float64)
    noisy = pydicom.dcmread(tmp_path / "out" / "ct.dcm")
    diff = noisy.pixel_array - clean
    assert abs(diff.std() / (25 / 255 * (clean.max() - clean.min())) - 1) < 0.05
    assert "data range of this file" in noisy.ImageComments


def float_tiff(tmp_path: Path, value: float, name: str) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    tifffile.imwrite(path, np.full((256, 256), value, np.float32))
    return path


def noisy_values(cli, tmp_path: Path, spec: str, src: Path) -> np.ndarray:
    ok(cli("noise", "add", spec, src, "-o", tmp_path / "out", "--overwrite"))
    out = tifffile.imread(tmp_path / "out" / src.name)
    assert out.dtype == np.float32 and out.shape == (256, 256)
    return out.astype(np.float64)


def test_rician_is_gaussian_at_high_snr_and_rayleigh_at_zero(cli, tmp_path):
    sigma = 10 / 255
    y = noisy_values(cli, tmp_path, "rician:10", float_tiff(tmp_path, 0.8, "bright.tif"))
    assert abs(y.mean() - 0.8) < 0.1 * sigma  # bias σ²/2x ≈ 0.02 σ
    assert abs(y.std() / sigma - 1) < 0.02
    y0 = noisy_values(cli, tmp_path, "rician:10", float_tiff(tmp_path, 0.0, "zero.tif"))
    assert abs(y0.mean() / (sigma * math.sqrt(math.pi / 2)) - 1) < 0.02
    assert abs(y0.std() / (sigma * math.sqrt(2 - math.pi / 2)) - 1) < 0.03
    assert y0.min() >= 0


def test_float_output_keeps_values_outside_the_range(cli, tmp_path):
    y = noisy_values(cli, tmp_path, "gaussian:25", float_tiff(tmp_path, 0.0, "zero.tif"))
    assert y.min() < -0.2 and abs(y.std() / (25 / 255) - 1) < 0.02  # not clipped at 0


def test_integer_output_is_clipped_to_its_type(cli, tmp_path):
    src = tmp_path / "in" / "black.png"
    src.parent.mkdir()
    PILImage.fromarray(np.zeros((64, 64), np.uint8)).save(src)
    ok(cli("noise", "add", "gaussian:25", src, "-o", tmp_path / "out"))
    out = np.array(PILImage.open(tmp_path / "out" / "black.png"))
    assert out.dtype == np.uint8 and out.min() == 0 and 0.3 < (out == 0).mean() < 0.7


def test_impulse_replaces_the_given_fraction(cli, tmp_path):
    y = noisy_values(cli, tmp_path, "impulse:0.3", float_tiff(tmp_path, 2.0, "two.tif"))
    assert abs((y != 2.0).mean() - 0.3) < 0.01 and y[y != 2.0].max() < 1.0


def test_one_noise_level_per_file_for_stacks(cli, tmp_path):
    path = tmp_path / "in" / "stack.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, np.full((4, 128, 128), 0.5, np.float32), photometric="minisblack")
    ok(cli("noise", "add", "gaussian:5-50", path, "-o", tmp_path / "out"))
    out = tifffile.imread(tmp_path / "out" / "stack.tif")
    assert out.shape == (4, 128, 128)
    stds = out.reshape(4, -1).std(axis=1)
    assert stds.max() / stds.min() < 1.05


def test_refuses_existing_outputs_unless_overwrite(cli, tmp_path, folder):
    ok(cli("noise", "add", "gaussian:25", folder / "a.png", "-o", tmp_path / "out"))
    before = (tmp_path / "out" / "a.png").read_bytes()
    one_error_line(
        cli("noise", "add", "gaussian:25", folder, "-o", tmp_path / "out"), "a.png", "--overwrite"
    )
    assert sorted(files_under(tmp_path / "out")) == ["a.png"]  # nothing else written
    ok(
        cli(
            "noise",
            "add",
            "gaussian:25",
            folder / "a.png",
            "-o",
            tmp_path / "out",
            "--overwrite",
            "--seed",
            "9",
        )
    )
    assert (tmp_path / "out" / "a.png").read_bytes() != before


def test_never_overwrites_an_input(cli, tmp_path, folder):
    before = files_under(folder)
    one_error_line(
        cli("noise", "add", "gaussian:25", folder / "a.png", "-o", folder), "overwrite an input"
    )
    one_error_line(
        cli("noise", "add", "gaussian:25", folder / "a.png", "-o", folder, "--overwrite"),
        "overwrite an input",
    )
    assert files_under(folder) == before


def test_output_folder_inside_input_folder_is_not_read_back(cli, tmp_path, folder):
    ok(cli("noise", "add", "gaussian:25", folder / "a.png", "-o", folder / "noisy"))
    result = ok(cli("noise", "add", "gaussian:25", folder, "-o", folder / "noisy", "--overwrite"))
    assert "noisy/noisy" not in result.output and not (folder / "noisy" / "noisy").exists()


def test_user_errors_are_one_line_exit_2(cli, tmp_path, folder):
    out = tmp_path / "out"
    one_error_line(cli("noise", "add", "laplace:3", folder, "-o", out), "unknown kind")
    one_error_line(cli("noise", "add", "gaussian", folder, "-o", out), "no level")
    one_error_line(
        cli("noise", "add", "gaussian:25", tmp_path / "missing.png", "-o", out), "missing.png"
    )
    one_error_line(cli("noise", "add", "gaussian:25", folder, "-o", out, "--range", "1"), "--range")
    two = tmp_path / "two"
    (two / "x").mkdir(parents=True)
    (two / "x" / "a.png").write_bytes((folder / "a.png").read_bytes())
    one_error_line(
        cli("noise", "add", "gaussian:25", folder / "a.png", two / "x" / "a.png", "-o", out),
        "two inputs",
    )
    (tmp_path / "bad.png").write_text("not a png")
    one_error_line(cli("noise", "add", "gaussian:25", tmp_path / "bad.png", "-o", out), "bad.png")
    assert not out.exists() or not any(out.iterdir())


def test_help_mentions_clipping_and_specs(cli):
    result = cli("noise", "add", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "clipped" in text and "rician:25" in text and "--seed" in text
