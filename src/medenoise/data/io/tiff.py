"""TIFF via tifffile: 8/16-bit and float images, multi-page stacks and hyperstacks.

Every axis other than Y, X and samples is flattened into the stack axis S; the original
axes and sizes go into `meta.tiff` so that `write_tiff` restores the same shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medenoise.data.io.common import (
    Image,
    ImageMeta,
    atomic_write,
    check_dtype,
    check_finite,
    damaged,
    denormalise,
    normalise,
    range_provenance,
    scaling_for,
)
from medenoise.data.io.meta import TiffInfo
from medenoise.errors import UserError


def read_tiff(path: Path, value_range: tuple[float, float] | None = None) -> Image:
    """Read the first series of a TIFF as (H, W, C) or, for several pages, (S, H, W, C)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise damaged("TIFF", ValueError("no image in it"), path)
            series = tif.series[0]
            axes = series.axes
            photometric = int(tif.pages[0].photometric or 0)
            array = series.asarray()
    except UserError:
        raise
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError) as exc:
        raise damaged("TIFF", exc, path) from exc
    dtype = check_dtype(array.dtype, path)
    check_finite(array, path)
    array = array.astype(dtype)
    if "Y" not in axes or "X" not in axes:
        raise UserError(f"TIFF axes {axes!r} have no Y/X image plane", path)

    # Reorder to (other axes..., Y, X, S) and flatten the other axes into one stack axis.
    if "S" not in axes:
        array, axes = array[..., None], axes + "S"
    order = [i for i, a in enumerate(axes) if a not in "YXS"] + [axes.index(a) for a in "YXS"]
    array = array.transpose(order)
    stack_axes = "".join(axes[i] for i in order[:-3])
    stack_shape = array.shape[:-3]
    array = array.reshape((-1,) + array.shape[-3:]) if stack_axes else array

    alpha_dropped = False
    channels = array.shape[-1]
    if channels == 4 or (channels == 2 and photometric in (0, 1)):  # RGBA or gray + alpha
        array, alpha_dropped = array[..., : channels - 1], True
    if array.shape[-1] not in (1, 3):
        raise UserError(f"TIFF with {channels} samples per pixel is not supported", path)

    meta = ImageMeta(
        format="tiff",
        source=str(path),
        scaling=scaling_for(dtype, path, value_range=value_range, data=array),
        alpha_dropped=alpha_dropped,
        tiff=TiffInfo(stack_axes, tuple(int(n) for n in stack_shape)),
    )
    if array.ndim > 4:
        raise UserError("TIFF has too many dimensions", path)
    return Image(normalise(array, meta.scaling), meta)


def write_tiff(path: Path, image: Image) -> None:
    """Write 8/16-bit integers as stored, floats as float32; stacks as pages."""
    import tifffile

    stored = denormalise(image)
    if stored.dtype.kind == "f":
        stored = stored.astype(np.float32)
    if stored.ndim not in (3, 4) or stored.shape[-1] not in (1, 3):
        raise UserError(f"expected (H, W, C) or (S, H, W, C) with C 1 or 3, got {stored.shape}")
    rgb = stored.shape[-1] == 3
    axes = "YXS" if rgb else "YX"
    if not rgb:
        stored = stored[..., 0]
    if stored.ndim == (4 if rgb else 3):  # a stack: restore the original hyperstack shape
        info = image.meta.tiff or TiffInfo()  # images from other formats: a plain stack
        stack_axes = info.stack_axes or "Q"
        stack_shape = tuple(info.stack_shape)
        if int(np.prod(stack_shape, dtype=np.int64)) != stored.shape[0] or not stack_shape:
            stack_axes, stack_shape = "Q", (stored.shape[0],)
        stored = stored.reshape(stack_shape + stored.shape[1:])
        axes = stack_axes + axes
    with atomic_write(path, image) as tmp:
        tifffile.imwrite(
            tmp,
            stored,
            photometric="rgb" if rgb else "minisblack",
            planarconfig="contig" if rgb else None,
            metadata=_metadata(image, axes),
        )


def _metadata(image: Image, axes: str) -> dict:
    """The JSON ImageDescription: axes, and which values the processing saw as 0 and 1."""
    scale = image.meta.scaling
    meta = {"axes": axes, "value_range": [scale.lo, scale.hi]}
    meta["range_source"] = range_provenance(scale)
    if image.meta.derivation:
        meta["derivation"] = image.meta.derivation
    return meta
