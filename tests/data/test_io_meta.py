"""Typed image metadata: the scaling record, per-format records, provenance and copies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sample_files import pydicom_file

from image_bytes import dicom_bytes, nifti_bytes, png_bytes, tiff_bytes
from medenoise.data.io import (
    DicomInfo,
    Image,
    ImageMeta,
    NiftiInfo,
    Scaling,
    TiffInfo,
    from_array,
    read,
    to_array,
    write,
)
from medenoise.data.io.common import set_provenance

RNG = np.random.default_rng(5)
GRAY16 = RNG.integers(0, 4096, (12, 10), dtype=np.uint16)


def test_each_format_fills_its_own_record_and_no_other(tmp_path):
    files = {
        "a.png": (png_bytes(GRAY16), "png", None),
        "a.tif": (tiff_bytes(np.stack([GRAY16] * 3), photometric="minisblack"), "tiff", TiffInfo),
        "a.dcm": (dicom_bytes(GRAY16), "dicom", DicomInfo),
        "a.nii": (nifti_bytes(GRAY16.astype(np.int16)[..., None], gz=False), "nifti", NiftiInfo),
    }
    for name, (data, fmt, record) in files.items():
        (tmp_path / name).write_bytes(data)
        meta = read(tmp_path / name).meta
        assert isinstance(meta, ImageMeta) and isinstance(meta.scaling, Scaling)
        assert meta.format == fmt and meta.source == str(tmp_path / name)
        records = {DicomInfo: meta.dicom, NiftiInfo: meta.nifti, TiffInfo: meta.tiff}
        for kind, value in records.items():
            assert isinstance(value, kind) if kind is record else value is None, (name, kind)
        assert (meta.derivation, meta.uid_seed, meta.series_note) == (None, None, None)


def test_format_records_hold_what_the_writers_need(tmp_path):
    (tmp_path / "a.dcm").write_bytes(dicom_bytes(GRAY16))
    dicom = read(tmp_path / "a.dcm").meta
    assert dicom.dicom.bits_stored == 12 and dicom.dicom.photometric == "MONOCHROME2"
    assert not dicom.dicom.multiframe and "PixelData" not in dicom.dicom.dataset
    source = dicom.scaling.range_source
    assert source is not None and "BitsStored 12" in source
    stored_12_bits = Scaling("uint16", -1024.0, 3071.0, inter=-1024.0, clip=(0, 4095))
    assert dicom.scaling == dataclasses.replace(stored_12_bits, range_source=source)
    (tmp_path / "v.nii.gz").write_bytes(nifti_bytes(RNG.integers(0, 9, (4, 5, 6), np.int16)))
    nifti = read(tmp_path / "v.nii.gz", axis=0).meta.nifti
    assert nifti.shape == (4, 5, 6) and nifti.axis == 0 and nifti.order == (0, 1, 2)
    assert nifti.ondisk_dtype == np.dtype(np.int16).str and not nifti.scaled
    hyper = RNG.integers(0, 255, (2, 3, 8, 9), np.uint8)
    (tmp_path / "h.tif").write_bytes(
        tiff_bytes(hyper, photometric="minisblack", metadata={"axes": "TZYX"})
    )
    assert read(tmp_path / "h.tif").meta.tiff == TiffInfo("TZ", (2, 3))


def test_scaling_is_frozen_and_meta_copies_are_independent():
    image = from_array(RNG.integers(0, 256, (6, 5), dtype=np.uint8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        image.meta.scaling.lo = 5.0  # type: ignore[misc]
    copied = Image(image.array.copy(), image.meta.copy())
    set_provenance(copied, "model x", uid_seed="seed", series_note="note")
    assert (copied.meta.derivation, copied.meta.uid_seed, copied.meta.series_note) == (
        "model x",
        "seed",
        "note",
    )
    assert (image.meta.derivation, image.meta.uid_seed, image.meta.series_note) == (None,) * 3
    assert copied.meta.scaling is image.meta.scaling and copied.meta.ndim == 2
    np.testing.assert_array_equal(to_array(copied), to_array(image))


def test_set_provenance_keeps_earlier_values_it_is_not_given():
    image = from_array(np.zeros((4, 4), np.uint8))
    set_provenance(image, "first", uid_seed="s1", series_note="n1")
    set_provenance(image, "second")
    assert (image.meta.derivation, image.meta.uid_seed, image.meta.series_note) == (
        "second",
        "s1",
        "n1",
    )


def test_provenance_set_on_a_copy_reaches_the_dicom_output(tmp_path):
    import pydicom

    image = read(pydicom_file("MR_small.dcm"))
    noisy = Image(image.array.copy(), image.meta.copy())
    set_provenance(noisy, "medenoise noise add", uid_seed="a", series_note="with noise")
    write(tmp_path / "noisy.dcm", noisy)
    write(tmp_path / "plain.dcm", image)
    out, plain = pydicom.dcmread(tmp_path / "noisy.dcm"), pydicom.dcmread(tmp_path / "plain.dcm")
    assert out.DerivationDescription == "medenoise noise add"
    assert out.SeriesDescription.endswith("with noise")
    assert plain.DerivationDescription == "medenoise" and plain.SeriesDescription.endswith(
        "denoised"
    )


def test_a_bare_image_is_float_in_zero_one():
    bare = Image(np.array([[[0.25], [1.0]]], np.float32))
    assert bare.meta == ImageMeta() and bare.meta.scaling.range_source is None
    back = to_array(bare)
    assert back.dtype == np.float32 and back.shape == (1, 2)
    np.testing.assert_array_equal(back, [[0.25, 1.0]])
