"""Image I/O for DICOM: bit-exact round trips, rescale and bits stored, derived instances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sample_files import pydicom_file

from medenoise.data.io import Image, from_array, read, write
from medenoise.errors import UserError

RNG = np.random.default_rng(0)


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
    # CT fills a tenth of the signed 16-bit range: the working range is its own HU range
    # (0.01 and 99.99 % percentiles, the values at those ranks)
    lo, hi = np.percentile(stored, (0.01, 99.99), method="inverted_cdf") - 1024
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (lo, hi)
    assert image.meta.scaling.range_source.startswith("data range of this file")
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
