"""`read`'s checks hold for every format and every option: damaged files and values that are
not finite (stored, or once scaled) are one UserError, whatever --range or --axis says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from image_bytes import dicom_bytes, nifti_bytes, png_bytes, tiff_bytes, truncated
from medenoise.data.io import read
from medenoise.errors import UserError

RNG = np.random.default_rng(3)
GRAY16 = RNG.integers(0, 4096, (24, 20), dtype=np.uint16)
# (lo, hi) so narrow that scaled values overflow float32: finite numbers, infinite result.
OVERFLOWING = (0.0, 1e-300)
# read's options: the defaults, a value range, every slice axis (ignored but for NIfTI).
OPTIONS = [
    {},
    {"value_range": (0.0, 4095.0)},
    {"axis": 0},
    {"axis": 1},
    {"axis": 2},
    {"axis": 0, "value_range": (0.0, 4095.0)},
]


def jpeg_bytes(array: np.ndarray) -> bytes:
    """A JPEG of `array` (8-bit)."""
    import io

    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="JPEG")
    return buf.getvalue()


# One valid file per format (several pages or slices where the format has them).
GOOD = {
    "png": lambda: png_bytes(GRAY16),
    "jpg": lambda: jpeg_bytes(RNG.integers(0, 256, (96, 96), dtype=np.uint8)),  # past headers
    "tif": lambda: tiff_bytes(np.stack([GRAY16, GRAY16]), photometric="minisblack"),
    "dcm": lambda: dicom_bytes(GRAY16),
    "nii": lambda: nifti_bytes(np.stack([GRAY16.astype(np.int16)] * 3, -1), gz=False),
    "nii.gz": lambda: nifti_bytes(np.stack([GRAY16.astype(np.int16)] * 3, -1)),
}


def put(tmp_path: Path, name: str, data: bytes) -> Path:
    """Write `data` to tmp_path/name and return the path."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(map(str, o.items())) or "-")
@pytest.mark.parametrize("suffix", sorted(GOOD))
def test_damaged_files_are_one_user_error_with_any_option(tmp_path, suffix, options):
    good = put(tmp_path, f"good.{suffix}", GOOD[suffix]())
    read(good, **options)  # the whole file reads fine with these options
    cut = put(tmp_path, f"cut.{suffix}", truncated(good.read_bytes(), 0.5))
    with pytest.raises(UserError, match="damaged or incomplete") as err:
        read(cut, **options)
    assert err.value.path == str(cut) and "\n" not in str(err.value)


@pytest.mark.parametrize("axis", ["auto", 0, 1, 2])
@pytest.mark.parametrize("suffix", sorted(GOOD))
def test_values_overflowing_once_scaled_are_refused_with_any_option(tmp_path, suffix, axis):
    path = put(tmp_path, f"x.{suffix}", GOOD[suffix]())
    image = read(path, axis=axis, value_range=(0.0, 4095.0))
    assert np.isfinite(image.array).all()
    with pytest.raises(UserError, match="not finite once scaled") as err:
        read(path, value_range=OVERFLOWING, axis=axis)
    assert err.value.path == str(path)


@pytest.mark.parametrize("axis", ["auto", 0, 1, 2])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_stored_nan_or_inf_are_refused_for_every_axis(tmp_path, value, axis):
    volume = RNG.random((8, 6, 4), dtype=np.float32)
    volume[2, 3, 1] = value
    nifti = put(tmp_path, "v.nii.gz", nifti_bytes(volume))
    with pytest.raises(UserError, match="NaN or Inf"):
        read(nifti, axis=axis)
    with pytest.raises(UserError, match="NaN or Inf"):
        read(nifti, axis=axis, value_range=(0.0, 1.0))
    pages = put(tmp_path, "v.tif", tiff_bytes(volume, photometric="minisblack"))
    with pytest.raises(UserError, match="NaN or Inf"):
        read(pages, axis=axis, value_range=(0.0, 1.0))


def test_damaged_nifti_with_axis_is_one_error_line_exit_2(tmp_path, cli):
    cut = put(tmp_path, "cut.nii.gz", truncated(GOOD["nii.gz"](), 0.5))
    with pytest.raises(UserError, match="damaged or incomplete"):
        read(cut, axis=0)
    args = ["denoise", str(cut), "-o", str(tmp_path / "out"), "--model", "identity"]
    result = cli(*args, "--axis", "0")
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {cut}: "), lines
    assert "damaged or incomplete" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
