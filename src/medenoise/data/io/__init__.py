"""Read and write PNG, JPEG, TIFF, DICOM and NIfTI as float32 [0, 1] `Image`s, and back.

`read` normalises by the format's nominal range and keeps in `Image.meta` (an `ImageMeta`)
what `write` needs to restore the original dtype, range and headers. Format libraries load
only when used.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from medenoise.data.io.common import (
    Image,
    check_finite,
    damaged,
    from_array,
    quiet_libraries,
    range_note,
    suffix_of,
    to_array,
)
from medenoise.data.io.meta import DicomInfo, ImageMeta, NiftiInfo, Scaling, TiffInfo
from medenoise.errors import UserError

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".dcm",
    ".dicom",
    ".nii",
    ".nii.gz",
)
_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".nii": "nifti",
    ".nii.gz": "nifti",
}

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DicomInfo",
    "Image",
    "ImageMeta",
    "NiftiInfo",
    "Scaling",
    "TiffInfo",
    "from_array",
    "image_notes",
    "is_image_file",
    "range_note",
    "read",
    "to_array",
    "write",
]


def is_image_file(path: str | Path) -> bool:
    """True for files with a supported suffix, and for suffix-less DICOM files ('DICM' magic)."""
    path = Path(path)
    if path.name.startswith("."):
        return False
    if suffix_of(path) in SUPPORTED_SUFFIXES:
        return not path.is_dir()
    if path.suffix == "" and path.is_file():
        from medenoise.data.io.dicom import is_dicom

        return is_dicom(path)
    return False


def image_notes(image: Image) -> list[str]:
    """Notes on a file that was read fine (barely filled value range, dropped alpha)."""
    notes = [note] if (note := range_note(image)) else []
    if image.meta.alpha_dropped:
        notes.append("alpha (transparency) channel ignored; the output has none")
    return notes


def _format_for_reading(path: Path) -> str:
    """The format to decode `path` as: by suffix, else by the DICOM magic; else a UserError."""
    fmt = _FORMATS.get(suffix_of(path))
    if fmt is None:
        from medenoise.data.io.dicom import is_dicom

        if is_dicom(path):
            return "dicom"
        raise UserError(
            f"unknown image type {suffix_of(path) or '(no suffix)'}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}",
            path,
        )
    return fmt


def read(
    path: str | Path,
    value_range: tuple[float, float] | None = None,
    axis: int | str = "auto",
) -> Image:
    """Read an image as float32 in [0, 1], (H, W, C) or (S, H, W, C); bad files: UserError."""
    # `value_range` (lo, hi) overrides the nominal range: lo maps to 0, hi to 1 (in the file's
    # value units, after DICOM/NIfTI rescaling). `axis`: NIfTI volumes are cut into planes
    # along this spatial axis ("auto": the acquisition plane); other formats ignore it.
    path = Path(path)
    if not path.exists():
        raise UserError("file not found", path)
    if path.is_dir():
        raise UserError("is a folder, not an image file", path)
    fmt = _format_for_reading(path)
    try:
        size = path.stat().st_size
        with path.open("rb"):  # permission problems get their own message, not a decoder's
            pass
    except OSError as exc:
        raise UserError(
            f"cannot read: {exc.strerror or exc}; check the file's permissions", path
        ) from None
    if size == 0:
        raise UserError("file is empty (0 bytes); copy or export it again", path)
    if fmt in ("png", "jpeg"):
        from medenoise.data.io.raster import read_raster as reader
    elif fmt == "tiff":
        from medenoise.data.io.tiff import read_tiff as reader
    elif fmt == "dicom":
        from medenoise.data.io.dicom import read_dicom as reader
    else:
        from functools import partial

        from medenoise.data.io.nifti import read_nifti

        reader = partial(read_nifti, axis=axis)
    try:
        with warnings.catch_warnings(), quiet_libraries():  # one line per error, no chatter
            warnings.simplefilter("ignore")
            image = reader(path, value_range)
    except (UserError, ImportError, NameError):
        raise  # ours or the environment's, not the file's
    except MemoryError as exc:  # usually a damaged header claiming a gigantic image
        raise UserError(
            f"not enough memory to read this file ({exc}); is its header damaged?", path
        ) from None
    except Exception as exc:  # any library failure on a bad file is the user's file problem
        raise damaged(fmt.upper(), exc, path) from exc
    if not np.isfinite(image.array).all():  # finite stored values, overflowing scaling
        raise UserError(
            "values are not finite once scaled to [0, 1] (damaged scaling in the header?); "
            "pass --range LO,HI",
            path,
        )
    return image


def write(path: str | Path, image: Image) -> None:
    """Write `image` in the format of `path`'s suffix, in its original dtype and range."""
    # Atomic (temporary file, then rename), creates parent folders, and refuses to overwrite
    # the file the image was read from.
    path = Path(path)
    fmt = _FORMATS.get(suffix_of(path))
    if fmt is None and not suffix_of(path) and image.meta.format == "dicom":
        fmt = "dicom"  # DICOM files often have no suffix (IM0001): the output keeps the name
    if fmt is None:
        raise UserError(
            f"cannot write {suffix_of(path) or 'files without a suffix'}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}",
            path,
        )
    if fmt == "png":
        from medenoise.data.io.raster import write_png as writer
    elif fmt == "jpeg":
        from medenoise.data.io.raster import write_jpeg as writer
    elif fmt == "tiff":
        from medenoise.data.io.tiff import write_tiff as writer
    elif fmt == "dicom":
        from medenoise.data.io.dicom import write_dicom as writer
    else:
        from medenoise.data.io.nifti import write_nifti as writer
    check_finite(np.asarray(image.array), path)
    try:
        writer(path, image)
    except UserError as exc:
        if exc.path is None:  # attach the output path to shape/dtype complaints
            raise UserError(exc.message, path) from exc
        raise
