"""DICOM pixel padding: out of the working range, flat for the model, written back as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sample_files import pydicom_file

from medenoise.data.io import read, write

PAD = -2000  # stored; with intercept -1024 this is -3024 HU, as on the shared CT series


def _padded_ct(tmp_path: Path, name: str, *, as_us: bool, limit: int | None = None) -> Path:
    """CT_small with the corners outside a circle set to padding, tagged as real scanners do."""
    import pydicom
    from pydicom.dataelem import DataElement

    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    array = ds.pixel_array.astype(np.int16)
    yy, xx = np.mgrid[: array.shape[0], : array.shape[1]]
    outside = (yy - 63.5) ** 2 + (xx - 63.5) ** 2 > 60**2
    array[outside] = PAD if limit is None else np.where((yy + xx)[outside] % 2, PAD, limit)
    ds.PixelData = array.astype("<i2").tobytes()
    # US holding the two's complement (63536) is what one of the shared series carries
    value = PAD + 2**16 if as_us else PAD
    ds.add(DataElement(0x00280120, "US" if as_us else "SS", value))
    if limit is not None:
        ds.add(DataElement(0x00280121, "SS", limit))
    path = tmp_path / name
    ds.save_as(path)
    return path


@pytest.mark.parametrize("as_us", [True, False])
def test_padding_is_left_out_of_the_range_and_shown_flat(tmp_path, as_us):
    import pydicom

    path = _padded_ct(tmp_path, "pad.dcm", as_us=as_us)
    stored = pydicom.dcmread(path).pixel_array
    data = stored[stored != PAD].astype(np.float64)
    lo, hi = np.percentile(data, (0.01, 99.99), method="inverted_cdf") - 1024
    image = read(path)
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (lo, hi)
    x = image.array[..., 0]
    assert np.all(x[stored == PAD] == 0.0)  # the low end, like air: no cliff below it


def test_padding_comes_back_unchanged_after_processing(tmp_path):
    import pydicom

    path = _padded_ct(tmp_path, "pad.dcm", as_us=True)
    image = read(path)
    write(tmp_path / "same.dcm", image)
    np.testing.assert_array_equal(pydicom.dcmread(tmp_path / "same.dcm").pixel_array,
                                  pydicom.dcmread(path).pixel_array)  # fmt: skip
    image.array = image.array * 0.9 + 0.05  # any processing moves every pixel
    write(tmp_path / "moved.dcm", image)
    before = pydicom.dcmread(path).pixel_array
    after = pydicom.dcmread(tmp_path / "moved.dcm").pixel_array
    padded = before == PAD
    np.testing.assert_array_equal(after[padded], PAD)
    assert np.abs(after[~padded].astype(int) - before[~padded]).max() > 10


def test_padding_range_limit_marks_every_value_between(tmp_path):
    path = _padded_ct(tmp_path, "range.dcm", as_us=False, limit=-1500)
    image = read(path)
    assert image.meta.scaling.lo >= -1024 - 1024  # neither -3024 nor -2524 HU
    assert image.meta.dicom.padding.sum() == image.meta.dicom.padding_values.size
    assert set(np.unique(image.meta.dicom.padding_values)) == {PAD, -1500}


def test_a_series_range_leaves_padding_out(tmp_path):
    from medenoise.data.io.series import read_series

    paths = [_padded_ct(tmp_path, f"s{i}.dcm", as_us=bool(i)) for i in range(2)]
    volume = read_series(paths)
    assert volume.meta.scaling.lo > -3024 + 500
    masks = [m.dicom.padding for m in volume.meta.series.slices]
    for plane, mask in zip(volume.array, masks, strict=True):
        assert np.all(plane[mask] == 0.0)
