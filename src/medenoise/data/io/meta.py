"""The Image type and its typed metadata: what `write` needs to give back the stored file.

`ImageMeta` holds the value scaling shared by all formats, the provenance a caller sets for
the output, and one record per format (DICOM dataset, NIfTI header, TIFF stack layout).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Format = Literal["array", "png", "jpeg", "tiff", "dicom", "nifti"]


@dataclass(frozen=True)
class Scaling:
    """How stored values map to [0, 1], so that writing gives back the very same values."""

    dtype: str = "float32"  # the stored dtype, restored on write
    lo: float = 0.0  # value (stored * slope + inter) mapped to 0
    hi: float = 1.0  # value mapped to 1
    slope: float = 1.0
    inter: float = 0.0
    invert: bool = False  # DICOM MONOCHROME1: bright is low
    clip: tuple[int, int] | None = None  # integer limits on write (e.g. 12 stored bits)
    range_source: str | None = None  # where lo/hi came from (None: not known)


@dataclass
class DicomInfo:
    """The source dataset (pixel data removed) and the pixel module facts a derived file keeps."""

    dataset: Any
    photometric: str = "MONOCHROME2"
    bits_stored: int | None = None
    multiframe: bool = False
    # Pixel padding (outside a CT's field of view): where it is, and its stored values, which
    # the output gets back unchanged (`io.padding`).
    padding: np.ndarray | None = None
    padding_values: np.ndarray | None = None


@dataclass
class NiftiInfo:
    """Header, affine and layout of the volume, so the planes go back into the same shape."""

    nifti_class: str
    header: Any
    affine: np.ndarray
    ondisk_dtype: str
    shape: tuple[int, ...]
    axis: int
    order: tuple[int, ...]
    scaled: bool


@dataclass
class TiffInfo:
    """The hyperstack axes (e.g. 'TZ') and sizes that were flattened into the stack axis."""

    stack_axes: str = ""
    stack_shape: tuple[int, ...] = ()


@dataclass
class SeriesInfo:
    """The slices of a DICOM series read as one volume: each slice's own meta, in slice order."""

    slices: list[ImageMeta]


@dataclass
class ImageMeta:
    """What is known about an image besides its pixels; `copy()` it before editing a copy."""

    format: Format = "array"
    source: str | None = None  # the file read; writing onto it is refused
    scaling: Scaling = field(default_factory=Scaling)
    alpha_dropped: bool = False  # an alpha channel was ignored on read (outputs have none)
    ndim: int | None = None  # layout of an in-memory array (`from_array`); None for files
    # Provenance, set by the caller (`set_provenance`): the process named in DICOM output,
    # a text that makes its new UIDs reproducible, a note for its series description.
    derivation: str | None = None
    uid_seed: str | None = None
    series_note: str | None = None
    # One record for the format read (the others stay None).
    dicom: DicomInfo | None = None
    nifti: NiftiInfo | None = None
    tiff: TiffInfo | None = None
    series: SeriesInfo | None = None  # a DICOM series read as one volume (`io.series`)

    def copy(self) -> ImageMeta:
        """A shallow copy: provenance can be set on it without touching this one."""
        return dataclasses.replace(self)


@dataclass
class Image:
    """Pixels as float32 in [0, 1], shape (H, W, C) or (S, H, W, C), plus what restores them."""

    array: np.ndarray
    meta: ImageMeta = field(default_factory=ImageMeta)

    @property
    def is_stack(self) -> bool:
        """True for (S, H, W, C) stacks of planes."""
        return self.array.ndim == 4
