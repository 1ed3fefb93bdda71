"""DICOM via pydicom: stored bits and rescale applied on read, derived instances on write.

Output is a new instance (new SOP Instance UID, derived series UID, ImageType DERIVED) in
Explicit VR Little Endian with the input's pixel representation, so an untouched round trip
gives back the decoded pixel values bit-exactly. Patient tags are never printed or logged.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from medenoise.data.io.common import (
    Image,
    ImageMeta,
    atomic_write,
    damaged,
    denormalise,
    normalise,
    range_provenance,
    scaling_for,
)
from medenoise.data.io.meta import DicomInfo
from medenoise.data.io.padding import data_values, fill, padding_mask, restore
from medenoise.errors import UserError

# Elements describing the old pixel data that would be wrong or stale after denoising.
STALE_KEYWORDS = (
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "IconImageSequence",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "DataSetTrailingPadding",
)
# Tags whose values identify a patient: never printed (see `_redacted`).
PATIENT_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthDate",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "IssuerOfPatientID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
)
# Byte-order dependent VRs pydicom leaves as raw bytes (for big-endian inputs).
SWAP_VRS = {"OW": "u2", "OF": "f4", "OD": "f8", "OL": "u4", "OV": "u8"}


def is_dicom(path: Path) -> bool:
    """Whether the file has the DICOM preamble magic ('DICM' at byte 128)."""
    try:
        with path.open("rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _rescale(ds: Any) -> tuple[float, float]:
    """Rescale slope/intercept from the top level or the shared functional groups."""
    source = ds
    if "RescaleSlope" not in ds and "SharedFunctionalGroupsSequence" in ds:
        shared = ds.SharedFunctionalGroupsSequence[0]
        if "PixelValueTransformationSequence" in shared:
            source = shared.PixelValueTransformationSequence[0]
    slope = float(source.get("RescaleSlope", 1.0) or 1.0)
    inter = float(source.get("RescaleIntercept", 0.0) or 0.0)
    return slope, inter


def read_dicom(path: Path, value_range: tuple[float, float] | None = None) -> Image:
    """Read a DICOM image: (H, W, C), or (S, H, W, C) for multi-frame; modality values scaled."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings():  # pydicom warnings may quote tag values (patient data)
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError:
            ds = pydicom.dcmread(path, force=True)
            if "PixelData" not in ds:
                raise UserError(
                    "not a DICOM file (no DICM preamble, no pixel data); check the file", path
                ) from None
        try:
            return _image_from(ds, path, value_range)
        except UserError as exc:
            raise _redacted(exc, ds) from None
        except Exception as exc:  # a malformed element: never quote its value unredacted
            raise _redacted(damaged("DICOM", exc, path), ds) from exc


def _decoded(ds: Any, path: Path) -> tuple[Any, dict]:
    """The dataset's pixel array and the decoder's info, or one clear error for the user."""
    from pydicom.pixels import get_decoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "PixelData" not in ds:
            floats = "FloatPixelData" in ds or "DoubleFloatPixelData" in ds
            what = "float pixel data is not supported" if floats else "not an image"
            raise UserError(
                f"DICOM file has no integer pixel data ({what}); pass only image files", path
            )
        _check_supported(ds, path)
        tsyntax = _transfer_syntax(ds)
        try:
            decoder = get_decoder(tsyntax)
        except NotImplementedError as exc:
            raise UserError(
                f"DICOM transfer syntax {tsyntax.name} is not supported; convert the file to "
                "uncompressed DICOM first (e.g. `gdcmconv --raw IN OUT`)",
                path,
            ) from exc
        try:
            array, info = decoder.as_array(ds, as_rgb=True)
        except Exception as exc:  # decoders raise RuntimeError, ValueError, ...
            raise damaged(f"DICOM ({tsyntax.name})", exc, path) from exc
    return array, info


def _image_from(ds: Any, path: Path, value_range: tuple[float, float] | None) -> Image:
    """The Image of a parsed dataset (pixel data decoded, modality scaling in `meta.scaling`)."""
    array, info = _decoded(ds, path)
    del ds.PixelData  # decoded above; `write_dicom` sets new pixel data (and copies ds cheaply)
    array = array.astype(array.dtype.newbyteorder("="))
    bits_stored = int(info.get("bits_stored", ds.BitsStored))
    signed = int(info.get("pixel_representation", ds.PixelRepresentation)) == 1
    photometric = str(info.get("photometric_interpretation", ds.PhotometricInterpretation))
    spp = int(ds.get("SamplesPerPixel", 1))
    if spp == 3 and photometric != "RGB":
        raise UserError(f"DICOM colour space {photometric} is not supported", path)
    n_frames = int(info.get("number_of_frames") or 1)
    multi = n_frames > 1 or "NumberOfFrames" in ds
    if spp == 1:
        array = array[..., None]
    if multi and array.ndim == 3:
        array = array[None]
    if array.ndim == 4 and not multi:
        raise UserError(f"unexpected DICOM pixel array shape {array.shape}", path)

    stored_range = (
        (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1)
        if signed
        else (0, 2**bits_stored - 1)
    )
    slope, inter = _rescale(ds)
    padded = padding_mask(ds, array)
    bits_allocated = array.dtype.itemsize * 8
    kind = f"{'signed' if signed else 'unsigned'} {bits_stored}-bit"
    range_source = f"DICOM BitsStored {bits_stored}: {kind} stored range" + (
        f" (all {bits_allocated} allocated bits)" if bits_stored >= bits_allocated else ""
    )
    if slope != 1.0 or inter != 0.0:
        range_source += f", rescale slope {slope:g} intercept {inter:g}"
    scale = scaling_for(
        array.dtype,
        path,
        stored_range=stored_range,
        slope=slope,
        inter=inter,
        value_range=value_range,
        invert=photometric == "MONOCHROME1",
        range_source=range_source,
        data=data_values(array, padded),
    )
    meta = ImageMeta(
        format="dicom",
        source=str(path),
        scaling=scale,
        dicom=DicomInfo(
            ds,
            photometric,
            bits_stored,
            multi,
            padding=padded,
            padding_values=None if padded is None else array[padded],
        ),
    )
    return Image(fill(normalise(array, scale), padded), meta)


def _redacted(error: UserError, ds: Any) -> UserError:
    """`error` with patient tag values blanked out: they must never reach a terminal or log."""
    # Library messages may quote element values.
    message = error.message
    for keyword in PATIENT_KEYWORDS:
        try:
            value = str(ds.get(keyword, "") or "").strip()
        except Exception:  # the element itself is malformed: keep no detail at all
            return UserError(
                "cannot read this DICOM file, it is damaged or incomplete; copy or export it again",
                error.path,
            )
        for part in {value, *value.replace("^", " ").split()}:
            if len(part) >= 3:
                message = message.replace(part, "<redacted>")
    return UserError(message, error.path)


def _transfer_syntax(ds: Any) -> Any:
    """The dataset's transfer syntax; for files without file meta, the one they were read as."""
    from pydicom import uid
    from pydicom.dataset import FileMetaDataset

    file_meta = getattr(ds, "file_meta", None)
    tsyntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if tsyntax is None:
        implicit, little = ds.original_encoding
        tsyntax = (
            uid.ImplicitVRLittleEndian
            if implicit
            else uid.ExplicitVRLittleEndian
            if little is not False
            else uid.ExplicitVRBigEndian
        )
        ds.file_meta = file_meta if file_meta is not None else FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = tsyntax
    return tsyntax


def _check_supported(ds: Any, path: Path) -> None:
    """Refuse pixel layouts we cannot normalise and give back (bit depth, palette, samples)."""
    if "BitsAllocated" not in ds or "Rows" not in ds:
        raise UserError("DICOM image lacks Bits Allocated / Rows (broken file?)", path)
    bits = int(ds.BitsAllocated)
    if bits not in (8, 16):
        raise UserError(
            f"DICOM with {bits}-bit pixels is not supported (8 or 16 bits only; 1-bit masks "
            "and 32-bit dose grids are not images to denoise)",
            path,
        )
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        raise UserError("DICOM PALETTE COLOR images are not supported", path)
    if int(ds.get("SamplesPerPixel", 1)) not in (1, 3):
        raise UserError("DICOM samples per pixel must be 1 or 3", path)


def _swap_to_little_endian(ds: Any) -> None:
    """Byte-swap raw OW/OF/OD/OL/OV values of a dataset that was read as big endian."""
    for elem in ds.iterall():
        kind = SWAP_VRS.get(str(elem.VR))
        if kind and elem.tag != 0x7FE00010 and isinstance(elem.value, bytes) and elem.value:
            elem.value = np.frombuffer(elem.value, ">" + kind).astype("<" + kind).tobytes()


def write_dicom(path: Path, image: Image) -> None:
    """Write a derived DICOM instance with the source's tags and pixel representation."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    info = image.meta.dicom
    if info is None:
        raise UserError("writing DICOM needs an image read from a DICOM file", path)
    source_ds = info.dataset
    stored = restore(denormalise(image), info.padding, info.padding_values)
    spp = int(source_ds.get("SamplesPerPixel", 1))
    if stored.shape[-1] != spp or stored.ndim not in (3, 4):
        raise UserError(f"DICOM output needs {spp} channel(s), got shape {stored.shape}", path)
    if stored.ndim == 4 and stored.shape[0] > 1 and not info.multiframe:
        raise UserError("the DICOM source is single-frame; cannot write a stack into it", path)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = copy.deepcopy(source_ds)
        for _ in ds.iterall():  # decode raw elements now: the output encoding may differ
            pass
        if ds.original_encoding[1] is False:  # read as big endian; we write little endian
            _swap_to_little_endian(ds)
        for keyword in STALE_KEYWORDS:
            if keyword in ds:
                delattr(ds, keyword)
        _set_pixels(ds, stored, info.photometric)
        bits_stored = int(info.bits_stored or ds.BitsStored)
        ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
        _mark_derived(ds, image, generate_uid)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if "SOPClassUID" not in ds:
            ds.SOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        with atomic_write(path, image) as tmp:
            pydicom.dcmwrite(tmp, ds, enforce_file_format=True)


def _set_pixels(ds: Any, stored: np.ndarray, photometric: str) -> None:
    """Uncompressed native pixel data in the stored dtype, plus the Image Pixel module tags."""
    frames = stored.shape[0] if stored.ndim == 4 else None
    data = stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    if len(data) % 2:
        data += b"\x00"
    ds.PixelData = data
    ds["PixelData"].VR = "OB" if stored.dtype.itemsize == 1 else "OW"
    ds["PixelData"].is_undefined_length = False
    ds.Rows, ds.Columns = int(stored.shape[-3]), int(stored.shape[-2])
    ds.SamplesPerPixel = int(stored.shape[-1])
    ds.PhotometricInterpretation = photometric
    if stored.shape[-1] > 1:
        ds.PlanarConfiguration = 0
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = stored.dtype.itemsize * 8
    ds.PixelRepresentation = int(stored.dtype.kind == "i")


def _mark_derived(ds: Any, image: Image, generate_uid: Any) -> None:
    """New instance and series identity, ImageType DERIVED\\SECONDARY, a pointer to the source."""
    # meta.derivation names the process; meta.series_note (default "denoised") is appended
    # to the series description; with meta.uid_seed (a text naming this exact output, e.g.
    # noise spec + seed + file) the SOP Instance UID derives from it, so reruns give equal files.
    derivation = image.meta.derivation or "medenoise"
    uid_seed = image.meta.uid_seed
    from pydicom.dataset import Dataset

    old_sop_class = ds.get("SOPClassUID")
    old_sop_uid = ds.get("SOPInstanceUID")
    old_series = str(ds.get("SeriesInstanceUID", ""))
    # Same source series + same model -> same derived series, so slices stay together.
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[old_series, derivation, "medenoise"])
    if uid_seed is None:
        ds.SOPInstanceUID = generate_uid()
    else:
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(old_sop_uid), str(uid_seed), "sop"])
    image_type = list(ds.get("ImageType", []) or [])
    ds.ImageType = ["DERIVED", "SECONDARY", *[str(v) for v in image_type[2:]]]
    ds.DerivationDescription = str(derivation)[:1024]
    # Which values the processing saw as 0 and 1, next to any comment the source had.
    comments = str(ds.get("ImageComments", "") or "").strip()
    ranged = range_provenance(image.meta.scaling)
    ds.ImageComments = (f"{comments}; {ranged}" if comments else ranged)[:10240]
    description = str(ds.get("SeriesDescription", "") or "")
    note = image.meta.series_note or "denoised"
    ds.SeriesDescription = f"{description} {note}".strip()[:64]
    if old_sop_class and old_sop_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = old_sop_class
        ref.ReferencedSOPInstanceUID = old_sop_uid
        ds.SourceImageSequence = [ref]
