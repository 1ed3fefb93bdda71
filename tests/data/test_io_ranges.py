"""Value ranges: DICOM BitsStored + PixelRepresentation, recorded sources, overrides, hints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sample_files import pydicom_file

from medenoise.data.io import Image, from_array, range_note, read, to_array, write

RNG = np.random.default_rng(1)


def ct_variant(tmp_path: Path, array: np.ndarray, bits: int, name: str = "ct.dcm") -> Path:
    """CT_small (signed, intercept -1024) with other pixels and BitsStored."""
    import pydicom

    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.Rows, ds.Columns = array.shape
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 1
    ds.PixelData = array.astype("<i2").tobytes()
    path = tmp_path / name
    ds.save_as(path)
    return path


def test_signed_12_bit_dicom_uses_its_stored_range_through_the_rescale(tmp_path):
    import pydicom

    a = RNG.integers(-2048, 2048, (32, 32)).astype(np.int16)
    a[0, :2] = (-2048, 2047)
    src = ct_variant(tmp_path, a, 12)
    image = read(src)
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (-2048 - 1024, 2047 - 1024)
    assert "BitsStored 12" in image.meta.scaling.range_source
    assert "signed" in image.meta.scaling.range_source
    assert image.array[0, 0, 0] == 0.0 and image.array[0, 1, 0] == 1.0
    np.testing.assert_allclose(image.array[..., 0], (a + 2048) / 4095, atol=1e-7)

    write(tmp_path / "same.dcm", image)  # untouched: bit-exact
    out = pydicom.dcmread(tmp_path / "same.dcm")
    assert (out.BitsStored, out.PixelRepresentation) == (12, 1)
    np.testing.assert_array_equal(out.pixel_array, a)

    changed = Image(image.array.copy(), image.meta)
    changed.array[1, 1, 0], changed.array[1, 2, 0] = 1.5, -0.5  # clipped to 12 signed bits only
    write(tmp_path / "clip.dcm", changed)
    got = pydicom.dcmread(tmp_path / "clip.dcm").pixel_array
    assert (got[1, 1], got[1, 2]) == (2047, -2048)


def test_signed_16_bit_dicom_keeps_the_full_range_when_the_data_fill_it(tmp_path):
    wide = RNG.integers(-32768, 32768, (16, 16)).astype(np.int16)
    image = read(ct_variant(tmp_path, wide, 16))
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (-32768 - 1024, 32767 - 1024)
    assert "BitsStored 16" in image.meta.scaling.range_source
    assert "all 16 allocated bits" in image.meta.scaling.range_source


def test_a_sliver_of_int16_gets_the_data_range_and_no_note():
    import pydicom

    image = read(pydicom_file("CT_small.dcm"))  # tissue sits in ~0.50-0.53 of int16
    hu = pydicom.dcmread(pydicom_file("CT_small.dcm")).pixel_array.astype(np.float64) - 1024
    lo, hi = np.percentile(hu, (0.01, 99.99), method="inverted_cdf")  # robust ends
    assert (hu.min(), hu.max()) != (lo, hi)
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (lo, hi)
    assert image.meta.scaling.range_source.startswith("data range of this file (0.01..99.99 %")
    np.testing.assert_allclose(image.array[..., 0], (hu - lo) / (hi - lo), atol=1e-6)
    assert range_note(image) is None
    dark = from_array(RNG.integers(0, 9, (16, 16), dtype=np.uint8))  # 8-bit stays on 0..255
    assert dark.meta.scaling.hi == 255.0 and "--range" in range_note(dark)


def test_value_range_override_is_recorded_and_round_trips(tmp_path):
    import pydicom

    src = pydicom_file("CT_small.dcm")
    image = read(src, value_range=(-1024, 3071))  # HU window
    assert image.meta.scaling.range_source == "given value range"
    assert range_note(image) is None
    assert image.array.min() >= 0 and image.array.max() <= 1
    write(tmp_path / "ct.dcm", image)
    np.testing.assert_array_equal(
        pydicom.dcmread(tmp_path / "ct.dcm").pixel_array, pydicom.dcmread(src).pixel_array
    )
    a = RNG.integers(-500, 1500, (8, 9)).astype(np.int16)
    arr = from_array(a, value_range=(-1000, 2000))
    assert arr.meta.scaling.range_source == "given value range"
    np.testing.assert_allclose(arr.array[..., 0], (a + 1000) / 3000, atol=1e-7)
    np.testing.assert_array_equal(to_array(arr), a)


def test_range_sources_of_other_formats(tmp_path):
    import nibabel as nib
    import tifffile

    assert from_array(np.zeros((4, 4), np.uint16)).meta.scaling.range_source == "uint16 range"
    raw = RNG.integers(-30000, 30000, (6, 5, 4)).astype(np.int16)  # fills int16
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_slope_inter(2.0, -5.0)
    nib.save(img, tmp_path / "v.nii")
    meta = read(tmp_path / "v.nii").meta
    assert (
        meta.scaling.range_source.startswith("int16 range")
        and "scl_slope 2" in meta.scaling.range_source
    )
    tifffile.imwrite(tmp_path / "f.tif", np.linspace(-300, 300, 16, dtype=np.float32).reshape(4, 4))
    floats = read(tmp_path / "f.tif")  # far outside [0, 1]: their own min..max
    assert (floats.meta.scaling.lo, floats.meta.scaling.hi) == (-300.0, 300.0)
    assert floats.meta.scaling.range_source.startswith("data range of this file")
    assert range_note(floats) is None
    tifffile.imwrite(tmp_path / "g.tif", RNG.random((4, 4), dtype=np.float32))
    on_unit = read(tmp_path / "g.tif")
    assert on_unit.meta.scaling.range_source == "float values taken as given"
    assert range_note(on_unit) is None
    full = from_array(RNG.integers(0, 256, (16, 16), dtype=np.uint8))
    assert range_note(full) is None


def test_dicom_uid_seed_makes_outputs_reproducible(tmp_path):
    import pydicom

    src = pydicom_file("MR_small.dcm")
    uids = []
    for i, seed in enumerate(["run a", "run a", "run b", None]):
        image = read(src)
        image.meta.uid_seed = seed
        image.meta.series_note = "with synthetic noise"
        write(tmp_path / f"{i}.dcm", image)
        uids.append(pydicom.dcmread(tmp_path / f"{i}.dcm").SOPInstanceUID)
    assert uids[0] == uids[1] and len(set(uids)) == 3
    assert (tmp_path / "0.dcm").read_bytes() == (tmp_path / "1.dcm").read_bytes()
    assert pydicom.dcmread(tmp_path / "0.dcm").SeriesDescription.endswith("with synthetic noise")
