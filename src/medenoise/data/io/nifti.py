"""NIfTI-1/2 via nibabel: 2-D to 4-D volumes as stacks of slices, header and affine kept.

Slices are taken along one spatial axis: by default ("auto") the acquisition plane, i.e. the
header's slice_dim when it is set, else the last spatial axis (axial for RAS volumes); the
other axes, 4-D time included, are flattened into S. scl_slope/scl_inter are honoured on read and
written back unchanged, so stored values round-trip exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from medenoise.data.io.meta import NiftiInfo
from medenoise.errors import UserError

DEFAULT_SLICE_AXIS = 2
AXIS_CHOICES = ("auto", "0", "1", "2")


def parse_axis(text: str | int | None) -> int | str:
    """'auto' (or None) → "auto"; '0'/'1'/'2' → int; anything else is a UserError."""
    if text is None or str(text).strip().lower() == "auto":
        return "auto"
    if str(text).strip() not in AXIS_CHOICES[1:]:
        raise UserError(f"--axis {text!r}: use 0, 1, 2 (a spatial axis of the volume) or auto")
    return int(text)


def slice_axis(header: Any, axis: int | str = "auto") -> int:
    """The spatial axis to slice along: `axis`, or for "auto" the acquisition plane."""
    # "auto": the header's slice_dim when set, else the last spatial axis.
    if axis != "auto":
        return int(axis)
    try:
        dim = header.get_dim_info()[2]
    except Exception:  # a malformed dim_info byte is no reason to refuse the file
        dim = None
    return int(dim) if dim in (0, 1, 2) else DEFAULT_SLICE_AXIS


def _plane_order(ndim: int, axis: int) -> list[int]:
    """Axis permutation putting the stack axes first and the (H, W) image plane last."""
    if ndim == 2:
        return [0, 1]
    plane = [a for a in range(3) if a != axis]
    stack = [axis] + list(range(3, ndim))
    return stack[::-1] + plane  # extra dims (time) outermost, then the slice axis


def read_nifti(
    path: Path, value_range: tuple[float, float] | None = None, axis: int | str = "auto"
) -> Image:
    """Read a NIfTI file as (H, W, 1) (2-D) or (S, H, W, 1) slices along spatial `axis`."""
    # `axis`: 0, 1, 2, or "auto" (see `slice_axis`); a 2-D image is one slice whatever the axis.
    import nibabel as nib

    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, gzip/zlib errors ...
        raise damaged("NIfTI", exc, path) from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise UserError(f"expected a NIfTI image, found {type(img).__name__}", path)
    if len(img.shape) > 4 or len(img.shape) < 2:
        raise UserError(
            f"{len(img.shape)}-D NIfTI is not supported (2-D to 4-D only); "
            "split it into 2-D to 4-D volumes first",
            path,
        )
    if axis not in ("auto", 0, 1, 2):
        raise UserError(f"slice axis {axis!r} must be a spatial axis (0, 1 or 2) or auto", path)
    axis = DEFAULT_SLICE_AXIS if len(img.shape) == 2 else slice_axis(img.header, axis)
    try:
        raw = np.asarray(img.dataobj.get_unscaled())
    except Exception as exc:
        raise damaged("NIfTI", exc, path) from exc
    dtype = check_dtype(raw.dtype, path)
    raw = raw.astype(dtype)
    check_finite(raw, path)
    slope, inter = img.dataobj.slope, img.dataobj.inter  # nibabel moves scl_* here on load
    scaled = bool(slope != 1.0 or inter != 0.0)

    order = _plane_order(raw.ndim, axis)
    moved = raw.transpose(order)
    stack = moved.reshape((-1,) + moved.shape[-2:]) if raw.ndim > 2 else moved
    info = NiftiInfo(
        nifti_class=type(img).__name__,
        header=img.header.copy(),
        affine=np.array(img.affine),
        ondisk_dtype=img.header.get_data_dtype().str,
        shape=tuple(int(n) for n in raw.shape),
        axis=axis,
        order=tuple(order),
        scaled=scaled,
    )
    scale = scaling_for(
        dtype,
        path,
        slope=float(slope),
        inter=float(inter),
        value_range=value_range,
        range_source=f"{dtype.name} range"
        + (f", scl_slope {slope:g} scl_inter {inter:g}" if scaled else ""),
        data=raw,
    )
    meta = ImageMeta(format="nifti", source=str(path), scaling=scale, nifti=info)
    return Image(normalise(stack[..., None], scale), meta)


def write_nifti(path: Path, image: Image) -> None:
    """Write stored values with the source's header, affine, dtype and scaling."""
    # Images that did not come from NIfTI are written with an identity affine, slices last.
    import nibabel as nib

    stored = denormalise(image)
    if stored.shape[-1] != 1 or stored.ndim not in (3, 4):
        raise UserError(f"NIfTI output needs gray (S, H, W, 1) or (H, W, 1), got {stored.shape}")
    planes = stored[..., 0]
    info = image.meta.nifti
    if info is not None:
        moved_shape = tuple(info.shape[i] for i in info.order)
        if int(np.prod(moved_shape)) != planes.size or moved_shape[-2:] != planes.shape[-2:]:
            raise UserError(
                f"image shape {planes.shape} no longer matches the NIfTI {info.shape}", path
            )
        data = planes.reshape(moved_shape).transpose(np.argsort(info.order))
        cls = nib.Nifti2Image if info.nifti_class == "Nifti2Image" else nib.Nifti1Image
        img = cls(data, info.affine, info.header.copy())
        img.header.set_data_dtype(np.dtype(info.ondisk_dtype))
        if info.scaled:
            scale = image.meta.scaling
            img.header.set_slope_inter(scale.slope, scale.inter)
    else:
        data = planes if planes.ndim == 2 else planes.transpose(1, 2, 0)
        img = nib.Nifti1Image(data, np.eye(4))
        img.header.set_data_dtype(data.dtype)
    # descrip (80 characters) says which values the processing saw as 0 and 1.
    img.header["descrip"] = range_provenance(image.meta.scaling, short=True)[:79].encode()
    with atomic_write(path, image) as tmp:
        nib.save(img, tmp)
