"""A corpus of bad (and borderline) inputs, generated on demand into a folder.

`write_corpus(root)` writes every file under `root` and returns one `Case` per input, each
saying what a careful tool does with it per command: refuse with an `error: <path>: ...` line
whose text contains `Case.error` (exit 2), or accept it (exit 0). Generated instead of
committed, so the repository holds no binary test files and each case documents how it was
made. Used by tests/test_bad_inputs.py; `python tests/bad_inputs.py DIR` writes the corpus
for a look by hand.
"""

from __future__ import annotations

import gzip
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COMMANDS = ("denoise", "noise", "evaluate", "train")
RNG_SEED = 0


@dataclass
class Case:
    """One bad input. `error`: text the error line must contain (None: the input is fine).
    `expect` overrides `error` per command; commands not in `commands` do not apply.
    `path`: the input argument; `blame`: paths the error line may name (default `path`; the
    model file always may). `pair`: the clean partner (evaluate --noisy, train --pairs).
    `model`: "mono", "rgb" (a 1- or 3-channel model; train --channels) or a path/name given
    as --model; `init`: train gets the model as --init. `out_file`: -o names an existing file.
    `chmod`: file mode to set before running (unreadable files). `note`: text that denoise
    and noise add must print on stderr for an accepted input."""

    name: str
    path: Path
    error: str | None
    why: str
    commands: tuple[str, ...] = COMMANDS
    expect: dict[str, str | None] = field(default_factory=dict)
    blame: tuple[Path, ...] = ()
    pair: Path | None = None
    model: str = "mono"
    init: bool = False
    out_file: bool = False
    chmod: int | None = None
    note: str | None = None

    def expected(self, command: str) -> str | None:
        return self.expect.get(command, self.error)


# --- makers -------------------------------------------------------------------------------


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def tiff_bytes(array: np.ndarray, **kw) -> bytes:
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **kw)
    return buf.getvalue()


def nifti_bytes(array: np.ndarray, gz: bool = True) -> bytes:
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
    return data[: int(len(data) * fraction)]


# --- the corpus ---------------------------------------------------------------------------


def write_corpus(root: str | Path) -> list[Case]:
    """Write the bad-input corpus under `root` (created) and return its cases."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(RNG_SEED)
    gray8 = rng.integers(0, 256, (48, 40), dtype=np.uint8)
    gray16 = rng.integers(0, 4096, (48, 40), dtype=np.uint16)
    cases: list[Case] = []

    def put(name: str, data: bytes | None = None) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        return path

    def case(name: str, path: Path, error: str | None, why: str, **kw) -> None:
        cases.append(Case(name, path, error, why, **kw))

    # empty and truncated files, one per format
    for suffix in (".png", ".tif", ".dcm", ".nii.gz"):
        case(
            f"empty{suffix}",
            put(f"empty{suffix}", b""),
            "empty (0 bytes)",
            "nothing to read",
        )
    case(
        "truncated.png",
        put("truncated.png", truncated(png_bytes(gray8))),
        "damaged or incomplete",
        "pixel data cut short",
    )
    case(
        "truncated.tif",
        put("truncated.tif", truncated(tiff_bytes(gray16, photometric="minisblack"))),
        "damaged or incomplete",
        "strip data cut short",
    )
    case(
        "truncated.dcm",
        put("truncated.dcm", truncated(dicom_bytes(gray16))),
        "damaged or incomplete",
        "pixel data cut short",
    )
    case(
        "truncated.nii.gz",
        put("truncated.nii.gz", truncated(nifti_bytes(gray16.astype(np.int16)[..., None]))),
        "damaged or incomplete",
        "gzip stream cut short",
    )
    case(
        "truncated.nii",
        put("truncated.nii", truncated(nifti_bytes(gray16.astype(np.int16)[..., None], False))),
        "damaged or incomplete",
        "voxel data cut short",
    )
    case(
        "text.png",
        put("text.png", b"this is a text file, not a picture\n" * 4),
        "not a PNG or JPEG image",
        "content does not match the suffix",
    )
    case(
        "text.tif",
        put("text.tif", b"II*\x00 this is not really a tiff\n" * 3),
        "damaged or incomplete",
        "TIFF magic followed by garbage",
    )
    case(
        "nopixels.dcm",
        put("nopixels.dcm", dicom_bytes(gray16, pixels=False)),
        "no integer pixel data",
        "a DICOM without an image (e.g. a structured report)",
    )
    case(
        "badsyntax.dcm",
        put("badsyntax.dcm", dicom_bytes(gray16, syntax="1.2.840.10008.1.2.4.100")),
        "transfer syntax",
        "MPEG-2 video has no decoder here",
    )
    # shapes
    case(
        "one_pixel.png",
        put("one_pixel.png", png_bytes(np.array([[77]], np.uint8))),
        None,
        "a 1x1 image is an image: it is padded to the network's size and cropped back",
        expect={"evaluate": "too small for SSIM"},
    )
    case(
        "one_wide.png",
        put("one_wide.png", png_bytes(rng.integers(0, 256, (40, 1), dtype=np.uint8))),
        None,
        "a 1-pixel-wide image is padded by edge replication and cropped back",
        expect={"evaluate": "too small for SSIM"},
    )
    case(
        "ten_by_ten.png",
        put("ten_by_ten.png", png_bytes(rng.integers(0, 256, (10, 10), dtype=np.uint8))),
        None,
        "small images are fine to denoise; SSIM's 11x11 window does not fit them",
        expect={"evaluate": "too small for SSIM"},
    )
    case(
        "five_d.tif",
        put(
            "five_d.tif",
            tiff_bytes(rng.integers(0, 4096, (1, 2, 2, 16, 16), dtype=np.uint16)),
        ),
        None,
        "a 5-D TIFF is a hyperstack: its non-image axes become a stack and come back as they were",
    )
    case(
        "five_d.nii.gz",
        put("five_d.nii.gz", nifti_bytes(np.zeros((8, 8, 2, 2, 2), np.int16))),
        "5-D NIfTI is not supported",
        "NIfTI 5-D holds vectors/tensors per voxel, not images",
    )
    # values
    nan = rng.random((32, 32), dtype=np.float32)
    nan[3, 4] = np.nan
    inf = rng.random((32, 32), dtype=np.float32)
    inf[5, 6] = np.inf
    case("nan.tif", put("nan.tif", tiff_bytes(nan)), "NaN or Inf", "NaN cannot be denoised")
    case("inf.tif", put("inf.tif", tiff_bytes(inf)), "NaN or Inf", "Inf cannot be denoised")
    case(
        "nan.nii.gz",
        put("nan.nii.gz", nifti_bytes(np.where(np.isfinite(nan), nan, np.nan)[..., None])),
        "NaN or Inf",
        "masked MRI often has NaN outside the brain: the user must choose a fill value",
    )
    case(
        "constant.png",
        put("constant.png", png_bytes(np.full((40, 40), 128, np.uint8))),
        None,
        "a flat image is valid (the result is flat too)",
    )
    case(
        "constant0.tif",
        put("constant0.tif", tiff_bytes(np.zeros((40, 40), np.float32))),
        None,
        "an all-zero float image is valid",
    )
    rgba = rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)
    case(
        "rgba.png",
        put("rgba.png", png_bytes(rgba)),
        None,
        "alpha is dropped with a note (RGB is denoised); mono models see the channel mean",
        model="rgb",
        note="alpha (transparency) channel ignored",
    )
    case(
        "int32.tif",
        put("int32.tif", tiff_bytes(rng.integers(0, 70000, (32, 32)).astype(np.int32))),
        "32-bit integer",
        "no nominal range to normalise by, and float32 cannot hold it exactly",
    )
    # pairs
    put("pairs/noisy/a.png", png_bytes(gray8))
    put("pairs/clean/a.png", png_bytes(gray8[:30, :30]))
    case(
        "pair_shape",
        root / "pairs/noisy",
        "differs from its",
        "a noisy image and its reference must have one shape",
        commands=("evaluate", "train"),
        pair=root / "pairs/clean",
        blame=(root / "pairs/noisy/a.png", root / "pairs/clean/a.png"),
    )
    put("pairs2/noisy/a.png", png_bytes(gray8))
    put("pairs2/noisy/b.png", png_bytes(gray8))
    put("pairs2/clean/a.png", png_bytes(gray8))
    case(
        "pair_missing",
        root / "pairs2/noisy",
        "no partner",
        "every noisy image needs its clean reference",
        commands=("evaluate", "train"),
        pair=root / "pairs2/clean",
        blame=(root / "pairs2/noisy/b.png",),
    )
    # folders and files in the wrong places
    empty = root / "empty_folder"
    empty.mkdir(exist_ok=True)
    case("empty_folder", empty, "no supported images", "nothing to do is an error")
    put("notes/readme.txt", b"no images here")
    case(
        "folder_without_images",
        root / "notes",
        "no supported images",
        "non-image files are ignored, and then nothing is left",
    )
    good = put("good.png", png_bytes(gray8))
    model_dir = root / "model_dir.safetensors"
    model_dir.mkdir(exist_ok=True)
    case(
        "model_is_a_folder",
        good,
        "is a folder, not a model file",
        "a directory where the model file was expected",
        commands=("denoise", "evaluate", "train"),
        model=str(model_dir),
        init=True,
        blame=(model_dir,),
    )
    case(
        "out_is_a_file",
        good,
        "is a file, not a folder",
        "-o must name a folder",
        commands=("denoise", "noise", "train"),
        out_file=True,
    )
    case(
        "unreadable.png",
        put("unreadable.png", png_bytes(gray8)),
        "permission denied",
        "no read permission (skipped when running as root)",
        chmod=0,
    )
    # models
    case(
        "no_such_model",
        good,
        "model file not found",
        "a typo in --model",
        commands=("denoise", "evaluate", "train"),
        model="no-such-model",
        init=True,
        blame=(Path("no-such-model"),),
    )
    case(
        "model_channels",
        good,
        "channel",
        "an RGB model on a gray image: denoise refuses, evaluate scores the gray image as RGB "
        "(three equal channels), train --init refuses a model of other channels",
        commands=("denoise", "evaluate", "train"),
        model="rgb",
        init=True,
        expect={"evaluate": None},
    )
    return cases


if __name__ == "__main__":  # write the corpus for a look by hand
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs")
    for c in write_corpus(target):
        print(f"{c.name:24} {c.error or 'accepted':32} {c.why}")
