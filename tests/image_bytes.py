"""Image files as bytes, made in memory: PNG, TIFF, NIfTI and a minimal DICOM, whole or cut."""

from __future__ import annotations

import gzip
import io

import numpy as np


def png_bytes(array: np.ndarray) -> bytes:
    """A PNG of `array` (uint8/uint16 gray, RGB or RGBA)."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def tiff_bytes(array: np.ndarray, **kw) -> bytes:
    """A TIFF of `array`; `kw` goes to tifffile.imwrite (photometric, metadata, ...)."""
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **kw)
    return buf.getvalue()


def nifti_bytes(array: np.ndarray, gz: bool = True) -> bytes:
    """A NIfTI-1 volume of `array` with an identity affine, gzipped (reproducibly) by default."""
    import nibabel as nib

    img = nib.Nifti1Image(array, np.eye(4))
    raw = img.to_bytes()
    return gzip.compress(raw, mtime=0) if gz else raw


def dicom_bytes(
    array: np.ndarray,
    *,
    patient: str = "Doe^Jane",
    patient_id: str = "ID-0001",
    pixels: bool = True,
    syntax: str | None = None,
) -> bytes:
    """A minimal single-frame MONOCHROME2 CT-like DICOM (Explicit VR Little Endian)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["bad-inputs", patient])
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["bad-inputs-series", patient])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["bad-inputs-study", patient])
    ds.Modality = "CT"
    ds.PatientName = patient
    ds.PatientID = patient_id
    ds.Rows, ds.Columns = array.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    if pixels:
        ds.PixelData = array.astype("<u2").tobytes()
        if meta.TransferSyntaxUID.is_compressed:  # a fake compressed frame, encapsulated
            from pydicom.encaps import encapsulate

            ds.PixelData = encapsulate([ds.PixelData])
            ds["PixelData"].VR = "OB"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def truncated(data: bytes, fraction: float = 0.6) -> bytes:
    """The first `fraction` of `data`: a file cut short by a failed copy or download."""
    return data[: int(len(data) * fraction)]
