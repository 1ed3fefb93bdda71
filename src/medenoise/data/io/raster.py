"""PNG and JPEG via Pillow: raw stored values (gAMA ignored), 8-bit gray/RGB, 16-bit gray PNG.

Pillow silently truncates 16-bit colour PNGs to 8 bits, so those are refused rather than
degraded; 16-bit colour belongs in TIFF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medenoise.data.io.common import (
    Image,
    ImageMeta,
    atomic_write,
    damaged,
    denormalise,
    normalise,
    scaling_for,
    to_hwc,
)
from medenoise.errors import UserError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_QUALITY = 95  # lossy either way; high quality and no chroma subsampling keep it faithful


def _png_header(path: Path) -> tuple[int, int, bool] | None:
    """(bit depth, colour type, interlaced) from the IHDR chunk, or None if not a PNG."""
    with path.open("rb") as f:
        head = f.read(33)
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR" or len(head) < 29:
        return None
    return head[24], head[25], bool(head[28])


def read_raster(path: Path, value_range: tuple[float, float] | None = None) -> Image:
    """Read a PNG or JPEG (decided by content, not suffix) as an Image."""
    from PIL import Image as PILImage

    header = _png_header(path)
    if header is not None and header[0] == 16 and header[1] in (2, 4, 6):
        raise UserError(
            "16-bit colour PNG is not supported (it would be truncated to 8 bits); "
            "convert it to a 16-bit TIFF",
            path,
        )
    try:
        with PILImage.open(path) as im:
            im.load()
            fmt = (im.format or "").lower()
            mode = im.mode
            if fmt not in ("png", "jpeg", "mpo"):
                raise UserError(f"expected a PNG or JPEG image, found {im.format}", path)
            alpha_dropped = mode in ("RGBA", "LA", "PA") or (
                mode == "P" and "transparency" in im.info
            )
            if mode in ("LA", "La") or mode == "1":
                im = im.convert("L")
            elif mode in ("RGBA", "P", "PA", "CMYK", "YCbCr", "RGBX", "RGBa"):
                im = im.convert("RGB")
            array = np.array(im)
    except UserError:
        raise
    except PILImage.UnidentifiedImageError:
        kind = "PNG" if path.suffix.lower() == ".png" else "PNG or JPEG"
        raise UserError(
            f"not a PNG or JPEG image (the content is no picture Pillow knows); give a real "
            f"{kind} file or rename it to its true type",
            path,
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise damaged("PNG/JPEG", exc, path) from exc
    if header is not None and header[0] == 16:  # gray 16-bit: Pillow gives I;16 or int32 I
        array = array.astype(np.uint16)
    if array.dtype not in (np.uint8, np.uint16) or array.ndim not in (2, 3):
        raise UserError(f"unsupported {fmt.upper()} pixel mode {mode!r}", path)
    meta = ImageMeta(
        format="jpeg" if fmt in ("jpeg", "mpo") else "png",
        source=str(path),
        scaling=scaling_for(array.dtype, path, value_range=value_range, data=array),
        alpha_dropped=alpha_dropped,
    )
    return Image(normalise(to_hwc(array, path), meta.scaling), meta)


def _single_image(image: Image, path: Path, what: str) -> np.ndarray:
    """Stored values as (H, W) or (H, W, 3); stacks of one are accepted."""
    stored = denormalise(image)
    if stored.ndim == 4:
        if stored.shape[0] != 1:
            raise UserError(f"{what} holds one image, not a stack; write .tif instead", path)
        stored = stored[0]
    if stored.ndim != 3 or stored.shape[-1] not in (1, 3):
        raise UserError(f"{what} needs gray or RGB pixels, got shape {stored.shape}", path)
    return stored[..., 0] if stored.shape[-1] == 1 else stored


def write_png(path: Path, image: Image) -> None:
    """8/16-bit gray or 8-bit RGB PNG, values exactly as denormalised."""
    from PIL import Image as PILImage

    stored = _single_image(image, path, "PNG")
    if stored.dtype == np.uint16 and stored.ndim == 3:
        raise UserError("PNG cannot hold 16-bit RGB here; write .tif instead", path)
    if stored.dtype not in (np.uint8, np.uint16):
        raise UserError(
            f"PNG stores 8/16-bit unsigned pixels, this image is {stored.dtype}; "
            "write .tif (or the input's format) instead",
            path,
        )
    with atomic_write(path, image) as tmp:
        PILImage.fromarray(stored).save(tmp, format="PNG")


def write_jpeg(path: Path, image: Image) -> None:
    """8-bit gray or RGB JPEG (lossy, quality 95, no chroma subsampling)."""
    from PIL import Image as PILImage

    stored = _single_image(image, path, "JPEG")
    if stored.dtype != np.uint8:
        raise UserError(
            f"JPEG stores 8-bit pixels, this image is {stored.dtype}; write .png or .tif instead",
            path,
        )
    with atomic_write(path, image) as tmp:
        PILImage.fromarray(stored).save(tmp, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
