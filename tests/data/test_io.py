"""Image I/O: bit-exact round trips per format, normalisation rules, DICOM derivation, errors."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo

from medenoise.data.io import (
    SUPPORTED_SUFFIXES,
    Image,
    from_array,
    is_image_file,
    read,
    to_array,
    write,
)
from medenoise.errors import UserError

RNG = np.random.default_rng(0)


def pydicom_file(name: str) -> Path:
    """A test file bundled with pydicom (never downloaded)."""
    import pydicom.data

    path = Path(pydicom.data.__file__).parent / "test_files" / name
    if not path.exists():
        pytest.skip(f"pydicom test file {name} not bundled")
    return path


def nibabel_file(name: str) -> Path:
    from nibabel.testing import data_path

    path = Path(data_path) / name
    if not path.exists():
        pytest.skip(f"nibabel test file {name} not bundled")
    return path


def pixels(path: Path) -> np.ndarray:
    with PILImage.open(path) as im:
        return np.array(im)


# ---------------------------------------------------------------- PNG / JPEG


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3)])
def test_png_uint8_round_trip_is_bit_exact(tmp_path, shape):
    a = RNG.integers(0, 256, shape, dtype=np.uint8)
    a.flat[:2] = (0, 255)
    src = tmp_path / "in.png"
    info = PngInfo()
    info.add(b"gAMA", struct.pack(">I", 45455))  # gamma 1/2.2 must be ignored: raw values only
    PILImage.fromarray(a).save(src, pnginfo=info)

    image = read(src)
    assert image.array.dtype == np.float32
    assert image.array.shape == (20, 30, 1 if len(shape) == 2 else 3)
    np.testing.assert_array_equal(
        image.array, (a.reshape(image.array.shape) / 255).astype(np.float32)
    )

    write(tmp_path / "out.png", image)
    with PILImage.open(tmp_path / "out.png") as out:
        assert out.mode == ("L" if len(shape) == 2 else "RGB")  # gray stays gray
        np.testing.assert_array_equal(np.array(out), a)


def test_png_uint16_gray_exact_and_full_scale(tmp_path):
    a = RNG.integers(0, 65536, (17, 23), dtype=np.uint16)
    a[0, :4] = (65535, 0, 257, 4095)
    a[1, :] = a[1, :] | 1  # odd values
    src = tmp_path / "in16.png"
    PILImage.fromarray(a).save(src)

    image = read(src)
    assert image.array[0, 0, 0] == 1.0 and image.array[0, 1, 0] == 0.0
    np.testing.assert_array_equal(np.rint(image.array[..., 0].astype(np.float64) * 65535), a)
    assert image.meta.scaling.dtype == "uint16"

    write(tmp_path / "out16.png", image)
    out = pixels(tmp_path / "out16.png")
    assert out.dtype == np.uint16 and out.ndim == 2
    np.testing.assert_array_equal(out, a)


def test_png_rgba_keeps_rgb_and_records_dropped_alpha(tmp_path):
    a = RNG.integers(0, 256, (8, 9, 4), dtype=np.uint8)
    PILImage.fromarray(a, "RGBA").save(tmp_path / "rgba.png")
    image = read(tmp_path / "rgba.png")
    assert image.array.shape == (8, 9, 3) and image.meta.alpha_dropped is True
    write(tmp_path / "rgb.png", image)
    np.testing.assert_array_equal(pixels(tmp_path / "rgb.png"), a[..., :3])


def test_png_16bit_rgb_is_refused_not_truncated(tmp_path):
    a = np.full((2, 2, 3), 300, dtype=">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in a)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    (tmp_path / "rgb16.png").write_bytes(png + chunk(b"IEND", b""))
    with pytest.raises(UserError, match="16-bit colour PNG"):
        read(tmp_path / "rgb16.png")


def test_jpeg_normalisation_exact_and_write_close(tmp_path):
    yy, xx = np.mgrid[0:64, 0:48]
    a = (128 + 100 * np.sin(xx / 7.0) * np.cos(yy / 9.0)).astype(np.uint8)
    PILImage.fromarray(a).save(tmp_path / "in.jpg", quality=90)
    decoded = pixels(tmp_path / "in.jpg")

    image = read(tmp_path / "in.jpg")
    assert image.meta.format == "jpeg"
    np.testing.assert_array_equal(image.array[..., 0], (decoded / 255).astype(np.float32))

    write(tmp_path / "out.jpeg", image)
    again = read(tmp_path / "out.jpeg")
    assert pixels(tmp_path / "out.jpeg").ndim == 2  # written as gray
    assert np.abs(again.array - image.array).mean() < 1.5 / 255
    assert np.abs(again.array - image.array).max() < 12 / 255


# ---------------------------------------------------------------- TIFF


@pytest.mark.parametrize(
    "array",
    [
        RNG.integers(0, 256, (12, 10), dtype=np.uint8),
        RNG.integers(0, 65536, (12, 10), dtype=np.uint16),
        RNG.integers(0, 65536, (12, 10, 3), dtype=np.uint16),
        (RNG.normal(size=(12, 10)) * 1000).astype(np.float32),  # floats are taken as given
    ],
    ids=["uint8", "uint16", "uint16-rgb", "float32"],
)
def test_tiff_round_trip_is_bit_exact(tmp_path, array):
    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", array)
    image = read(tmp_path / "in.tif")
    if array.dtype == np.float32:
        np.testing.assert_array_equal(image.array[..., 0], array)
    if array.dtype == np.uint16:
        assert image.meta.scaling.hi == 65535.0
    write(tmp_path / "out.tiff", image)
    out = tifffile.imread(tmp_path / "out.tiff")
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_tiff_stack_and_hyperstack_keep_their_shape(tmp_path):
    import tifffile

    stack = RNG.integers(0, 4096, (5, 16, 12), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    image = read(tmp_path / "stack.tif")
    assert image.array.shape == (5, 16, 12, 1)
    write(tmp_path / "stack_out.tif", image)
    with tifffile.TiffFile(tmp_path / "stack_out.tif") as tif:
        assert len(tif.pages) == 5
        np.testing.assert_array_equal(tif.asarray(), stack)

    hyper = RNG.integers(0, 256, (2, 3, 8, 7), dtype=np.uint8)
    tifffile.imwrite(
        tmp_path / "tzyx.tif", hyper, photometric="minisblack", metadata={"axes": "TZYX"}
    )
    image = read(tmp_path / "tzyx.tif")
    assert image.array.shape == (6, 8, 7, 1)
    np.testing.assert_array_equal(image.array[4, ..., 0] * 255, hyper[1, 1].astype(np.float32))
    write(tmp_path / "tzyx_out.tif", image)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "tzyx_out.tif"), hyper)


def test_tiff_32bit_int_and_nan_are_user_errors(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "i32.tif", np.zeros((4, 4), np.int32))
    with pytest.raises(UserError, match="32-bit integer"):
        read(tmp_path / "i32.tif")
    bad = np.zeros((4, 4), np.float32)
    bad[1, 1] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", bad)
    with pytest.raises(UserError, match="NaN"):
        read(tmp_path / "nan.tif")


# ---------------------------------------------------------------- DICOM


def decoded(path: Path) -> np.ndarray:
    import pydicom

    return pydicom.dcmread(path).pixel_array


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",  # int16 with rescale intercept -1024
        "MR_small.dcm",
        "MR_small_RLE.dcm",  # compressed (RLE lossless)
        "JPEG2000.dcm",  # compressed (JPEG 2000), one frame with NumberOfFrames
        "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, YBR_FULL -> RGB
        "SC_rgb_rle_2frame.dcm",  # compressed multi-frame RGB
        "MR_small_bigendian.dcm",
    ],
)
def test_dicom_untouched_round_trip_is_bit_exact(tmp_path, name):
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    src = pydicom_file(name)
    image = read(src)
    image.meta.derivation = "unit-test model v1"
    out = tmp_path / "out" / "x.dcm"  # parent folder is created
    write(out, image)

    a, b = pydicom.dcmread(src), pydicom.dcmread(out)
    np.testing.assert_array_equal(b.pixel_array, decoded(src))
    assert b.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    for keyword in (
        "PatientID",
        "StudyInstanceUID",
        "Rows",
        "Columns",
        "PixelSpacing",
        "BitsAllocated",
        "BitsStored",
        "PixelRepresentation",
    ):
        if keyword in a:
            assert b.get(keyword) == a.get(keyword), keyword
    assert b.SOPInstanceUID != a.SOPInstanceUID
    assert b.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID
    if "SeriesInstanceUID" in a:
        assert b.SeriesInstanceUID != a.SeriesInstanceUID
    assert list(b.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert b.DerivationDescription == "unit-test model v1"
    if a.SamplesPerPixel == 3:
        assert b.PhotometricInterpretation == "RGB"
    if "RescaleIntercept" in a:
        assert float(b.RescaleIntercept) == float(a.RescaleIntercept)


def test_dicom_ct_rescale_defines_the_range():
    image = read(pydicom_file("CT_small.dcm"))
    stored = decoded(pydicom_file("CT_small.dcm")).astype(np.float64)
    lo, hi = -32768 - 1024, 32767 - 1024  # signed 16-bit stored range through HU = s - 1024
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (lo, hi)
    np.testing.assert_allclose(image.array[..., 0], (stored - 1024 - lo) / (hi - lo), atol=1e-7)
    hu = read(pydicom_file("CT_small.dcm"), value_range=(-1024, 3071))  # --range in HU
    np.testing.assert_allclose(hu.array[..., 0], stored / 4095, atol=1e-6)


def _mr_variant(tmp_path: Path, name: str, array: np.ndarray, **tags) -> Path:
    """MR_small with different pixel data and Image Pixel tags."""
    import pydicom

    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = array.astype("<" + array.dtype.str[1:]).tobytes()
    path = tmp_path / name
    ds.save_as(path)
    return path


def test_dicom_bits_stored_12_maps_4095_to_one_and_clips_to_12_bits(tmp_path):
    import pydicom

    a = RNG.integers(0, 4096, (64, 64)).astype(np.uint16)
    a[0, 0], a[0, 1] = 4095, 0
    src = _mr_variant(tmp_path, "b12.dcm", a, PixelRepresentation=0, BitsStored=12, HighBit=11)
    image = read(src)
    assert image.array[0, 0, 0] == 1.0 and image.array[0, 1, 0] == 0.0
    np.testing.assert_array_equal(np.rint(image.array[..., 0] * 4095.0), a)

    changed = Image(image.array * 0.5, image.meta)  # a "denoised" result is rounded ...
    changed.array[5, 5, 0] = 1.7  # ... and clipped only to the 12 stored bits, not 16 or 8
    write(tmp_path / "half.dcm", changed)
    out = pydicom.dcmread(tmp_path / "half.dcm").pixel_array
    expected = np.rint(image.array[..., 0].astype(np.float64) * 0.5 * 4095)
    expected[5, 5] = 4095
    np.testing.assert_array_equal(out, expected)


def test_dicom_slope_intercept_and_monochrome1(tmp_path):
    import pydicom

    a = RNG.integers(0, 4096, (64, 64)).astype(np.uint16)
    tags = dict(PixelRepresentation=0, BitsStored=12, HighBit=11)
    src = _mr_variant(
        tmp_path,
        "m1.dcm",
        a,
        PhotometricInterpretation="MONOCHROME1",
        RescaleSlope=2,
        RescaleIntercept=-100,
        **tags,
    )
    image = read(src)
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (-100.0, 4095 * 2 - 100.0)
    # MONOCHROME1: high stored value is dark, so it maps near 0 (bright = dense after inversion)
    np.testing.assert_allclose(image.array[..., 0], 1 - a / 4095, atol=1e-6)
    write(tmp_path / "m1_out.dcm", image)
    out = pydicom.dcmread(tmp_path / "m1_out.dcm")
    assert out.PhotometricInterpretation == "MONOCHROME1"
    np.testing.assert_array_equal(out.pixel_array, a)
    ranged = read(src, value_range=(0, 1000))  # override in rescaled units
    np.testing.assert_allclose(ranged.array[..., 0], 1 - (2.0 * a - 100) / 1000, atol=1e-5)


def test_dicom_multiframe_gray(tmp_path):
    import pydicom

    frames = RNG.integers(0, 4096, (3, 64, 64)).astype(np.uint16)
    src = _mr_variant(
        tmp_path,
        "mf.dcm",
        frames,
        NumberOfFrames=3,
        PixelRepresentation=0,
        BitsStored=12,
        HighBit=11,
    )
    image = read(src)
    assert image.array.shape == (3, 64, 64, 1)
    write(tmp_path / "mf_out.dcm", image)
    out = pydicom.dcmread(tmp_path / "mf_out.dcm")
    assert int(out.NumberOfFrames) == 3
    np.testing.assert_array_equal(out.pixel_array, frames)


def test_dicom_errors_do_not_leak_patient_data(tmp_path):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.PatientName = "Secret^Person"
    ds.SOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    pydicom.dcmwrite(tmp_path / "nopix.dcm", ds, enforce_file_format=True)
    with pytest.raises(UserError) as err:
        read(tmp_path / "nopix.dcm")
    assert "Secret" not in str(err.value) and "pixel data" in str(err.value)


def test_dicom_cross_format_writes(tmp_path):
    ct = read(pydicom_file("CT_small.dcm"))
    with pytest.raises(UserError, match="int16"):
        write(tmp_path / "ct.png", ct)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    write(tmp_path / "ct.tif", ct)
    import tifffile

    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "ct.tif"), decoded(pydicom_file("CT_small.dcm"))
    )
    with pytest.raises(UserError, match="DICOM"):
        write(tmp_path / "x.dcm", from_array(np.zeros((4, 4), np.uint8)))


# ---------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("name", ["example4d.nii.gz", "anatomical.nii"])
def test_nifti_round_trip_keeps_shape_affine_dtype_values(tmp_path, name):
    import nibabel as nib

    src = nibabel_file(name)
    image = read(src)
    a = nib.load(src)
    x, y, z = a.shape[:3]
    extra = a.shape[3] if len(a.shape) == 4 else 1
    assert image.array.shape == (z * extra, x, y, 1)  # axial slices (last spatial axis), time outer
    np.testing.assert_array_equal(
        np.rint(image.array[1, ..., 0].astype(np.float64) * 65535 - 32768),
        np.asarray(a.dataobj)[:, :, 1, 0] if extra > 1 else np.asarray(a.dataobj)[:, :, 1],
    )
    out = tmp_path / ("out" + (".nii.gz" if name.endswith(".gz") else ".nii"))
    write(out, image)
    b = nib.load(out)
    assert b.shape == a.shape
    assert b.get_data_dtype() == a.get_data_dtype()
    np.testing.assert_array_equal(b.affine, a.affine)
    np.testing.assert_array_equal(np.asarray(b.dataobj), np.asarray(a.dataobj))


def test_nifti_scaling_axis_and_float(tmp_path):
    import nibabel as nib

    from medenoise.data.io.nifti import read_nifti

    raw = RNG.integers(-500, 3000, (6, 7, 5)).astype(np.int16)
    img = nib.Nifti1Image(raw, np.diag([0.5, 0.7, 2.0, 1.0]))
    img.header.set_slope_inter(0.5, 10)
    nib.save(img, tmp_path / "scaled.nii")

    image = read(tmp_path / "scaled.nii")
    lo, hi = -32768 * 0.5 + 10, 32767 * 0.5 + 10
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (lo, hi)
    np.testing.assert_allclose(
        image.array[2, ..., 0], (raw[:, :, 2] * 0.5 + 10 - lo) / (hi - lo), atol=1e-7
    )
    write(tmp_path / "scaled_out.nii.gz", image)
    back = nib.load(tmp_path / "scaled_out.nii.gz")
    assert (back.dataobj.slope, back.dataobj.inter) == (0.5, 10)
    np.testing.assert_array_equal(back.dataobj.get_unscaled(), raw)

    sagittal = read_nifti(tmp_path / "scaled.nii", axis=0)
    assert sagittal.array.shape == (6, 7, 5, 1) and sagittal.meta.nifti.axis == 0
    write(tmp_path / "sag.nii", sagittal)
    np.testing.assert_array_equal(nib.load(tmp_path / "sag.nii").dataobj.get_unscaled(), raw)

    floats = RNG.normal(size=(5, 4, 3)).astype(np.float32) * 300
    nib.save(nib.Nifti1Image(floats, np.eye(4)), tmp_path / "f.nii.gz")
    image = read(tmp_path / "f.nii.gz")
    np.testing.assert_array_equal(image.array[1, ..., 0], floats[:, :, 1])
    write(tmp_path / "f_out.nii.gz", image)
    np.testing.assert_array_equal(
        nib.load(tmp_path / "f_out.nii.gz").get_fdata(dtype=np.float32), floats
    )


def test_nifti_5d_is_user_error(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 2, 2), np.int16), np.eye(4)), tmp_path / "5d.nii")
    with pytest.raises(UserError, match="5-D"):
        read(tmp_path / "5d.nii")


# ---------------------------------------------------------------- arrays, errors, API


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
