"""Image I/O for PNG and JPEG: bit-exact round trips, alpha, 16-bit, lossy writes."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo
from sample_files import pixels

from medenoise.data.io import read, write
from medenoise.errors import UserError

RNG = np.random.default_rng(0)


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
