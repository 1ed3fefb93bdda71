"""Value normalisation to [0, 1] and back, dtype/finite checks, provenance, atomic writes.

Every reader turns stored pixel values into float32 in [0, 1] by the format's nominal range
(or the data's own range when they barely fill it, see `working_range`), and records in
`Image.meta.scaling` what `denormalise` needs to give back the very same stored values.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from medenoise.data.io.meta import Image, ImageMeta, Scaling
from medenoise.data.io.working_range import from_data
from medenoise.errors import UserError

# Stored dtypes we can normalise and give back bit-exactly through float32 (24-bit mantissa).
INT_DTYPES = ("uint8", "uint16", "int8", "int16")
FLOAT_DTYPES = ("float16", "float32", "float64")


def set_provenance(
    image: Image, derivation: str, uid_seed: str | None = None, series_note: str | None = None
) -> None:
    """Record how an output was made (DICOM DerivationDescription, reproducible UIDs, note)."""
    if derivation is not None:
        image.meta.derivation = derivation
    if uid_seed is not None:
        image.meta.uid_seed = uid_seed
    if series_note is not None:
        image.meta.series_note = series_note


def range_provenance(scale: Scaling, short: bool = False) -> str:
    """The working range in words, for an output's provenance (which values meant 0 and 1)."""
    lo, hi, source = scale.lo, scale.hi, scale.range_source or "not recorded"
    if short:  # for 80-character header fields
        kind = source.split(" (")[0] if source.startswith("data range") else source
        return f"range {lo:g}..{hi:g} ({kind})"
    return f"medenoise working range {lo:g}..{hi:g} mapped to [0, 1]: {source}"


def suffix_of(path: str | Path) -> str:
    """Lower-case suffix, with the double suffix '.nii.gz' kept whole."""
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def check_dtype(dtype: np.dtype, path: str | Path | None) -> np.dtype:
    """Native-order dtype if it is one we support, else a UserError naming what to do."""
    dtype = np.dtype(dtype).newbyteorder("=")
    if dtype.name in INT_DTYPES or dtype.name in FLOAT_DTYPES:
        return dtype
    if dtype.kind in "iu":
        raise UserError(
            f"{dtype.itemsize * 8}-bit integer images are not supported; "
            "convert to 16-bit integer or float32 first",
            path,
        )
    raise UserError(f"pixel type {dtype.name} is not supported (use 8/16-bit or float)", path)


def check_finite(array: np.ndarray, path: str | Path | None) -> None:
    """Refuse float data holding NaN or Inf: no denoiser can make sense of them."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise UserError("image contains NaN or Inf values; replace them first", path)


def damaged(fmt: str, exc: BaseException, path: str | Path | None) -> UserError:
    """The UserError for a file that a format library could not decode (with its reason)."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if len(detail) > 200:
        detail = detail[:200] + "..."
    return UserError(
        f"cannot read this {fmt} file, it is damaged or incomplete ({detail}); "
        "copy or export it again",
        path,
    )


LIBRARY_LOGGERS = ("tifffile", "nibabel", "nibabel.global", "pydicom", "PIL")


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence the format libraries' logged warnings, so an error stays one line on stderr."""
    # nibabel and tifffile log header complaints on stderr.
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    states = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, state in zip(loggers, states, strict=True):
            logger.disabled = state


def nominal_range(dtype: np.dtype) -> tuple[float, float]:
    """Stored values that map to 0 and 1: the integer type's range; floats are taken as given."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return 0.0, 1.0


def scaling_for(
    dtype: np.dtype,
    path: str | Path | None,
    *,
    stored_range: tuple[float, float] | None = None,
    slope: float = 1.0,
    inter: float = 0.0,
    value_range: tuple[float, float] | None = None,
    invert: bool = False,
    range_source: str | None = None,
    data: np.ndarray | None = None,
) -> Scaling:
    """The `Scaling` of stored values: their range mapped through slope/intercept to [0, 1]."""
    # `value_range` (lo, hi) overrides that range, in value units (after slope/intercept);
    # `range_source` says where the range came from (kept as `Scaling.range_source`). With
    # the stored values `data`, a nominal range they barely fill gives way to their own range
    # (`working_range.from_data`).
    dtype = np.dtype(dtype)
    s_lo, s_hi = stored_range if stored_range is not None else nominal_range(dtype)
    if not (np.isfinite(slope) and np.isfinite(inter)) or slope == 0:
        raise UserError(
            f"rescale slope {slope:g} / intercept {inter:g} in the header are unusable "
            "(damaged header?); fix the header or export the file again",
            path,
        )
    derived = None
    if value_range is None and data is not None and np.isfinite(slope) and slope != 0:
        nominal = (s_lo, s_hi) if dtype.kind in "iu" else (0.0, 1.0)
        derived = from_data(data, dtype, nominal, slope=slope, inter=inter)
    if value_range is not None:
        lo, hi = (float(v) for v in value_range)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo == hi:
            raise UserError(f"value range {value_range} must be two different finite numbers", path)
        source = "given value range"
    elif derived is not None:
        lo, hi, source = derived
    elif dtype.kind == "f":
        lo, hi = 0.0, 1.0
        source = "float values taken as given"
    else:
        ends = (s_lo * slope + inter, s_hi * slope + inter)
        lo, hi = min(ends), max(ends)
        source = range_source or f"{dtype.name} range"
    if not np.isfinite(hi - lo) or hi == lo:
        raise UserError(
            f"value range {lo:g} to {hi:g} cannot be mapped to [0, 1] (damaged scaling in the "
            "header?); pass --range LO,HI",
            path,
        )
    clip = (int(s_lo), int(s_hi)) if dtype.kind in "iu" else None
    return Scaling(
        dtype=dtype.name,
        lo=float(lo),
        hi=float(hi),
        slope=float(slope),
        inter=float(inter),
        invert=bool(invert),
        clip=clip,
        range_source=source,
    )


def range_note(image: Image, min_span: float = 1 / 16) -> str | None:
    """A hint when 8-bit data fill under `min_span` of 0..255 (kept there: the models' scale)."""
    # Wider integers and floats far from [0, 1] get their working range from the data on read
    # (`working_range.from_data`), so only 8-bit images can still sit in a sliver of their
    # range; a given or derived range needs no hint.
    scale = image.meta.scaling
    source = scale.range_source or ""
    array = np.asarray(image.array)
    if source == "given value range" or source.startswith("data range") or array.size == 0:
        return None
    if np.dtype(scale.dtype).itemsize != 1 or np.dtype(scale.dtype).kind not in "iu":
        return None
    a, b = float(array.min()), float(array.max())
    if b - a >= min_span:
        return None
    return (
        f"values fill only {a:.3f}-{b:.3f} of the range [{scale.lo:g}, {scale.hi:g}] "
        f"({source}); noise levels are relative to that range, pass --range LO,HI to set it"
    )


def normalise(stored: np.ndarray, scale: Scaling) -> np.ndarray:
    """Stored values -> float32 on the [0, 1] scale described by `scale`."""
    values = stored.astype(np.float64) * scale.slope + scale.inter
    x = (values - scale.lo) / (scale.hi - scale.lo)
    if scale.invert:
        x = 1.0 - x
    return x.astype(np.float32)


def denormalise(image: Image) -> np.ndarray:
    """Float array on the [0, 1] scale -> stored values in the original dtype."""
    # Integers are rounded and clipped only to what the stored type can hold.
    scale = image.meta.scaling
    array = np.asarray(image.array)
    check_finite(array, image.meta.source)
    x = array.astype(np.float64)
    if scale.invert:
        x = 1.0 - x
    values = x * (scale.hi - scale.lo) + scale.lo
    stored = (values - scale.inter) / scale.slope
    dtype = np.dtype(scale.dtype)
    if dtype.kind == "f":
        return stored.astype(dtype)
    qmin, qmax = scale.clip or nominal_range(dtype)
    return np.clip(np.rint(stored), qmin, qmax).astype(dtype)


def match_range(image: Image, reference: Image) -> Image:
    """`image` on the working range of `reference`, so that a pair means the same values."""
    # Files of one stored type only: the same stored value then means the same thing in both.
    # Files of different types (an 8-bit clean image with a 16-bit noisy one) each keep their
    # own range, as before: their value units differ.
    ref, own = reference.meta.scaling, image.meta.scaling
    if own.dtype != ref.dtype or (own.lo, own.hi) == (ref.lo, ref.hi):
        return image
    name = Path(reference.meta.source).name if reference.meta.source else "its reference"
    source = f"the range of {name}: {ref.range_source}"
    meta = image.meta.copy()
    meta.scaling = dataclasses.replace(own, lo=ref.lo, hi=ref.hi, range_source=source)
    return Image(normalise(denormalise(image), meta.scaling), meta)


def to_hwc(array: np.ndarray, path: str | Path | None, *, stack: bool = False) -> np.ndarray:
    """(H, W) -> (H, W, 1); with `stack`, (S, H, W) -> (S, H, W, 1). Rejects more than 4-D."""
    if array.ndim > 4:
        raise UserError(f"{array.ndim}-D images are not supported (at most 4-D)", path)
    if array.ndim == 2 or (stack and array.ndim == 3):
        return array[..., None]
    return array


def from_array(array: np.ndarray, value_range: tuple[float, float] | None = None) -> Image:
    """Wrap an in-memory array, (H, W), (H, W, C) or (S, H, W, C), the way `read` would."""
    array = np.asarray(array)
    dtype = check_dtype(array.dtype, None)
    check_finite(array, None)
    if array.ndim < 2 or array.ndim > 4:
        raise UserError(f"expected an (H, W), (H, W, C) or (S, H, W, C) array, got {array.shape}")
    if array.ndim >= 3 and array.shape[-1] not in (1, 3):
        raise UserError(f"last axis must be 1 (gray) or 3 (RGB) channels, got {array.shape}")
    stored = to_hwc(array.astype(dtype), None)
    # Float arrays in memory are on the caller's own scale and must come back from `to_array`
    # to float32 precision, so only integer arrays get a working range from their values.
    data = stored if dtype.kind in "iu" else None
    scaling = scaling_for(dtype, None, value_range=value_range, data=data)
    meta = ImageMeta(format="array", ndim=array.ndim, scaling=scaling)
    return Image(normalise(stored, meta.scaling), meta)


def to_array(image: Image) -> np.ndarray:
    """Inverse of `from_array` (or `read`): stored values, original dtype and layout."""
    stored = denormalise(image)
    ndim = image.meta.ndim
    if ndim is None:  # images read from files: gray comes back without its channel axis
        return stored[..., 0] if stored.shape[-1] == 1 else stored
    return stored[..., 0] if ndim == 2 and stored.shape[-1] == 1 else stored


def check_not_source(path: Path, image: Image) -> None:
    """Refuse to write onto the file the image was read from (never overwrite an input)."""
    source = image.meta.source
    if not source:
        return
    same = Path(source).resolve() == path.resolve()
    if not same and path.exists() and Path(source).exists():
        same = os.path.samefile(source, path)
    if same:
        raise UserError("refusing to overwrite the input file; choose another output path", path)


@contextmanager
def atomic_write(path: str | Path, image: Image) -> Iterator[Path]:
    """Yield a temporary path in the target folder; move it onto `path` only on success."""
    path = Path(path)
    check_not_source(path, image)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{suffix_of(path)}"
        tmp.open("xb").close()  # honours the umask, unlike mkstemp's 0600
    except OSError as exc:
        raise UserError(f"cannot write here: {exc.strerror or exc}", path) from exc
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write: {exc.strerror or exc}", path) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
