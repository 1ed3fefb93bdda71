"""Image I/O for TIFF: bit-exact round trips, stacks and hyperstacks, refused pixel types."""

from __future__ import annotations

import numpy as np
import pytest

from medenoise.data.io import read, write
from medenoise.errors import UserError

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "array",
    [
        RNG.integers(0, 256, (12, 10), dtype=np.uint8),
        RNG.integers(0, 65536, (12, 10), dtype=np.uint16),
        RNG.integers(0, 65536, (12, 10, 3), dtype=np.uint16),
        np.abs(RNG.normal(size=(12, 10)) * 1000).astype(np.float32),  # over 1: divided by 2^k
    ],
    ids=["uint8", "uint16", "uint16-rgb", "float32"],
)
def test_tiff_round_trip_is_bit_exact(tmp_path, array):
    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", array)
    image = read(tmp_path / "in.tif")
    if array.dtype == np.float32:
        top = 2.0 ** np.ceil(np.log2(array.max()))  # a power of two: division is exact
        np.testing.assert_array_equal(image.array[..., 0], array / np.float32(top))
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
