"""DICOM series as one volume: grouping files into units, reading a series, writing it back.

Single-frame DICOM files sharing a SeriesInstanceUID (without one: a folder's slices of one
geometry and modality) are one unit, in slice order: by position along the slice normal
(ImagePositionPatient projected on the cross product of the two ImageOrientationPatient
directions), else InstanceNumber, else file name. A series is read
with one working range for all its slices and written back as one derived series (every slice
to its own output path, one new SeriesInstanceUID, new SOP Instance UIDs).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medenoise.data.io.common import denormalise, normalise, suffix_of
from medenoise.data.io.meta import Image, SeriesInfo
from medenoise.data.io.padding import data_values, fill, restore
from medenoise.data.io.working_range import from_data
from medenoise.errors import UserError


@dataclass(frozen=True)
class SliceHeader:
    """What grouping and ordering need from one single-frame DICOM file's header."""

    path: Path
    series_uid: str
    geometry: tuple[Any, ...]  # (rows, columns, pixel spacing, orientation): equal in a series
    normal_position: float | None  # ImagePositionPatient along the slice normal
    instance: int | None
    sop_uid: str = ""


def _rounded(values: Any, digits: int = 4) -> tuple[float, ...] | None:
    """A multi-valued DICOM number as a tuple rounded for comparison; None when absent/bad."""
    try:
        return tuple(round(float(v), digits) for v in values)
    except (TypeError, ValueError):
        return None


def slice_header(path: Path) -> SliceHeader | None:
    """The header facts of a single-frame DICOM file in a series; None for anything else."""
    from medenoise.data.io.dicom import is_dicom

    if suffix_of(path) not in (".dcm", ".dicom") and not (path.suffix == "" and is_dicom(path)):
        return None
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        if int(ds.get("NumberOfFrames", 1) or 1) != 1:
            return None
        orientation = _rounded(ds.get("ImageOrientationPatient"))
        position = _rounded(ds.get("ImagePositionPatient"), 6)
        along = None
        if orientation is not None and position is not None and len(orientation) == 6:
            normal = np.cross(orientation[:3], orientation[3:])
            along = float(np.dot(position[:3], normal))
        instance = ds.get("InstanceNumber")
        geometry = (
            int(ds.get("Rows", 0)),
            int(ds.get("Columns", 0)),
            _rounded(ds.get("PixelSpacing")),
            orientation,
        )
        # Anonymised exports often drop the SeriesInstanceUID: slices of one folder with one
        # geometry and modality are then taken as one series (a folder of one scan).
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        uid = uid or f"folder {path.parent.resolve()} {geometry} {ds.get('Modality', '')}"
        number = None if instance is None else int(instance)
        sop = str(ds.get("SOPInstanceUID", "") or "")
        return SliceHeader(path, uid, geometry, along, number, sop or str(path.resolve()))
    except Exception:  # an unreadable header: the file is read alone, and its error shown then
        return None


def _ordered(headers: list[SliceHeader]) -> list[SliceHeader]:
    """Slices by position along the normal, else InstanceNumber, else file name."""
    if all(h.normal_position is not None for h in headers):
        return sorted(headers, key=lambda h: (h.normal_position, h.instance or 0, h.path.name))
    if all(h.instance is not None for h in headers):
        return sorted(headers, key=lambda h: (h.instance, h.path.name))
    return sorted(headers, key=lambda h: h.path.name)


def _check_geometry(headers: list[SliceHeader]) -> None:
    """Refuse a series whose slices differ in size, pixel spacing or orientation."""
    names = ("rows/columns", "rows/columns", "pixel spacing", "orientation")
    first = headers[0].geometry
    for h in headers[1:]:
        for name, a, b in zip(names, first, h.geometry, strict=True):
            if a != b:
                folder = Path(os.path.commonpath([str(x.path.parent) for x in headers]))
                raise UserError(
                    f"the {len(headers)} slices of one DICOM series differ in {name} "
                    f"({headers[0].path.name}: {a}, {h.path.name}: {b}); a series must share "
                    "one geometry: move the odd slices to their own folder",
                    folder,
                )


def _is_volume(headers: list[SliceHeader]) -> bool:
    """Two or more distinct instances: copies of one instance (one SOP Instance UID) are no
    slices of a volume, so such files are each processed alone."""
    return len(headers) > 1 and len({h.sop_uid for h in headers}) == len(headers)


def group_inputs(files: Sequence[str | Path]) -> list[list[Path]]:
    """The units to process: each single-frame DICOM series as one list in slice order, every
    other file (and a series of one file) alone; in the order the files were given."""
    paths = [Path(f) for f in files]
    headers = {p: h for p in paths if (h := slice_header(p)) is not None}
    series: dict[str, list[SliceHeader]] = {}
    for h in headers.values():
        series.setdefault(h.series_uid, []).append(h)
    units: list[list[Path]] = []
    placed: set[str] = set()
    for p in paths:
        h = headers.get(p)
        if h is None or not _is_volume(series[h.series_uid]):
            units.append([p])
        elif h.series_uid not in placed:
            placed.add(h.series_uid)
            members = series[h.series_uid]
            _check_geometry(members)
            units.append([m.path for m in _ordered(members)])
    return units


def read_series(
    paths: Sequence[str | Path], value_range: tuple[float, float] | None = None
) -> Image:
    """Read single-frame DICOM slices as one (S, H, W, C) volume with one working range."""
    # Each slice keeps its own meta (dataset, rescale slope/intercept) in `meta.series`; the
    # range that maps values to [0, 1] is the series' own: `value_range`, or the nominal range
    # unless the values of all slices together barely fill it (`working_range.from_data`).
    from medenoise.data.io import read

    paths = [Path(p) for p in paths]
    images = [read(p, value_range=value_range) for p in paths]
    folder = Path(os.path.commonpath([str(p.parent) for p in paths]))
    for p, image in zip(paths, images, strict=True):
        if image.is_stack or image.array.shape != images[0].array.shape:
            raise UserError(
                f"slice {p.name} has shape {image.array.shape}, unlike {paths[0].name} "
                f"({images[0].array.shape}); a series must share one geometry",
                folder,
            )
    if value_range is None:
        images = _on_one_range(images)
    meta = images[0].meta.copy()
    meta.series = SeriesInfo([image.meta for image in images])
    return Image(np.stack([image.array for image in images]), meta)


def _on_one_range(images: list[Image]) -> list[Image]:
    """The slices re-normalised on the series' working range (from all slices' values)."""
    # exact stored values back, padding (never in the working range) as it was
    infos = [image.meta.dicom for image in images]
    masks = [info.padding if info is not None else None for info in infos]
    stored = [
        restore(denormalise(image), mask, info.padding_values if info is not None else None)
        for image, mask, info in zip(images, masks, infos, strict=True)
    ]
    scales = [image.meta.scaling for image in images]
    first = scales[0]
    nominal_ends = [e * sc.slope + sc.inter for sc in scales for e in (sc.clip or (0, 1))]
    nominal = (min(nominal_ends), max(nominal_ends))
    if all((sc.slope, sc.inter) == (first.slope, first.inter) for sc in scales):
        # One rescale for all slices (CT, MR): the stored values decide, kept in their type.
        data = np.concatenate(
            [data_values(s, m).ravel() for s, m in zip(stored, masks, strict=True)]
        )
        stored_nominal = first.clip or (0, 1)
        derived = from_data(data, np.dtype(first.dtype), stored_nominal, slope=first.slope,
                            inter=first.inter, what="this series")  # fmt: skip
    else:  # a rescale per slice (PET): the values after it decide
        values = [
            s.astype(np.float64) * sc.slope + sc.inter for s, sc in zip(stored, scales, strict=True)
        ]
        data = np.concatenate(
            [data_values(v, m).ravel() for v, m in zip(values, masks, strict=True)]
        )
        derived = from_data(data, np.dtype(first.dtype), nominal, what="this series")
    if derived is not None:
        lo, hi, source = derived
    else:  # the nominal range (BitsStored after rescale), as each slice alone would have
        lo, hi = nominal
        source = _nominal_words(first)
    out = []
    for image, s, mask in zip(images, stored, masks, strict=True):
        scale = dataclasses.replace(image.meta.scaling, lo=lo, hi=hi, range_source=source)
        meta = image.meta.copy()
        meta.scaling = scale
        out.append(Image(fill(normalise(s, scale), mask), meta))
    return out


def _nominal_words(scale: Any) -> str:
    """The range source of a slice kept on its nominal range (its reader's own words)."""
    source = scale.range_source or ""
    return source if not source.startswith("data range") else f"{scale.dtype} stored range"


def write_series(dsts: Sequence[str | Path], image: Image) -> None:
    """Write a volume from `read_series` back as one derived series, slice k to `dsts[k]`."""
    # The derived SeriesInstanceUID is a function of the source series and the derivation,
    # so every slice lands in the same new series; each gets a new SOP Instance UID.
    from medenoise.data.io import write

    info = image.meta.series
    if info is None or len(info.slices) != len(dsts) or image.array.shape[0] != len(dsts):
        raise UserError(f"a DICOM series of {len(dsts)} slices needs the volume it was read as")
    for k, dst in enumerate(dsts):
        meta = info.slices[k].copy()
        meta.derivation = image.meta.derivation
        meta.uid_seed = image.meta.uid_seed
        meta.series_note = image.meta.series_note
        write(dst, Image(image.array[k], meta))


def read_unit(
    paths: Sequence[str | Path],
    value_range: tuple[float, float] | None = None,
    axis: int | str = "auto",
) -> Image:
    """Read one unit of `group_inputs`: a single file (any format) or a DICOM series."""
    from medenoise.data.io import read

    if len(paths) == 1:
        return read(paths[0], value_range=value_range, axis=axis)
    return read_series(paths, value_range)


def write_unit(dsts: Sequence[str | Path], image: Image) -> None:
    """Write what `read_unit` read: one file, or a series slice by slice."""
    from medenoise.data.io import write

    if len(dsts) == 1 and image.meta.series is None:
        write(dsts[0], image)
    else:
        write_series(dsts, image)
