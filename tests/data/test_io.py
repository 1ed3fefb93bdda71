"""Image I/O across formats: arrays in memory, bad files, never overwriting, light import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image as PILImage
from sample_files import pydicom_file

from medenoise.data.io import (
    SUPPORTED_SUFFIXES,
    from_array,
    is_image_file,
    read,
    to_array,
    write,
)
from medenoise.errors import UserError

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "array",
    [
        RNG.integers(0, 256, (5, 6), dtype=np.uint8),
        RNG.integers(0, 65536, (5, 6, 3), dtype=np.uint16),
        RNG.normal(size=(5, 6)),
        RNG.integers(-32768, 32767, (5, 6, 1), dtype=np.int16),
    ],
)
def test_from_array_to_array_inverse(array):
    image = from_array(array)
    assert image.array.dtype == np.float32 and image.array.ndim == 3
    back = to_array(image)
    assert back.dtype == array.dtype and back.shape == array.shape
    if array.dtype.kind == "f":
        np.testing.assert_allclose(back, array, rtol=1e-6)
    else:
        np.testing.assert_array_equal(back, array)
    if array.dtype == np.uint16:
        assert from_array(np.full((2, 2), 65535, np.uint16)).array.max() == 1.0


def test_bad_files_raise_user_error(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UserError, match="empty") as err:
        read(tmp_path / "empty.png")
    assert err.value.path == str(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("this is not an image\n")
    with pytest.raises(UserError):
        read(tmp_path / "text.png")
    (tmp_path / "text.dcm").write_text("not dicom either\n" * 20)
    with pytest.raises(UserError):
        read(tmp_path / "text.dcm")
    (tmp_path / "text.nii.gz").write_text("nope")
    with pytest.raises(UserError):
        read(tmp_path / "text.nii.gz")
    PILImage.fromarray(RNG.integers(0, 256, (64, 64), dtype=np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:200])
    with pytest.raises(UserError):
        read(tmp_path / "cut.png")
    (tmp_path / "x.bmp").write_bytes(b"BM" + bytes(100))
    with pytest.raises(UserError, match="unknown image type"):
        read(tmp_path / "x.bmp")
    with pytest.raises(UserError, match="not found"):
        read(tmp_path / "missing.tif")


def test_write_never_overwrites_the_input(tmp_path):
    a = RNG.integers(0, 256, (6, 6), dtype=np.uint8)
    src = tmp_path / "in.png"
    PILImage.fromarray(a).save(src)
    before = src.read_bytes()
    image = read(src)
    image.array[:] = 0
    with pytest.raises(UserError, match="overwrite"):
        write(tmp_path / "." / "in.png", image)
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]  # no temp file left


def test_suffixes_and_is_image_file(tmp_path):
    for suffix in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".nii", ".nii.gz"):
        assert suffix in SUPPORTED_SUFFIXES
    assert all(s == s.lower() for s in SUPPORTED_SUFFIXES)
    assert is_image_file("scan.NII.GZ") and is_image_file("a/b/c.TIF")
    assert not is_image_file("notes.txt") and not is_image_file("volume.gz")
    noext = tmp_path / "IM0001"
    noext.write_bytes(pydicom_file("MR_small.dcm").read_bytes())
    assert is_image_file(noext) and read(noext).meta.format == "dicom"
    (tmp_path / "dir.png").mkdir()
    assert not is_image_file(tmp_path / "dir.png")


def test_package_import_stays_light():
    code = (
        "import sys, medenoise.data.io as io; "
        "heavy = {'pydicom', 'nibabel', 'tifffile', 'PIL', 'torch'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
